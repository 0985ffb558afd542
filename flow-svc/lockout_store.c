/*  lockout_store - the SQL of lockout, settings and audit events. See
 *  lockout_store.h. Parameters are cast the same way at every use, so
 *  PostgreSQL deduces one type for each. */
#include "lockout_store.h"

#include "flow_audit.h"
#include "log.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Whole seconds since the epoch of a timestamptz (as flow_store.c).
#define EPOCH(col) "floor(extract(epoch FROM " col "))::bigint"
//  How many address rows one sweep deletes (bounded work per call).
#define SWEEP_BATCH "1000"
//  The audit events the lockout statements write themselves (one guarded
//  statement with the lock, so exactly one event per lock): the columns of
//  common/audit.h's one shape, and the tail of their SELECT, with $5 the
//  trace id of the request.
#define AUDIT_FLOW_INSERT                                                                                    \
    "INSERT INTO flow.audit_events (event, subject, address, details, actor, outcome, trace_id)"
#define AUDIT_FLOW_SYSTEM_REFUSED "'system', 'refused', NULLIF($5::text, '')"

//  The account row before this attempt's increment (a.*), with $2 the
//  threshold and $3 lockout_seconds (docs/flows.md, "Lockout"). EXPIRED: a
//  lock that has run out. HELD: the count reached the threshold and no lock
//  is set yet, i.e. the threshold failure is being checked or has just been
//  counted; it holds updated_at, so STALE tells a count stuck there by a
//  crash between the check and lockout_failure. Either one restarts the
//  count at 1.
#define EXPIRED "COALESCE(a.locked_until <= now(), false)"
#define HELD "(a.locked_until IS NULL AND a.failures >= $2::int)"
#define STALE "(a.updated_at <= now() - make_interval(secs => $3::int))"
#define RESTART "(" EXPIRED " OR (" HELD " AND " STALE "))"
//  Second-factor counters (flow.lockout_codes) also restart once idle for
//  CODE_IDLE: the rows of unknown identifiers are deleted then (bounded
//  table), and a known account's count must do the same, or the difference
//  would tell the two apart (docs/flows.md, "Lockout").
#define CODE_IDLE "interval '7 days'"
#define IDLE "(a.updated_at <= now() - " CODE_IDLE ")"
#define CODE_RESTART "(" EXPIRED " OR (" HELD " AND " STALE ") OR " IDLE ")"

typedef enum {
    S_ACCOUNT_FAIL,
    S_ACCOUNT_LOCK,
    S_ACCOUNT_RESET,
    S_UNLOCK,
    S_ADDRESS_FAIL,
    S_ADDRESS_FORGIVE,
    S_ADDRESS_SWEEP,
    S_CODE_FAIL,
    S_CODE_LOCK,
    S_CODE_RESET,
    S_CODE_SWEEP,
    S_CODE_MAIL,
    S_SETTINGS_LOAD,
    S_SETTING_SET,
    S_SETTINGS_LOCK,
    S_SETTING_DELETE,
    S_AUDIT_INSERT,
    S_AUDIT_LIST,
    S_AUDIT_PURGE,
    S_COUNT
} s_stmt_id_t;

