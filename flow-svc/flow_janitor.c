/*  flow_janitor - see flow_janitor.h. */
#include "flow_janitor.h"

#include "flow_store.h"
#include "housekeeper.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

//  Batches per kind per round at most: a backlog is worked off over a few
//  rounds rather than in one long burst.
#define ROUND_BATCHES_MAX 20

//  $1: rows per statement, $2: retention in seconds. Each deletes a batch
//  chosen by the primary key, so locks stay short; SKIP LOCKED leaves a row
//  a request is working on to the next round.
static const db_stmt_t s_stmts[] = {
    {"flow_janitor_lock", "SELECT pg_try_advisory_lock(hashtext('ostiary.flow.janitor'))", 0, DB_STMT_WRITE},
    {"flow_janitor_unlock", "SELECT pg_advisory_unlock(hashtext('ostiary.flow.janitor'))", 0, DB_STMT_WRITE},
    {"flow_purge_executions",
     "DELETE FROM flow.executions WHERE id IN (SELECT id FROM flow.executions"
     " WHERE status IN ('succeeded', 'failed', 'expired') AND expires_at <= now()"
     " AND updated_at < now() - make_interval(secs => $2::double precision)"
     " LIMIT $1::integer FOR UPDATE SKIP LOCKED)",
     2, DB_STMT_WRITE},
    {"flow_purge_sessions",
     "DELETE FROM flow.sessions WHERE sid IN (SELECT sid FROM flow.sessions"
     " WHERE least(expires_at, coalesce(revoked_at, expires_at)) < now() - make_interval(secs => "
     "$2::double precision)"
     " LIMIT $1::integer FOR UPDATE SKIP LOCKED)",
     2, DB_STMT_WRITE},
    {"flow_purge_outbox",
     "DELETE FROM flow.outbox WHERE id IN (SELECT id FROM flow.outbox WHERE status IN ('sent', 'dead')"
     " AND coalesce(sent_at, created_at) < now() - make_interval(secs => $2::double precision)"
     " LIMIT $1::integer FOR UPDATE SKIP LOCKED)",
     2, DB_STMT_WRITE},
};
enum { STMT_LOCK, STMT_UNLOCK, STMT_PURGE_FIRST };
#define NSTMTS (sizeof s_stmts / sizeof s_stmts[0])

struct _flow_janitor_t {
    char batch[24];
    char retention[24];
    housekeeper_t *thread;
};

static int
s_prepare (db_t *db)
{
    //  The expiry statements are flow_store's (flow.start ran them before).
    if (flow_store_prepare (db) != 0)
        return -1;
    return db_prepare_all (db, s_stmts, NSTMTS);
}

static db_status_t
s_lock (db_t *db, size_t stmt, int *got)
{
    PGresult *res = NULL;
    db_status_t st = db_exec_logged (db, s_stmts[stmt].name, 0, NULL, &res);
    *got = st == DB_OK && PQntuples (res) == 1 && PQgetvalue (res, 0, 0)[0] == 't';
    PQclear (res);
    return st;
}

//  One statement of s_stmts; *count: the rows it deleted.
static db_status_t
s_purge (flow_janitor_t *self, db_t *db, size_t stmt, long *count)
{
    const char *params[] = {self->batch, self->retention};
    PGresult *res = NULL;
    db_status_t st = db_exec_logged (db, s_stmts[stmt].name, 2, params, &res);
    *count = st == DB_OK ? atol (PQcmdTuples (res)) : 0;
    PQclear (res);
    return st;
}

static db_status_t
s_round (db_t *db, void *arg)
{
    flow_janitor_t *self = arg;
    int got = 0;
    db_status_t st = s_lock (db, STMT_LOCK, &got);
    if (st != DB_OK || !got)
        return st;
    long expired = 0, tokens = 0, deleted = 0;
    for (int i = 0; i < ROUND_BATCHES_MAX && st == DB_OK; i++) {
        long n = 0, more = 0;
        //  Expiry first: an execution must be `expired` before its
        //  retention starts counting.
        st = flow_store_exec_expire (db, &n);
        expired += n;
        more += n;
        if (st == DB_OK) {
            st = flow_store_action_sweep (db, &n);
            tokens += n;
            more += n;
        }
        for (size_t k = STMT_PURGE_FIRST; k < NSTMTS && st == DB_OK; k++) {
            st = s_purge (self, db, k, &n);
            deleted += n;
            more += n;
        }
        //  Nothing left anywhere: the round is done.
        if (more == 0)
            break;
    }
    int released = 0;
    if (s_lock (db, STMT_UNLOCK, &released) != DB_OK || !released)
        log_warn ("flow janitor: the advisory lock was not released (it goes with the connection)");
    if (expired || tokens || deleted)
        log_info (
            "flow janitor: %ld execution(s) expired, %ld action token(s) and %ld finished row(s) deleted",
            expired, tokens, deleted);
    return st;
}

flow_janitor_t *
flow_janitor_new (const config_t *cfg)
{
    flow_janitor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->batch, sizeof self->batch, "%ld", cfg->janitor_batch);
    snprintf (self->retention, sizeof self->retention, "%ld", cfg->flow_retention);
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

void
flow_janitor_destroy (flow_janitor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    housekeeper_destroy (&(*self_p)->thread);
    free (*self_p);
    *self_p = NULL;
}
