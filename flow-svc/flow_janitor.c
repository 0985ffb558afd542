/*  flow_janitor - see flow_janitor.h. */
#include "flow_janitor.h"

#include "flow_store.h"
#include "housekeeper.h"
#include "lockout_store.h"
#include "log.h"
#include "sessions.h"

#include <stdlib.h>

//  Batches per kind per round at most: a backlog is worked off over a few
//  rounds rather than in one long burst.
#define ROUND_BATCHES_MAX 20

struct _flow_janitor_t {
    const flow_app_t *app;
    long batch;
    long retention;
    long audit_days;
    housekeeper_t *thread;
};

//  Back-Channel Logout 1.0 §2.5 for sessions that ended on their own: one
//  transaction marks up to batch expired sessions told and queues the
//  logout of each client they served, so a round that stops halfway (a
//  crash, a lost connection) has queued each session's logouts entirely or
//  not at all, and the next round never queues them twice. *sessions and
//  *queued: what this batch marked and queued.
static db_status_t
s_expire_sessions (flow_janitor_t *self, db_t *db, long *sessions, long *queued)
{
    *sessions = 0;
    *queued = 0;
    json_t *ended = NULL;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = flow_store_session_expire (db, self->batch, &ended);
    if (st == DB_OK)
        st = sessions_ended (db, self->app, ended, "expired", queued);
    if (st == DB_OK)
        st = db_commit (db);
    else
        db_rollback (db);
    if (st == DB_OK)
        *sessions = (long)json_array_size (ended);
    else
        *queued = 0;
    json_decref (ended);
    return st;
}

static db_status_t
s_round (db_t *db, void *arg)
{
    flow_janitor_t *self = arg;
    int got = 0;
    db_status_t st = flow_store_janitor_lock (db, 1, &got);
    if (st != DB_OK || !got)
        return st;
    long expired = 0, tokens = 0, deleted = 0, sessions = 0, logouts = 0;
    for (int i = 0; i < ROUND_BATCHES_MAX && st == DB_OK; i++) {
        long n = 0, more = 0;
        //  Expiry first: an execution must be `expired` before its
        //  retention starts counting, and a session's clients told before
        //  it may be purged.
        st = flow_store_exec_expire (db, &n);
        expired += n;
        more += n;
        if (st == DB_OK) {
            long q = 0;
            st = s_expire_sessions (self, db, &n, &q);
            sessions += n;
            logouts += q;
            more += n;
        }
        if (st == DB_OK) {
            st = flow_store_action_sweep (db, &n);
            tokens += n;
            more += n;
        }
        if (st == DB_OK) {
            st = flow_store_janitor_purge (db, self->batch, self->retention, &n);
            deleted += n;
            more += n;
        }
        //  Nothing left anywhere: the round is done.
        if (more == 0)
            break;
    }
    //  Audit events past OSTIARY_AUDIT_RETENTION_DAYS, batch by batch.
    long audit = 0;
    for (int i = 0; i < ROUND_BATCHES_MAX && st == DB_OK; i++) {
        int n = 0;
        st = lockout_store_audit_purge (db, self->audit_days, self->batch, &n);
        audit += n;
        if (n < self->batch)
            break;
    }
    if (audit)
        log_info ("flow janitor: %ld audit event(s) past their retention deleted", audit);
    int released = 0;
    if (flow_store_janitor_lock (db, 0, &released) != DB_OK || !released)
        log_warn ("flow janitor: the advisory lock was not released (it goes with the connection)");
    if (sessions)
        log_info ("flow janitor: %ld expired session(s), %ld back-channel logout(s) queued", sessions,
                  logouts);
    if (expired || tokens || deleted)
        log_info (
            "flow janitor: %ld execution(s) expired, %ld action token(s) and %ld finished row(s) deleted",
            expired, tokens, deleted);
    return st;
}

flow_janitor_t *
flow_janitor_new (const config_t *cfg, const flow_app_t *app)
{
    flow_janitor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->app = app;
    self->batch = cfg->janitor_batch;
    self->audit_days = cfg->audit_retention_days;
    self->retention = cfg->flow_retention;
    housekeeper_cfg_t hk = {.name = "flow janitor",
                            .conninfo = cfg->db,
                            .interval_s = cfg->janitor_interval,
                            .prepare = flow_store_prepare, //  every statement of a round is flow_store's
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
flow_janitor_rounds (flow_janitor_t *self)
{
    return self ? housekeeper_rounds (self->thread) : 0;
}

void
flow_janitor_destroy (flow_janitor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    housekeeper_destroy (&(*self_p)->thread);
    free (*self_p);
    *self_p = NULL;
}