static const db_stmt_t s_stmts[S_COUNT] = {
    //  ARCHITECTURE.md, "Security rules": the counter moves in one statement
    //  before the password is checked. The row lock of ON CONFLICT DO UPDATE
    //  serializes parallel attempts, and SET sees the row each one found, so
    //  each gets the verdict of the count before its own increment: refused
    //  while locked or once `threshold` attempts were counted, so exactly
    //  `threshold` attempts are checked before a lock. Failures go on counting
    //  while refused (an operator sees how hard the account was tried). The
    //  verdict is read from the new row: after a restart the count is 1, never
    //  above the threshold (at least 1, settings.h), else it is one above the
    //  count this attempt found.
    [S_ACCOUNT_FAIL] = {"lockout_account_fail",
                        "INSERT INTO flow.lockout_accounts AS a (sub, failures, locked_until, updated_at)"
                        " SELECT u.sub, 1, NULL, now() FROM flow.users u WHERE u.sub = $1::text"
                        " ON CONFLICT (sub) DO UPDATE SET"
                        "  failures = CASE WHEN " RESTART " THEN 1 ELSE a.failures + 1 END,"
                        "  locked_until = CASE WHEN " RESTART " THEN NULL ELSE a.locked_until END,"
                        "  updated_at = CASE WHEN " HELD " AND NOT " STALE " THEN a.updated_at ELSE now() END"
                        " RETURNING failures, COALESCE(locked_until > now(), false) OR failures > $2::int",
                        3, DB_STMT_WRITE},
    //  The lock follows the failure that reached the threshold: one guarded
    //  statement, so of parallel failures only the first to take the row lock
    //  finds no lock in force and sets it; the others, re-checking the row it
    //  committed, change nothing. The lockout audit event is written by the
    //  same statement, so there is exactly one per lock.
    [S_ACCOUNT_LOCK] =
        {"lockout_account_lock",
         "WITH l AS ("
         " UPDATE flow.lockout_accounts SET locked_until = now() + make_interval(secs => $3::int),"
         "  updated_at = now()"
         " WHERE sub = $1::text AND failures >= $2::int AND (locked_until IS NULL OR locked_until <= now())"
         " RETURNING failures, locked_until),"
         " e AS (" AUDIT_FLOW_INSERT
         "  SELECT 'lockout', $1::text, $4::text, jsonb_build_object('failures', l.failures,"
         "   'threshold', $2::int, 'lockout_seconds', $3::int, 'locked_until', " EPOCH (
             "l.locked_until") "), " AUDIT_FLOW_SYSTEM_REFUSED " FROM l)"
                               " SELECT failures FROM l",
         5, DB_STMT_WRITE},
    //  A success does not lift a lock that a parallel attempt has just set.
    [S_ACCOUNT_RESET] = {"lockout_account_reset",
                         "UPDATE flow.lockout_accounts SET failures = 0, locked_until = NULL,"
                         " updated_at = now() WHERE sub = $1::text AND failures > 0"
                         " AND (locked_until IS NULL OR locked_until <= now())",
                         1, DB_STMT_WRITE},
    //  Both locks of the account go: the password's and the second
    //  factor's.
    [S_UNLOCK] =
        {"lockout_unlock",
         "WITH u AS (SELECT sub FROM flow.users WHERE username = $1::text),"
         " d AS (DELETE FROM flow.lockout_accounts l USING u WHERE l.sub = u.sub"
         "  RETURNING l.locked_until > now() AS was_locked),"
         " c AS (DELETE FROM flow.lockout_codes l USING u WHERE l.sub = u.sub OR l.key = 'r:' || u.sub"
         "  RETURNING l.locked_until > now() AS was_locked)"
         " SELECT u.sub, COALESCE((SELECT bool_or(was_locked) FROM d), false),"
         "  COALESCE((SELECT bool_or(was_locked) FROM c), false) FROM u",
         1, DB_STMT_WRITE},
    //  A fixed window: the first failure after the window ended opens a new
    //  one (NIST SP 800-63B §5.2.2 leaves the method to us).
    [S_ADDRESS_FAIL] = {"lockout_address_fail",
                        "INSERT INTO flow.lockout_addresses AS a (address, window_start, failures)"
                        " VALUES ($1::text, now(), 1)"
                        " ON CONFLICT (address) DO UPDATE SET"
                        "  window_start = CASE WHEN a.window_start <= now() - make_interval(secs => $2::int)"
                        "   THEN now() ELSE a.window_start END,"
                        "  failures = CASE WHEN a.window_start <= now() - make_interval(secs => $2::int)"
                        "   THEN 1 ELSE a.failures + 1 END"
                        " RETURNING failures",
                        2, DB_STMT_WRITE},
    [S_ADDRESS_FORGIVE] = {"lockout_address_forgive",
                           "UPDATE flow.lockout_addresses SET failures = failures - 1"
                           " WHERE address = $1::text AND failures > 0",
                           1, DB_STMT_WRITE},
    [S_ADDRESS_SWEEP] = {"lockout_address_sweep",
                         "DELETE FROM flow.lockout_addresses WHERE address IN"
                         " (SELECT address FROM flow.lockout_addresses"
                         "  WHERE window_start <= now() - make_interval(secs => $1::int)"
                         "  ORDER BY window_start LIMIT " SWEEP_BATCH " FOR UPDATE SKIP LOCKED)",
                         1, DB_STMT_WRITE},
    //  The second-factor counter: as S_ACCOUNT_FAIL, keyed by the account's
    //  sub ($4 = $1), its recovery counter ('r:' || $4), or by a typed
    //  identifier's key ($4 NULL). One
    //  statement before the code is checked; a password success never
    //  touches it.
    [S_CODE_FAIL] = {"lockout_code_fail",
                     "INSERT INTO flow.lockout_codes AS a (key, sub, failures, locked_until, updated_at)"
                     " SELECT $1::text, $4::text, 1, NULL, now()"
                     " WHERE $4::text IS NULL OR EXISTS (SELECT 1 FROM flow.users u WHERE u.sub = $4::text)"
                     " ON CONFLICT (key) DO UPDATE SET"
                     "  failures = CASE WHEN " CODE_RESTART " THEN 1 ELSE a.failures + 1 END,"
                     "  locked_until = CASE WHEN " CODE_RESTART " THEN NULL ELSE a.locked_until END,"
                     "  updated_at = CASE WHEN " HELD " AND NOT " STALE " AND NOT " IDLE
                     "   THEN a.updated_at ELSE now() END"
                     " RETURNING failures, COALESCE(locked_until > now(), false) OR failures > $2::int",
                     4, DB_STMT_WRITE},
    //  As S_ACCOUNT_LOCK: one guarded statement sets the lock and writes the
    //  one second_factor_lockout audit event.
    [S_CODE_LOCK] =
        {"lockout_code_lock",
         "WITH l AS ("
         " UPDATE flow.lockout_codes SET locked_until = now() + make_interval(secs => $3::int),"
         "  updated_at = now()"
         " WHERE key = $1::text AND failures >= $2::int AND (locked_until IS NULL OR locked_until <= now())"
         " RETURNING sub, failures, locked_until),"
         " e AS (" AUDIT_FLOW_INSERT
         "  SELECT 'second_factor_lockout', l.sub, $4::text, jsonb_build_object('failures', l.failures,"
         "   'threshold', $2::int, 'lockout_seconds', $3::int, 'known_account', l.sub IS NOT NULL,"
         "   'locked_until', " EPOCH ("l.locked_until") "), " AUDIT_FLOW_SYSTEM_REFUSED " FROM l)"
                                                        " SELECT failures FROM l",
         5, DB_STMT_WRITE},
    [S_CODE_RESET] = {"lockout_code_reset",
                      "UPDATE flow.lockout_codes SET failures = 0, locked_until = NULL,"
                      " updated_at = now() WHERE key = $1::text AND failures > 0"
                      " AND (locked_until IS NULL OR locked_until <= now())",
                      1, DB_STMT_WRITE},
    [S_CODE_SWEEP] = {"lockout_code_sweep",
                      "DELETE FROM flow.lockout_codes WHERE key IN"
                      " (SELECT key FROM flow.lockout_codes"
                      "  WHERE sub IS NULL AND updated_at <= now() - " CODE_IDLE
                      "  ORDER BY updated_at LIMIT " SWEEP_BATCH " FOR UPDATE SKIP LOCKED)",
                      0, DB_STMT_WRITE},
    //  One code email of $1 counted in its fixed window of $2 seconds, in the
    //  step's transaction (a rolled-back step queued no mail and counts
    //  none). The first one above the cap $3 in a window writes the one
    //  code_mail_capped audit event, in the same statement.
    [S_CODE_MAIL] = {"lockout_code_mail",
                     "WITH n AS ("
                     " INSERT INTO flow.code_mail_counters AS c (sub, window_start, sent)"
                     " SELECT u.sub, now(), 1 FROM flow.users u WHERE u.sub = $1::text"
                     " ON CONFLICT (sub) DO UPDATE SET"
                     "  window_start = CASE WHEN c.window_start <= now() - make_interval(secs => $2::int)"
                     "   THEN now() ELSE c.window_start END,"
                     "  sent = CASE WHEN c.window_start <= now() - make_interval(secs => $2::int)"
                     "   THEN 1 ELSE LEAST(c.sent, 1000000000) + 1 END"
                     " RETURNING sub, sent, window_start),"
                     " e AS (" AUDIT_FLOW_INSERT
                     "  SELECT 'code_mail_capped', n.sub, $4::text, jsonb_build_object('cap', $3::int,"
                     "   'window_seconds', $2::int, 'window_start', " EPOCH (
                         "n.window_start") "), " AUDIT_FLOW_SYSTEM_REFUSED
                                           " FROM n WHERE n.sent = $3::int + 1)"
                                           " SELECT sent FROM n",
                     5, DB_STMT_WRITE},
    [S_SETTINGS_LOAD] =
        {"lockout_settings_load",
         "SELECT COALESCE(jsonb_object_agg(name, value), '{}'::jsonb)::text FROM flow.settings", 0,
         DB_STMT_READ},
    [S_SETTING_SET] =
        {"lockout_setting_set",
         "INSERT INTO flow.settings (name, value, updated_at) VALUES ($1::text, to_jsonb($2::bigint), now())"
         " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
         2, DB_STMT_WRITE},
    //  Writers of settings take turns, so that a change based on the value
    //  in force (expected) reads what no other writer is changing.
    [S_SETTINGS_LOCK] = {"lockout_settings_lock", "LOCK TABLE flow.settings IN SHARE ROW EXCLUSIVE MODE", 0,
                         DB_STMT_WRITE},
    [S_SETTING_DELETE] = {"lockout_setting_delete", "DELETE FROM flow.settings WHERE name = $1::text", 1,
                          DB_STMT_WRITE},
    [S_AUDIT_INSERT] = {"lockout_audit_insert", AUDIT_SQL_INSERT ("flow"), AUDIT_SQL_INSERT_PARAMS,
                        DB_STMT_WRITE},
    [S_AUDIT_LIST] = {"lockout_audit_list", AUDIT_SQL_LIST ("flow"), AUDIT_SQL_LIST_PARAMS, DB_STMT_READ},
    [S_AUDIT_PURGE] = {"lockout_audit_purge", AUDIT_SQL_PURGE ("flow"), AUDIT_SQL_PURGE_PARAMS,
                       DB_STMT_WRITE},
};

