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

//  One batch of kind: token_store_janitor_kinds () kinds of rows, then the
//  audit trail (past OSTIARY_AUDIT_RETENTION_DAYS) as the last kind.
static db_status_t
s_batch (db_t *db, int kind, void *arg, long *deleted)
{
    token_janitor_t *self = arg;
    int n = 0;
    db_status_t st = kind == token_store_janitor_kinds ()
                         ? token_store_audit_purge (db, self->audit_days, self->batch, &n)
                         : token_store_janitor_purge (db, kind, self->batch, self->max_s, self->idle_s, &n);
    *deleted = n;
    return st;
}

//  One round on db: take the advisory lock or leave the round to the
//  replica that holds it; work the backlog off, every kind in turn, at
//  most OSTIARY_JANITOR_DUTY % of the time (housekeeper_work_off); release.
static db_status_t
s_round (db_t *db, void *arg)
{
    token_janitor_t *self = arg;
    int got = 0;
    db_status_t st = token_store_janitor_lock (db, 1, &got);
    if (st != DB_OK || !got)
        return st;
    int kinds = token_store_janitor_kinds () + 1;
    if (kinds > HOUSEKEEPER_KINDS_MAX)
        kinds = HOUSEKEEPER_KINDS_MAX;
    long done[HOUSEKEEPER_KINDS_MAX] = {0};
    long long start = s_now_us (), busy_us = 0;
    st = housekeeper_work_off (db, kinds, s_batch, self, self->batch, self->duty, done, &busy_us);
    int released = 0;
    if (token_store_janitor_lock (db, 0, &released) != DB_OK || !released)
        log_warn ("janitor: the advisory lock was not released (it goes with the connection)");
    long total = 0;
    for (int k = 0; k < kinds; k++) {
        total += done[k];
        if (done[k] > 0)
            log_info ("janitor: %ld %s row(s) deleted", done[k],
                      k == token_store_janitor_kinds () ? "audit_events" : token_store_janitor_kind_name (k));
    }
    if (total > 0) {
        double s = (double)(s_now_us () - start) / 1e6;
        log_info ("janitor: %ld expired row(s) deleted in %.1f s (%.0f rows/s, busy %.1f s)", total, s,
                  s > 0 ? (double)total / s : 0.0, (double)busy_us / 1e6);
    }
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
