/*  janitor - token-svc's housekeeping thread. See janitor.h. */
#include "janitor.h"

#include "housekeeper.h"
#include "log.h"
#include "token_store.h"

#include <stdlib.h>

//  Batches per table per round at most: a backlog is worked off over a few
//  rounds rather than in one long burst.
#define ROUND_BATCHES_MAX 20

struct _token_janitor_t {
    long batch;
    long max_s;
    long idle_s;
    long audit_days;
    housekeeper_t *thread;
};

//  One round on db: take the advisory lock or leave the round to the
//  replica that holds it, delete batch by batch, release.
static db_status_t
s_round (db_t *db, void *arg)
{
    token_janitor_t *self = arg;
    int got = 0;
    db_status_t st = token_store_janitor_lock (db, 1, &got);
    if (st != DB_OK || !got)
        return st;
    int total = 0;
    for (int i = 0; i < ROUND_BATCHES_MAX && st == DB_OK; i++) {
        int deleted = 0;
        st = token_store_janitor_purge (db, self->batch, self->max_s, self->idle_s, &deleted);
        total += deleted;
        //  Each statement deletes at most batch rows; fewer across all five
        //  kinds means every table is done.
        if (deleted < self->batch)
            break;
    }
    //  Audit events past OSTIARY_AUDIT_RETENTION_DAYS, batch by batch.
    for (int i = 0; i < ROUND_BATCHES_MAX && st == DB_OK; i++) {
        int deleted = 0;
        st = token_store_audit_purge (db, self->audit_days, self->batch, &deleted);
        total += deleted;
        if (deleted < self->batch)
            break;
    }
    int released = 0;
    if (token_store_janitor_lock (db, 0, &released) != DB_OK || !released)
        log_warn ("janitor: the advisory lock was not released (it goes with the connection)");
    if (total > 0)
        log_info ("janitor: %d expired row(s) deleted", total);
    return st;
}

token_janitor_t *
token_janitor_new (const config_t *cfg)
{
    token_janitor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->batch = cfg->janitor_batch;
    self->max_s = cfg->refresh_max_lifetime;
    self->idle_s = cfg->refresh_idle_timeout;
    self->audit_days = cfg->audit_retention_days;
    housekeeper_cfg_t hk = {.name = "janitor",
                            .conninfo = cfg->db,
                            .interval_s = cfg->janitor_interval,
                            .prepare = token_store_prepare,
                            .round = s_round,
                            .arg = self};
    self->thread = housekeeper_new (&hk);
    if (!self->thread) {
        free (self);
        return NULL;
    }
    return self;
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
