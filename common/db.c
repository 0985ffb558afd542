/*  db - one libpq connection owned by one thread, with named prepared
 *  statements and SQLSTATE mapped to the small status set services use.
 *
 *  Reconnection. Before every statement, an idle connection is looked at
 *  without waiting (db_check): the server writes a FATAL message and closes
 *  the socket when it stops (pg_ctl -m fast) or a backend is terminated, and
 *  the socket reads EOF when it dies (-m immediate). Such a connection is
 *  reset with PQreset and every registered statement prepared again before
 *  the statement runs, so an outage that ended costs no request.
 *  When the link drops under a statement, db_t resets it the same way but
 *  never re-runs a statement that may write: libpq cannot tell whether the
 *  server committed it before the link dropped, and a single-use UPDATE run
 *  twice would report "already used" for a code that was used once. The
 *  caller gets DB_UNAVAILABLE and decides (the bus retries only READ ops).
 *  Only a statement declared DB_STMT_READ with its SQL, run outside a
 *  transaction, is run once more on the new connection.
 *  A connection lost inside a transaction is not reset at once: the
 *  statements the caller sends next belong to a transaction that no longer
 *  exists, and running them on a fresh connection would apply half of it. So
 *  everything fails with DB_UNAVAILABLE until the caller ends the transaction
 *  with ROLLBACK (or starts a new one with BEGIN). */
#include "db.h"

#include "secure.h"

#include "log.h"
#include "metrics.h"
#include "otlp.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;
    char *sql;
    int nparams;
    db_access_t access;
} s_stmt_t;

struct _db_t {
    PGconn *conn;
    s_stmt_t *stmts;
    size_t nstmts;
    size_t cap;
    int lost_in_tx; //  the link dropped inside a transaction (see above)
    int unprepared; //  a reconnect could not prepare every statement
    int fatal;      //  the server sent a FATAL message: the session is ending
    int down;       //  the last reconnect failed (logged once per outage)
    int counted;    //  counted in ostiary_db_connections
    int in_use;     //  counted in ostiary_db_connections_in_use
};

//  The connection is busy (a statement or a transaction) or not: the
//  in-use gauge of the pool.
static void
s_use (db_t *self, int on)
{
    if (self->in_use != on) {
        metrics_add (METRIC_DB_IN_USE, NULL, on ? 1 : -1);
        self->in_use = on;
    }
}

//  libpq prints NOTICEs ("relation already exists, skipping") to stderr by
//  default, which would break our one-logfmt-line-per-event output. An
//  error the server sends while no statement runs reaches us here too: a
//  FATAL one (a shutdown, a terminated backend) means the session is ending,
//  even before the socket shows the end.
static void
s_notice (void *arg, const PGresult *res)
{
    db_t *self = arg;
    const char *severity = PQresultErrorField (res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (strcmp (severity, "FATAL") == 0 || strcmp (severity, "PANIC") == 0))
        self->fatal = 1;
    const char *primary = PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY);
    log_debug ("db: notice: %s: %s", severity ? severity : "?", primary ? primary : "");
}

//  The first line of a libpq message, without its trailing newline.
static void
s_first_line (const char *message, char *out, size_t size)
{
    size_t n = message ? strcspn (message, "\r\n") : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy (out, message, n);
    out[n] = '\0';
}

db_t *
db_new (const char *conninfo)
{
    if (!conninfo) {
        log_error ("db: no connection string");
        return NULL;
    }
    //  Parse first: libpq's parse errors quote the connection string, which
    //  may hold a password, so their text is not logged.
    char *parse_error = NULL;
    PQconninfoOption *options = PQconninfoParse (conninfo, &parse_error);
    if (!options) {
        PQfreemem (parse_error);
        log_error ("db: the connection string is malformed");
        return NULL;
    }
    PQconninfoFree (options);

    db_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->conn = PQconnectdb (conninfo);
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        char reason[256];
        s_first_line (self->conn ? PQerrorMessage (self->conn) : "out of memory", reason, sizeof reason);
        log_error ("db: cannot connect: %s", reason);
        db_destroy (&self);
        return NULL;
    }
    PQsetNoticeReceiver (self->conn, s_notice, self);
    self->counted = 1;
    metrics_add (METRIC_DB_CONNECTIONS, NULL, 1);
    return self;
}

