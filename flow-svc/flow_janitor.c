/*  flow_janitor - see flow_janitor.h. */
#include "flow_janitor.h"

#include "flow_store.h"
#include "housekeeper.h"
#include "lockout_store.h"
#include "log.h"
#include "sessions.h"

#include <stdlib.h>

struct _flow_janitor_t {
    const flow_app_t *app;
    long batch;
    long duty;
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

//  The kinds of a round, each worked in batches: executions that expired
//  marked so, expired sessions' clients told, expired action tokens
//  deleted, then flow_store_janitor_kinds () kinds of finished rows past
//  their retention, then the audit trail (past
//  OSTIARY_AUDIT_RETENTION_DAYS).
enum { S_EXPIRE, S_SESSIONS, S_ACTIONS, S_PURGES };

static const char *
s_kind_name (int kind)
{
    if (kind == S_EXPIRE)
        return "expired execution(s) marked";
    if (kind == S_SESSIONS)
        return "expired session(s) told (back-channel logouts queued)";
    if (kind == S_ACTIONS)
        return "expired action token(s) deleted";
    if (kind < S_PURGES + flow_store_janitor_kinds ())
        return flow_store_janitor_kind_name (kind - S_PURGES);
    return "audit event(s) past their retention deleted";
}

typedef struct {
    flow_janitor_t *self;
    long logouts; //  back-channel logouts queued
} s_round_t;

static db_status_t
s_batch (db_t *db, int kind, void *arg, long *done)
{
    s_round_t *r = arg;
    flow_janitor_t *self = r->self;
    if (kind == S_EXPIRE)
        return flow_store_exec_expire (db, self->batch, done);
    if (kind == S_SESSIONS) {
        long queued = 0;
        db_status_t st = s_expire_sessions (self, db, done, &queued);
        r->logouts += queued;
        return st;
    }
    if (kind == S_ACTIONS)
        return flow_store_action_sweep (db, self->batch, done);
    if (kind < S_PURGES + flow_store_janitor_kinds ())
        return flow_store_janitor_purge (db, kind - S_PURGES, self->batch, self->retention, done);
    int n = 0;
    db_status_t st = lockout_store_audit_purge (db, self->audit_days, self->batch, &n);
    *done = n;
    return st;
}

//  One round on db: take the advisory lock or leave the round to the
//  replica that holds it; work every kind off in turn, at most
//  OSTIARY_JANITOR_DUTY % of the time (housekeeper_work_off); release.
//  An execution is marked expired before its retention starts counting,
//  and a session is purged only once its clients were told.
static db_status_t
s_round (db_t *db, void *arg)
{
    flow_janitor_t *self = arg;
    int got = 0;
    db_status_t st = flow_store_janitor_lock (db, 1, &got);
    if (st != DB_OK || !got)
        return st;
    int kinds = S_PURGES + flow_store_janitor_kinds () + 1;
    if (kinds > HOUSEKEEPER_KINDS_MAX)
        kinds = HOUSEKEEPER_KINDS_MAX;
    long done[HOUSEKEEPER_KINDS_MAX] = {0};
    s_round_t r = {.self = self};
    st = housekeeper_work_off (db, kinds, s_batch, &r, self->batch, self->duty, done, NULL);
    int released = 0;
    if (flow_store_janitor_lock (db, 0, &released) != DB_OK || !released)
        log_warn ("flow janitor: the advisory lock was not released (it goes with the connection)");
    for (int k = 0; k < kinds; k++)
        if (done[k] > 0) {
            if (k == S_SESSIONS)
                log_info ("flow janitor: %ld expired session(s), %ld back-channel logout(s) queued", done[k],
                          r.logouts);
            else if (k >= S_PURGES && k < S_PURGES + flow_store_janitor_kinds ())
                log_info ("flow janitor: %ld %s row(s) deleted", done[k], s_kind_name (k));
            else
                log_info ("flow janitor: %ld %s", done[k], s_kind_name (k));
        }
    return st;
}

//  The janitor's connection plans its statements once for all values
//  (generic plans): each purge then walks its index in order whatever the
//  statistics say about how many rows are old.
static int
s_prepare (db_t *db)
{
    if (db_exec_sql (db, "SET plan_cache_mode = force_generic_plan") != DB_OK)
        return -1;
    return flow_store_prepare (db);
}

flow_janitor_t *
flow_janitor_new (const config_t *cfg, const flow_app_t *app)
{
    flow_janitor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->app = app;
    self->batch = cfg->janitor_batch;
    self->duty = cfg->janitor_duty;
    self->audit_days = cfg->audit_retention_days;
    self->retention = cfg->flow_retention;
    housekeeper_cfg_t hk = {.name = "flow janitor",
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