//  Which statements this thread has prepared on its connection. A service
//  worker thread keeps one db_t for its whole life (service.h), so the
//  pointer names the connection; db_t prepares them again after a reconnect.
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

int
lockout_store_prepare (db_t *db)
{
    for (int id = 0; id < S_COUNT; id++)
        if (s_prepare (db, (s_stmt_id_t)id) != 0)
            return -1;
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

//  The trace id the lockout statements record with their audit events.
static const char *
s_trace (void)
{
    return log_trace_id ();
}

static long
s_long (const PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? 0 : strtol (PQgetvalue (res, row, col), NULL, 10);
}

static bool
s_bool (const PGresult *res, int row, int col)
{
    return !PQgetisnull (res, row, col) && PQgetvalue (res, row, col)[0] == 't';
}

//  The JSON text of the only column of the only row, parsed.
static db_status_t
s_json (db_t *db, s_stmt_id_t id, const char *const *params, json_t **out)
{
    *out = NULL;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, id, params, &res);
    if (st == DB_OK && PQntuples (res) == 1 && !PQgetisnull (res, 0, 0)) {
        json_error_t err;
        *out = json_loads (PQgetvalue (res, 0, 0), JSON_DECODE_ANY, &err);
    }
    if (st == DB_OK && !*out) {
        log_error ("%s: the database returned no JSON that parses", s_stmts[id].name);
        st = DB_ERROR;
    }
    PQclear (res);
    return st;
}