void
db_destroy (db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    db_t *self = *self_p;
    s_use (self, 0);
    if (self->counted)
        metrics_add (METRIC_DB_CONNECTIONS, NULL, -1);
    if (self->conn)
        PQfinish (self->conn);
    for (size_t i = 0; i < self->nstmts; i++)
        free (self->stmts[i].sql);
    free (self->stmts);
    free (self);
    *self_p = NULL;
}

PGconn *
db_conn (db_t *self)
{
    return self ? self->conn : NULL;
}

static s_stmt_t *
s_find (db_t *self, const char *name)
{
    for (size_t i = 0; i < self->nstmts; i++)
        if (strcmp (self->stmts[i].name, name) == 0)
            return &self->stmts[i];
    return NULL;
}

//  Logs a failed result by its SQLSTATE, primary message and constraint.
//  DETAIL is left out on purpose: for a unique violation it quotes the
//  conflicting value, which may be a token hash or an e-mail address.
static void
s_log_result (PGconn *conn, const char *what, const PGresult *res, db_status_t status)
{
    const char *sqlstate = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *constraint = res ? PQresultErrorField (res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    char message[512];
    //  Without a result message (a lost link), libpq's own message says why.
    s_first_line (primary ? primary : PQerrorMessage (conn), message, sizeof message);
    //  Conflicts and serialization failures are outcomes callers expect and
    //  handle (a duplicate request id, a retried transaction): warn only.
    log_msg (status == DB_CONFLICT || status == DB_RETRY ? OST_LOG_WARN : OST_LOG_ERROR,
             "db: %s failed: status=%s sqlstate=%s%s%s: %s", what, db_status_name (status),
             sqlstate ? sqlstate : "none", constraint ? " constraint=" : "", constraint ? constraint : "",
             message);
}

static int
s_prepare_one (db_t *self, const s_stmt_t *stmt)
{
    PGresult *res = PQprepare (self->conn, stmt->name, stmt->sql, stmt->nparams, NULL);
    int ok = res && PQresultStatus (res) == PGRES_COMMAND_OK;
    if (!ok)
        s_log_result (self->conn, stmt->name, res,
                      db_status_from_sqlstate (res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL));
    PQclear (res);
    return ok ? 0 : -1;
}

static int
s_prepare_all (db_t *self)
{
    self->unprepared = 0;
    for (size_t i = 0; i < self->nstmts; i++)
        if (s_prepare_one (self, &self->stmts[i]) != 0) {
            self->unprepared = 1;
            return -1;
        }
    return 0;
}

//  PQreset, then every registered statement again: prepared statements live
//  in the server session and die with it.
static int
s_reconnect (db_t *self)
{
    self->fatal = 0;
    PQreset (self->conn);
    if (PQstatus (self->conn) != CONNECTION_OK) {
        //  Once per outage: callers try again at every statement or probe.
        if (!self->down) {
            char reason[256];
            s_first_line (PQerrorMessage (self->conn), reason, sizeof reason);
            log_error ("db: reconnect failed: %s", reason);
        }
        self->down = 1;
        return -1;
    }
    log_warn ("db: reconnected");
    self->down = 0;
    return s_prepare_all (self);
}

int
db_prepare_stmt (db_t *self, const db_stmt_t *stmt)
{
    if (!self || !stmt || !stmt->name || !*stmt->name || !stmt->sql || stmt->nparams < 0 ||
        (stmt->access != DB_STMT_WRITE && stmt->access != DB_STMT_READ))
        return -1;
    if (s_find (self, stmt->name)) {
        log_error ("db: statement %s is prepared twice", stmt->name);
        return -1;
    }
    if (self->nstmts == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        s_stmt_t *stmts = realloc (self->stmts, cap * sizeof *stmts);
        if (!stmts)
            return -1;
        self->stmts = stmts;
        self->cap = cap;
    }
    s_stmt_t entry = {stmt->name, strdup (stmt->sql), stmt->nparams, stmt->access};
    if (!entry.sql)
        return -1;
    if (s_prepare_one (self, &entry) != 0) {
        free (entry.sql);
        return -1;
    }
    self->stmts[self->nstmts++] = entry;
    return 0;
}

int
db_prepare (db_t *self, const char *name, const char *sql, int nparams)
{
    db_stmt_t stmt = {name, sql, nparams, DB_STMT_WRITE};
    return db_prepare_stmt (self, &stmt);
}

//  1 when the server has ended the connection while nothing ran on it: the
//  socket is readable (or hung up) although no answer is due. What is there
//  is read without waiting: EOF marks the connection bad in libpq, and an
//  ErrorResponse goes to s_notice, which notes a FATAL one. A few rounds,
//  because the FATAL message and the end of the stream may come apart.
static int
s_closed_by_server (db_t *self)
{
    if (PQstatus (self->conn) == CONNECTION_BAD || self->fatal)
        return 1;
    int fd = PQsocket (self->conn);
    if (fd < 0)
        return 1;
    for (int round = 0; round < 4; round++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll (&pfd, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (pfd.revents & POLLNVAL))
            return 1;
        if (n == 0)
            return 0;
        if (!PQconsumeInput (self->conn) || PQstatus (self->conn) == CONNECTION_BAD)
            return 1;
        //  Parses what came in: an error while idle is handed to s_notice.
        (void)PQisBusy (self->conn);
        PGnotify *note;
        while ((note = PQnotifies (self->conn)))
            PQfreemem (note);
        if (self->fatal)
            return 1;
    }
    return 0;
}

//  Makes the connection usable before a statement: refuses while a lost
//  transaction has not been ended, and resets a connection known broken or
//  found closed by the server while idle (outside a transaction only: inside
//  one, what follows belongs to the lost transaction).
static db_status_t
s_ready (db_t *self)
{
    if (self->lost_in_tx)
        return DB_UNAVAILABLE;
    int was_bad = PQstatus (self->conn) == CONNECTION_BAD;
    PGTransactionStatusType tx = was_bad ? PQTRANS_IDLE : PQtransactionStatus (self->conn);
    if (s_closed_by_server (self)) {
        if (tx != PQTRANS_IDLE) {
            log_warn ("db: the server closed the connection inside a transaction");
            self->lost_in_tx = 1;
            return DB_UNAVAILABLE;
        }
        if (!was_bad)
            log_warn ("db: the server closed the idle connection; reconnecting");
        if (s_reconnect (self) != 0)
            return DB_UNAVAILABLE;
    } else if (self->unprepared && s_prepare_all (self) != 0)
        return DB_UNAVAILABLE;
    return DB_OK;
}

db_status_t
db_check (db_t *self)
{
    if (!self)
        return DB_ERROR;
    return s_ready (self);
}

//  Turns a PGresult into a status; keeps it in *result on success. *lost is
//  set when the link dropped under a statement begun outside a transaction
//  (the connection is then reset already, or could not be).
static db_status_t
s_finish (db_t *self, PGresult *res, PGTransactionStatusType before, const char *what, PGresult **result,
          int *lost)
{
    *lost = 0;
    ExecStatusType st = res ? PQresultStatus (res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        if (result)
            *result = res;
        else
            PQclear (res);
        return DB_OK;
    }
    if (PQstatus (self->conn) == CONNECTION_BAD) {
        s_log_result (self->conn, what, res, DB_UNAVAILABLE);
        PQclear (res);
        if (before == PQTRANS_IDLE) {
            *lost = 1;
            //  Ready for the next call; if this fails, s_ready tries again.
            (void)s_reconnect (self);
        } else
            self->lost_in_tx = 1;
        return DB_UNAVAILABLE;
    }
    db_status_t status = db_status_from_sqlstate (res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL);
    if (status == DB_OK)
        status = DB_ERROR; //  a COPY or other state these helpers do not speak
    s_log_result (self->conn, what, res, status);
    PQclear (res);
    return status;
}

//  A statement's span, a child of the thread's current span (the op
//  running it). Its attributes are the statement's name and, for a
//  statement of a store's table, its SQL text, which holds placeholders
//  and never a parameter's value. 1 when begun, 0 when outside any trace
//  or without ids.
static int
s_span_begin (otlp_span_t *span, const char *name, const char *sql)
{
    trace_ctx_t ctx;
    const trace_ctx_t *current = trace_current ();
    if (!current->trace_id[0] || trace_child (current, &ctx) != 0)
        return 0;
    otlp_span_begin (span, name, OTLP_CLIENT, &ctx);
    otlp_span_str (span, "db.system", "postgresql");
    otlp_span_str (span, "db.operation.name", name);
    if (sql)
        otlp_span_str (span, "db.query.text", sql);
    return 1;
}

static void
s_span_end (otlp_span_t *span, db_status_t status)
{
    otlp_span_str (span, "ostiary.db.status", db_status_name (status));
    if (status != DB_OK)
        otlp_span_error (span, db_status_name (status));
    otlp_span_end (span);
}

db_status_t
db_exec (db_t *self, const char *name, int nparams, const char *const *params, PGresult **result)
{
    if (result)
        *result = NULL;
    if (!self || !name)
        return DB_ERROR;
    const s_stmt_t *stmt = s_find (self, name);
    if (!stmt) {
        log_error ("db: statement %s was never prepared", name);
        return DB_ERROR;
    }
    if (nparams != stmt->nparams) {
        log_error ("db: statement %s takes %d parameters, got %d", name, stmt->nparams, nparams);
        return DB_ERROR;
    }
    if (nparams > 0 && !params) {
        log_error ("db: statement %s got no parameter array", name);
        return DB_ERROR;
    }
    db_status_t ready = s_ready (self);
    if (ready != DB_OK)
        return ready;
    otlp_span_t span;
    int traced = otlp_enabled () && s_span_begin (&span, name, stmt->sql);
    PGTransactionStatusType before = PQtransactionStatus (self->conn);
    int was_in_use = self->in_use;
    s_use (self, 1);
    double started = metrics_now ();
    PGresult *res = PQexecPrepared (self->conn, name, nparams, params, NULL, NULL, 0);
    int lost = 0;
    db_status_t status = s_finish (self, res, before, name, result, &lost);
    //  A read changed nothing, so running it again cannot do harm; only
    //  once, and only on a connection that s_finish could open again.
    if (lost && stmt->access == DB_STMT_READ && PQstatus (self->conn) == CONNECTION_OK && !self->unprepared) {
        log_warn ("db: %s: the connection dropped under a read; ran it again on a new one", name);
        res = PQexecPrepared (self->conn, name, nparams, params, NULL, NULL, 0);
        status = s_finish (self, res, PQTRANS_IDLE, name, result, &lost);
    }
    if (traced)
        s_span_end (&span, status);
    //  stmt->name: the name registered by the store's table, a fixed string.
    metrics_observe (METRIC_DB_STATEMENT, METRICS_L (stmt->name, db_status_name (status)),
                     metrics_now () - started);
    if (!was_in_use)
        s_use (self, 0);
    return status;
}

db_status_t
db_exec_logged (db_t *self, const char *name, int nparams, const char *const *params, PGresult **result)
{
    db_status_t st = db_exec (self, name, nparams, params, result);
    if (st != DB_OK)
        log_error ("%s: %s", name ? name : "db", db_status_name (st));
    return st;
}

//  1 when sql is a single word (ROLLBACK, BEGIN …) with optional blanks and
//  semicolon around it.
static int
s_is_word (const char *sql, const char *word)
{
    while (isspace ((unsigned char)*sql))
        sql++;
    size_t n = strlen (word);
    if (strncasecmp (sql, word, n) != 0)
        return 0;
    for (sql += n; *sql; sql++)
        if (!isspace ((unsigned char)*sql) && *sql != ';')
            return 0;
    return 1;
}

db_status_t
db_exec_sql (db_t *self, const char *sql)
{
    if (!self || !sql)
        return DB_ERROR;
    if (self->lost_in_tx) {
        int rollback = s_is_word (sql, "ROLLBACK") || s_is_word (sql, "ABORT");
        if (!rollback && !s_is_word (sql, "BEGIN"))
            return DB_UNAVAILABLE;
        //  The server rolled the transaction back when the link dropped: a
        //  ROLLBACK is done already; a BEGIN opens a new unit of work.
        self->lost_in_tx = 0;
        s_use (self, 0);
        if (s_reconnect (self) != 0)
            return DB_UNAVAILABLE;
        if (rollback)
            return DB_OK;
    }
    db_status_t ready = s_ready (self);
    if (ready != DB_OK)
        return ready;
    //  Only the statement's first word names its span: this text is not
    //  from a statement table, so it is not exported.
    char word[16];
    size_t n = 0;
    for (const char *p = sql; *p == ' ' || *p == '\n' || *p == '\t'; p++)
        sql = p + 1;
    while (n + 1 < sizeof word && ((sql[n] >= 'A' && sql[n] <= 'Z') || (sql[n] >= 'a' && sql[n] <= 'z'))) {
        word[n] = sql[n];
        n++;
    }
    word[n] = '\0';
    otlp_span_t span;
    int traced = otlp_enabled () && s_span_begin (&span, n ? word : "sql", NULL);
    PGTransactionStatusType before = PQtransactionStatus (self->conn);
    //  A transaction holds the connection from BEGIN to its end.
    int begin = s_is_word (sql, "BEGIN"), end = s_is_word (sql, "COMMIT") || s_is_word (sql, "ROLLBACK");
    int was_in_use = self->in_use;
    s_use (self, 1);
    PGresult *res = PQexec (self->conn, sql);
    int lost = 0;
    db_status_t status = s_finish (self, res, before, "sql", NULL, &lost);
    if (traced)
        s_span_end (&span, status);
    if (end || (!begin && !was_in_use) || (begin && status != DB_OK))
        s_use (self, 0);
    return status;
}

db_status_t
db_begin (db_t *self)
{
    return db_exec_sql (self, "BEGIN");
}

db_status_t
db_commit (db_t *self)
{
    return db_exec_sql (self, "COMMIT");
}

void
db_rollback (db_t *self)
{
    if (db_exec_sql (self, "ROLLBACK") != DB_OK)
        log_warn ("db: rollback failed");
}

void
db_bytea_text (const unsigned char *buf, size_t len, char *out)
{
    out[0] = '\\';
    out[1] = 'x';
    secure_hex (buf, len, out + 2);
}

db_status_t
db_status_from_sqlstate (const char *sqlstate)
{
    if (!sqlstate || strlen (sqlstate) != 5)
        return DB_ERROR;
    //  PostgreSQL Appendix A: class 00 is success.
    if (strncmp (sqlstate, "00", 2) == 0)
        return DB_OK;
    //  Class 23, integrity constraint violation: unique, foreign key, check.
    if (strncmp (sqlstate, "23", 2) == 0)
        return DB_CONFLICT;
    //  serialization_failure and deadlock_detected: the transaction was rolled
    //  back and may be run again as a whole.
    if (strcmp (sqlstate, "40001") == 0 || strcmp (sqlstate, "40P01") == 0)
        return DB_RETRY;
    //  Class 08 connection exception, 57P operator intervention (shutdown,
    //  cannot connect now), 53 insufficient resources: not our request's fault.
    if (strncmp (sqlstate, "08", 2) == 0 || strncmp (sqlstate, "57P", 3) == 0 ||
        strncmp (sqlstate, "53", 2) == 0)
        return DB_UNAVAILABLE;
    return DB_ERROR;
}

const char *
db_status_name (db_status_t status)
{
    switch (status) {
    case DB_OK:
        return "ok";
    case DB_NOT_FOUND:
        return "not_found";
    case DB_CONFLICT:
        return "conflict";
    case DB_RETRY:
        return "retry";
    case DB_UNAVAILABLE:
        return "unavailable";
    case DB_ERROR:
        return "error";
    }
    return "unknown";
}

int
db_prepare_all (db_t *self, const db_stmt_t *stmts, size_t count)
{
    if (!stmts && count)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (db_prepare_stmt (self, &stmts[i]) != 0)
            return -1;
    return 0;
}
