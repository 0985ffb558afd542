/*  outbox_store - the SQL of the outbox. See outbox_store.h. */
#include "outbox_store.h"

#include "log.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_NEXT_ID, S_INSERT, S_CLAIM, S_SENT, S_RETRY, S_DEAD, S_COUNT } s_stmt_id_t;

static const db_stmt_t s_stmts[S_COUNT] = {
    {"outbox_next_id", "SELECT nextval(pg_get_serial_sequence('flow.outbox', 'id'))", 0, DB_STMT_WRITE},
    {"outbox_insert",
     "INSERT INTO flow.outbox (id, kind, execution_id, hook, payload) "
     "VALUES ($1::bigint, $2, NULLIF($3::bigint, 0), $4, $5)",
     5, DB_STMT_WRITE},
    {"outbox_claim",
     "SELECT id, kind, hook, payload, attempts FROM flow.outbox "
     "WHERE status = 'pending' AND next_attempt_at <= now() "
     "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
     0, DB_STMT_WRITE},
    {"outbox_sent",
     "UPDATE flow.outbox SET status = 'sent', payload = NULL, sent_at = now(), attempts = attempts + 1, "
     "last_error = NULL WHERE id = $1::bigint",
     1, DB_STMT_WRITE},
    {"outbox_retry",
     "UPDATE flow.outbox SET attempts = attempts + 1, last_error = $3, "
     "next_attempt_at = now() + make_interval(secs => $2::int) WHERE id = $1::bigint",
     3, DB_STMT_WRITE},
    {"outbox_dead",
     "UPDATE flow.outbox SET status = 'dead', payload = NULL, attempts = attempts + 1, last_error = $2 "
     "WHERE id = $1::bigint",
     2, DB_STMT_WRITE},
};

//  Which statements this thread has prepared on its connection. A thread
//  keeps one db_t for its whole life (a service worker, the delivery
//  thread), so the pointer names the connection; db_t prepares them again
//  after a reconnect.
static _Thread_local struct {
    db_t *db;
    unsigned char done[S_COUNT];
} s_tl;

static int
s_prepare (db_t *db, s_stmt_id_t id)
{
    if (s_tl.db != db) {
        s_tl.db = db;
        memset (s_tl.done, 0, sizeof s_tl.done);
    }
    if (s_tl.done[id])
        return 0;
    if (db_prepare_stmt (db, &s_stmts[id]) != 0)
        return -1;
    s_tl.done[id] = 1;
    return 0;
}

static db_status_t
s_exec (db_t *db, s_stmt_id_t id, const char *const *params, PGresult **res)
{
    if (res)
        *res = NULL;
    if (!db || s_prepare (db, id) != 0)
        return DB_ERROR;
    return db_exec_logged (db, s_stmts[id].name, s_stmts[id].nparams, params, res);
}

//  A statement whose result is not read.
static db_status_t
s_run (db_t *db, s_stmt_id_t id, const char *const *params)
{
    PGresult *res = NULL;
    db_status_t st = s_exec (db, id, params, &res);
    PQclear (res);
    return st;
}

static void
s_id_text (int64_t id, char out[24])
{
    snprintf (out, 24, "%" PRId64, id);
}

void
outbox_row_clear (outbox_row_t *row)
{
    if (!row)
        return;
    free (row->payload);
    memset (row, 0, sizeof *row);
}

db_status_t
outbox_store_next_id (db_t *db, int64_t *id)
{
    *id = 0;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, S_NEXT_ID, NULL, &res);
    if (st == DB_OK)
        *id = PQntuples (res) == 1 ? strtoll (PQgetvalue (res, 0, 0), NULL, 10) : 0;
    PQclear (res);
    return st == DB_OK && *id <= 0 ? DB_ERROR : st;
}

db_status_t
outbox_store_insert (db_t *db, int64_t id, const char *kind, int64_t execution_id, const char *hook,
                     const char *sealed)
{
    char idtext[24], exectext[24];
    s_id_text (id, idtext);
    s_id_text (execution_id > 0 ? execution_id : 0, exectext);
    const char *params[] = {idtext, kind, exectext, hook, sealed};
    return s_run (db, S_INSERT, params);
}

db_status_t
outbox_store_claim (db_t *db, outbox_row_t *row)
{
    memset (row, 0, sizeof *row);
    PGresult *res = NULL;
    db_status_t st = s_exec (db, S_CLAIM, NULL, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    if (st == DB_OK) {
        row->id = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
        snprintf (row->kind, sizeof row->kind, "%s", PQgetvalue (res, 0, 1));
        snprintf (row->hook, sizeof row->hook, "%s", PQgetvalue (res, 0, 2));
        row->attempts = strtol (PQgetvalue (res, 0, 4), NULL, 10);
        row->payload = strdup (PQgetvalue (res, 0, 3));
        if (!row->payload)
            st = DB_ERROR;
    }
    PQclear (res);
    return st;
}

db_status_t
outbox_store_sent (db_t *db, int64_t id)
{
    char idtext[24];
    s_id_text (id, idtext);
    const char *params[] = {idtext};
    return s_run (db, S_SENT, params);
}

db_status_t
outbox_store_retry (db_t *db, int64_t id, long delay_s, const char *reason)
{
    char idtext[24], secs[24];
    s_id_text (id, idtext);
    snprintf (secs, sizeof secs, "%ld", delay_s);
    const char *params[] = {idtext, secs, reason};
    return s_run (db, S_RETRY, params);
}

db_status_t
outbox_store_dead (db_t *db, int64_t id, const char *reason)
{
    char idtext[24];
    s_id_text (id, idtext);
    const char *params[] = {idtext, reason};
    return s_run (db, S_DEAD, params);
}