//  ------------------------------------------------------------------ accounts

//  threshold and seconds as the text of a parameter.
static void
s_limits (long threshold, long seconds, char thr[24], char sec[24])
{
    snprintf (thr, 24, "%ld", threshold);
    snprintf (sec, 24, "%ld", seconds);
}

//  A counter's failure statement (account or second factor): the count it
//  reached and whether the attempt is refused. DB_NOT_FOUND: no row (an
//  account that no longer exists).
static db_status_t
s_fail (db_t *db, s_stmt_id_t id, const char *const *params, long *failures, bool *refused)
{
    *failures = 0;
    *refused = true;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, id, params, &res);
    if (st == DB_OK && PQntuples (res) == 0)
        st = DB_NOT_FOUND;
    else if (st == DB_OK) {
        *failures = s_long (res, 0, 0);
        *refused = s_bool (res, 0, 1);
    }
    PQclear (res);
    return st;
}

//  A counter's guarded lock statement: *locked when this call set the lock.
static db_status_t
s_lock (db_t *db, s_stmt_id_t id, const char *const *params, long *failures, bool *locked)
{
    *failures = 0;
    *locked = false;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, id, params, &res);
    if (st == DB_OK && PQntuples (res) == 1) {
        *failures = s_long (res, 0, 0);
        *locked = true;
    }
    PQclear (res);
    return st;
}

