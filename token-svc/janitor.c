/*  janitor - token-svc's housekeeping thread. See janitor.h. */
#include "janitor.h"

#include "housekeeper.h"
#include "log.h"
#include "token_store.h"

#include <stdlib.h>
#include <time.h>

struct _token_janitor_t {
    long batch;
    long duty;
    long max_s;
    long idle_s;
    long audit_days;
    housekeeper_t *thread;
};

static long long
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  Runs purge (one kind of row: kind, or the audit trail for -1) batch
//  after batch while they come back full, pausing after each so that the
//  janitor takes at most duty % of the time: a backlog goes at the pace the
//  machine can spare, however large it is. *total grows by what was
//  deleted; *stop is set when the housekeeper is stopping.
static db_status_t
s_purge_kind (token_janitor_t *self, db_t *db, int kind, long *total, int *stop)
{
    db_status_t st = DB_OK;
    long kind_total = 0;
    long long busy_us = 0, start = s_now_us ();
    while (st == DB_OK) {
        long long t0 = s_now_us ();
        int deleted = 0;
        st = kind < 0
                 ? token_store_audit_purge (db, self->audit_days, self->batch, &deleted)
                 : token_store_janitor_purge (db, kind, self->batch, self->max_s, self->idle_s, &deleted);
        long long took = s_now_us () - t0;
        busy_us += took;
        kind_total += deleted;
        if (deleted < self->batch)
            break;
        //  Rounded up to whole milliseconds: at least 1 ms between batches.
        long pause_ms = (long)((took * (100 - self->duty) / self->duty + 999) / 1000);
        if (housekeeper_pause (pause_ms) != 0) {
            *stop = 1;
            break;
        }
    }
    if (kind_total > 0) {
        double s = (double)(s_now_us () - start) / 1e6;
        log_info ("janitor: %ld %s row(s) deleted in %.1f s (%.0f rows/s, busy %.1f s)", kind_total,
                  kind < 0 ? "audit_events" : token_store_janitor_kind_name (kind), s,
                  s > 0 ? (double)kind_total / s : 0.0, (double)busy_us / 1e6);
    }
    *total += kind_total;
    return st;
}

//  One round on db: take the advisory lock or leave the round to the
//  replica that holds it, purge each kind until it has nothing left,
//  release.
static db_status_t
s_round (db_t *db, void *arg)
{
    token_janitor_t *self = arg;
    int got = 0;
    db_status_t st = token_store_janitor_lock (db, 1, &got);
    if (st != DB_OK || !got)
        return st;
    long total = 0;
    int stop = 0;
    //  Kind by kind, then audit events past OSTIARY_AUDIT_RETENTION_DAYS.
    for (int kind = 0; kind < token_store_janitor_kinds () && st == DB_OK && !stop; kind++)
        st = s_purge_kind (self, db, kind, &total, &stop);
    if (st == DB_OK && !stop)
        st = s_purge_kind (self, db, -1, &total, &stop);
    int released = 0;
    if (token_store_janitor_lock (db, 0, &released) != DB_OK || !released)
        log_warn ("janitor: the advisory lock was not released (it goes with the connection)");
    if (total > 0)
        log_info ("janitor: %ld expired row(s) deleted", total);
    return st;
}

//  The janitor's connection plans its purges once for all values
//  (generic plans): each one then walks its index in order whatever the
//  statistics say about how many rows are old, and a batch costs what it
//  deletes.
static int
s_prepare (db_t *db)
{
    if (db_exec_sql (db, "SET plan_cache_mode = force_generic_plan") != DB_OK)
        return -1;
    return token_store_prepare (db);
}

token_janitor_t *
token_janitor_new (const config_t *cfg)
{
    token_janitor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->batch = cfg->janitor_batch;
    self->duty = cfg->janitor_duty;
    self->max_s = cfg->refresh_max_lifetime;
    self->idle_s = cfg->refresh_idle_timeout;
    self->audit_days = cfg->audit_retention_days;
    housekeeper_cfg_t hk = {.name = "janitor",
                            .conninfo = cfg->db,
                            .interval_s = cfg->janitor_interval,
                            .prepare = s_prepare,
                            .round = s_round,
                            .arg = self};
    self->thread = housekeeper_new (&hk);
    if (!self->thread) {
        free (self);
        return NULL;
    }
    return self;
}

long
token_janitor_rounds (token_janitor_t *self)
{
    return housekeeper_rounds (self->thread);
}

void
token_janitor_destroy (token_janitor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    housekeeper_destroy (&(*self_p)->thread);
    free (*self_p);
    *self_p = NULL;
}
