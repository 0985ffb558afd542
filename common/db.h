/*  db - one libpq connection owned by one thread, with named prepared
 *  statements and SQLSTATE mapped to the small status set services use.
 *  SQL text lives in each service's <svc>_store.c; nothing else sees SQL. */
#ifndef OST_DB_H
#define OST_DB_H

#include "ost.h"
#include <libpq-fe.h>

typedef enum {
    DB_OK = 0,      //  the statement ran (rows may be zero)
    DB_NOT_FOUND,   //  a single-row lookup found nothing (set by callers)
    DB_CONFLICT,    //  23xxx integrity violation (unique, foreign key, check)
    DB_RETRY,       //  40001 serialization failure, 40P01 deadlock: safe to retry the transaction
    DB_UNAVAILABLE, //  connection lost, 08xxx, 57Pxx, 53xxx: the database is not usable now
    DB_ERROR,       //  anything else: a bug or bad data; logged with the request id
} db_status_t;

typedef struct _db_t db_t;

//  Connects with conninfo (never logged: it may hold a password).
//  NULL on failure, with the reason logged.
OST_WUR db_t *db_new (const char *conninfo);
void db_destroy (db_t **self_p);
PGconn *db_conn (db_t *self);

//  What a statement may do, declared once with its SQL (the statement tables
//  of the stores): the one place where a statement is known read-only.
//  DB_STMT_READ is for a statement that changes nothing and takes nothing
//  (no INSERT/UPDATE/DELETE, sequence, lock, set_config or other function
//  with an effect): when the link drops under it outside a transaction,
//  db_exec reconnects and runs it once more. Anything else is DB_STMT_WRITE,
//  never run twice (see db.c).
typedef enum {
    DB_STMT_WRITE = 0,
    DB_STMT_READ,
} db_access_t;

//  One entry of a service's statement table (the SQL of <svc>_store.c).
typedef struct {
    const char *name;
    const char *sql;
    int nparams;
    db_access_t access;
} db_stmt_t;

//  Registers a statement to be prepared now and again after every reconnect.
//  stmt->name must be a string literal or otherwise outlive the db (the SQL
//  is copied). 0 ok, -1 failure (a bad entry, a name prepared already, or
//  SQL the server refuses).
OST_WUR int db_prepare_stmt (db_t *self, const db_stmt_t *stmt);
//  db_prepare_stmt of a DB_STMT_WRITE statement.
OST_WUR int db_prepare (db_t *self, const char *name, const char *sql, int nparams);
//  db_prepare_stmt for every entry of a table, in order; stops at the first
//  failure. 0 ok, -1 failure.
OST_WUR int db_prepare_all (db_t *self, const db_stmt_t *stmts, size_t count);
//  Runs a prepared statement with text parameters (NULL = SQL NULL).
//  *result receives the PGresult on DB_OK (PQclear it), NULL otherwise.
//  Before it runs, an idle connection the server has closed (a restart, a
//  terminated backend: db_check) is opened again with every statement
//  prepared again, so the first statement after an outage does not fail.
//  When the link drops under the statement itself, outside a transaction:
//  a DB_STMT_READ statement is run once more on a new connection; any other
//  returns DB_UNAVAILABLE and is not re-run (the server may have committed
//  it), and the next call runs on the new connection. A connection lost
//  inside a transaction makes every call return DB_UNAVAILABLE until the
//  caller sends ROLLBACK (or BEGIN) through db_exec_sql, so no half of a
//  transaction runs in autocommit.
OST_WUR db_status_t db_exec (db_t *self, const char *name, int nparams, const char *const *params,
                             PGresult **result);
//  db_exec that also logs "NAME: STATUS" at error level when the status is
//  not DB_OK: the stores' one line of context for a failed statement.
OST_WUR db_status_t db_exec_logged (db_t *self, const char *name, int nparams, const char *const *params,
                                    PGresult **result);
//  Whether the connection can be used now, without running a statement: a
//  zero-timeout look at the socket finds a connection the server closed or
//  ended with a FATAL message while it was idle, which is then opened again
//  (statements prepared again). DB_OK when usable, DB_UNAVAILABLE when the
//  server cannot be reached (each call tries again), or while a transaction
//  lost with the link has not been ended. A link that vanished without a
//  word (no FIN, no RST) is not seen here; the next statement finds it.
OST_WUR db_status_t db_check (db_t *self);
//  Runs plain SQL without parameters (BEGIN, COMMIT, ROLLBACK, migrations).
OST_WUR db_status_t db_exec_sql (db_t *self, const char *sql);
//  A transaction of the caller's statements: BEGIN, COMMIT, and ROLLBACK
//  (which logs a warning when it fails: nothing is left for the caller to do).
OST_WUR db_status_t db_begin (db_t *self);
OST_WUR db_status_t db_commit (db_t *self);
void db_rollback (db_t *self);
//  "\x" and the 2*len lowercase hex digits of buf, as PostgreSQL reads a
//  bytea text parameter; out holds 2*len + 3 bytes.
void db_bytea_text (const unsigned char *buf, size_t len, char *out);
//  Maps a SQLSTATE (5 characters, or NULL) to a status.
db_status_t db_status_from_sqlstate (const char *sqlstate);
const char *db_status_name (db_status_t status);

#endif