db_status_t
lockout_store_account_fail (db_t *db, const char *sub, long threshold, long seconds, long *failures,
                            bool *refused)
{
    char thr[24], sec[24];
    s_limits (threshold, seconds, thr, sec);
    const char *params[] = {sub, thr, sec};
    return s_fail (db, S_ACCOUNT_FAIL, params, failures, refused);
}

db_status_t
lockout_store_account_lock (db_t *db, const char *sub, long threshold, long seconds, const char *client_ip,
                            long *failures, bool *locked)
{
    char thr[24], sec[24];
    s_limits (threshold, seconds, thr, sec);
    const char *params[] = {sub, thr, sec, client_ip, s_trace ()};
    return s_lock (db, S_ACCOUNT_LOCK, params, failures, locked);
}

db_status_t
lockout_store_account_reset (db_t *db, const char *sub)
{
    const char *params[] = {sub};
    return s_exec (db, S_ACCOUNT_RESET, params, NULL);
}

db_status_t
lockout_store_unlock (db_t *db, const char *username, char sub[LOCKOUT_SUB_MAX + 1], bool *was_locked,
                      bool *codes_were_locked)
{
    sub[0] = '\0';
    *was_locked = false;
    *codes_were_locked = false;
    const char *params[] = {username};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, S_UNLOCK, params, &res);
    if (st == DB_OK && PQntuples (res) == 0)
        st = DB_NOT_FOUND;
    else if (st == DB_OK) {
        snprintf (sub, LOCKOUT_SUB_MAX + 1, "%s", PQgetvalue (res, 0, 0));
        *was_locked = s_bool (res, 0, 1);
        *codes_were_locked = s_bool (res, 0, 2);
    }
    PQclear (res);
    return st;
}

//  ------------------------------------------------------------------ addresses

db_status_t
lockout_store_address_fail (db_t *db, const char *address, long window, long *failures)
{
    *failures = 0;
    char win[24];
    snprintf (win, sizeof win, "%ld", window);
    const char *params[] = {address, win};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, S_ADDRESS_FAIL, params, &res);
    if (st == DB_OK && PQntuples (res) == 1)
        *failures = s_long (res, 0, 0);
    else if (st == DB_OK)
        st = DB_ERROR;
    PQclear (res);
    return st;
}

db_status_t
lockout_store_address_forgive (db_t *db, const char *address)
{
    const char *params[] = {address};
    return s_exec (db, S_ADDRESS_FORGIVE, params, NULL);
}

db_status_t
lockout_store_address_sweep (db_t *db, long window, long *deleted)
{
    *deleted = 0;
    char win[24];
    snprintf (win, sizeof win, "%ld", window);
    const char *params[] = {win};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, S_ADDRESS_SWEEP, params, &res);
    if (st == DB_OK)
        *deleted = strtol (PQcmdTuples (res), NULL, 10);
    PQclear (res);
    return st;
}

//  ------------------------------------------------------------------ second factor

db_status_t
lockout_store_code_fail (db_t *db, const char *key, const char *sub, long threshold, long seconds,
                         long *failures, bool *refused)
{
    char thr[24], sec[24];
    s_limits (threshold, seconds, thr, sec);
    const char *params[] = {key, thr, sec, sub};
    return s_fail (db, S_CODE_FAIL, params, failures, refused);
}

db_status_t
lockout_store_code_lock (db_t *db, const char *key, long threshold, long seconds, const char *client_ip,
                         long *failures, bool *locked)
{
    char thr[24], sec[24];
    s_limits (threshold, seconds, thr, sec);
    const char *params[] = {key, thr, sec, client_ip, s_trace ()};
    return s_lock (db, S_CODE_LOCK, params, failures, locked);
}

db_status_t
lockout_store_code_reset (db_t *db, const char *key)
{
    const char *params[] = {key};
    return s_exec (db, S_CODE_RESET, params, NULL);
}

db_status_t
lockout_store_code_sweep (db_t *db, long *deleted)
{
    *deleted = 0;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, S_CODE_SWEEP, NULL, &res);
    if (st == DB_OK)
        *deleted = strtol (PQcmdTuples (res), NULL, 10);
    PQclear (res);
    return st;
}

db_status_t
lockout_store_code_mail (db_t *db, const char *sub, long window, long cap, const char *client_ip, long *sent)
{
    *sent = 0;
    char win[24], lim[24];
    s_limits (window, cap, win, lim);
    const char *params[] = {sub, win, lim, client_ip, s_trace ()};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, S_CODE_MAIL, params, &res);
    if (st == DB_OK && PQntuples (res) == 0)
        st = DB_NOT_FOUND;
    else if (st == DB_OK)
        *sent = s_long (res, 0, 0);
    PQclear (res);
    return st;
}

//  ------------------------------------------------------------------ settings

db_status_t
lockout_store_settings_load (db_t *db, json_t **settings)
{
    db_status_t st = s_json (db, S_SETTINGS_LOAD, NULL, settings);
    if (st == DB_OK && !json_is_object (*settings)) {
        json_decref (*settings);
        *settings = NULL;
        st = DB_ERROR;
    }
    return st;
}

db_status_t
lockout_store_settings_lock (db_t *db)
{
    return s_exec (db, S_SETTINGS_LOCK, NULL, NULL);
}

db_status_t
lockout_store_setting_put (db_t *db, const char *name, const long *value)
{
    if (!value) {
        const char *params[] = {name};
        return s_exec (db, S_SETTING_DELETE, params, NULL);
    }
    char text[24];
    snprintf (text, sizeof text, "%ld", *value);
    const char *params[] = {name, text};
    return s_exec (db, S_SETTING_SET, params, NULL);
}

//  ------------------------------------------------------------------ audit

db_status_t
lockout_store_audit_insert (db_t *db, const audit_record_t *record)
{
    if (!db || s_prepare (db, S_AUDIT_INSERT) != 0)
        return DB_ERROR;
    return audit_insert (db, s_stmts[S_AUDIT_INSERT].name, "flow", record);
}

db_status_t
lockout_store_audit_list (db_t *db, const audit_filter_t *filter, json_t **result)
{
    if (!db || s_prepare (db, S_AUDIT_LIST) != 0)
        return DB_ERROR;
    return audit_list (db, s_stmts[S_AUDIT_LIST].name, filter, result);
}

db_status_t
lockout_store_audit_purge (db_t *db, long days, long batch, int *deleted)
{
    *deleted = 0;
    if (!db || s_prepare (db, S_AUDIT_PURGE) != 0)
        return DB_ERROR;
    return audit_purge (db, s_stmts[S_AUDIT_PURGE].name, days, batch, deleted);
}
