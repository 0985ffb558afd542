/*  flow_store - the SQL of schema flow; lockout_store.c and outbox_store.c
 *  hold that of their own tables. Nothing else in flow-svc sees SQL.
 *  bytea values travel as text in the hex format ("\x0a1b..."). */
#include "flow_store.h"

#include "log.h"
#include "secure.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Whole seconds since the epoch of a timestamptz column (rounded down: a
//  cast of the fraction would round half of them up).
#define EPOCH(col) "floor(extract(epoch FROM " col "))::bigint"

//  The user object of proto/ops.md, members that are not set left out
//  (json_strip_nulls). Never the password hash: only whether there is one.
#define USER_JSON                                                                                            \
    "json_strip_nulls(json_build_object("                                                                    \
    "'sub', sub, 'username', username, 'email', email, 'email_verified', email_verified,"                    \
    " 'name', name, 'given_name', given_name, 'family_name', family_name, 'middle_name', middle_name,"       \
    " 'nickname', nickname, 'profile', profile, 'picture', picture, 'website', website, 'gender', gender,"   \
    " 'birthdate', birthdate, 'zoneinfo', zoneinfo, 'locale', locale, 'phone_number', phone_number,"         \
    " 'phone_number_verified', phone_number_verified, 'address', address, 'disabled', disabled,"             \
    " 'has_password', password_hash IS NOT NULL, 'admin', admin,"                                            \
    " 'created_at', " EPOCH ("created_at") ", 'updated_at', " EPOCH ("updated_at") "))::text"

//  The session object of proto/ops.md (flow.session_get).
#define SESSION_JSON                                                                                         \
    "json_build_object('sid', s.sid, 'sub', s.sub, 'username', u.username,"                                  \
    " 'auth_time', " EPOCH ("s.auth_time") ", 'amr', s.amr, 'expires_at', " EPOCH ("s.expires_at") ")::text"

//  A session counts only while it is neither expired nor revoked and its
//  user is not disabled.
#define SESSION_LIVE "s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled"

#define EXEC_COLUMNS                                                                                         \
    "id, flow_name, flow_version, node, context::text, status, csrf, attempts,"                              \
    " COALESCE(session_sid, ''), " EPOCH ("expires_at") ", COALESCE(ui, '{}')::text, node_attempts"

//  The sessions a statement's CTE s (sid, sub) just ended, as a JSON array
//  of {sid, sub, clients: [client_id]}: what the back-channel logout needs
//  (sessions_ended).
#define ENDED_JSON                                                                                           \
    "COALESCE((SELECT json_agg(json_build_object('sid', s.sid, 'sub', s.sub, 'clients', COALESCE((SELECT"    \
    "  json_agg(c.client_id ORDER BY c.first_at) FROM flow.session_clients c WHERE c.sid = s.sid),"          \
    "  '[]'::json))) FROM s), '[]'::json)::text"
//  The sessions a statement revokes: live ones only. One that expired is
//  left to the janitor, which tells its clients that it expired
//  (flow_session_expire); revoking it here would keep that from them.
#define REVOCABLE "revoked_at IS NULL AND expires_at > now()"

//  The session_info objects of proto/ops.md of the sessions t of a FROM
//  clause, newest first, as one JSON array ([] for none); current is the
//  SQL of the current member.
#define SESSION_INFO_LIST(current)                                                                           \
    "COALESCE(json_agg(json_strip_nulls(json_build_object('sid', t.sid, 'current', " current ","             \
    "  'created_at', " EPOCH ("t.created_at") ", 'auth_time', " EPOCH (                                      \
        "t.auth_time") ","                                                                                   \
                       "  'last_used_at', " EPOCH ("t.last_used_at") ", 'expires_at', " EPOCH (              \
                           "t.expires_at") ","                                                               \
                                           "  'address', t.address, 'user_agent', t.user_agent, 'clients', " \
                                           "COALESCE((SELECT"                                                \
                                           "  json_agg(json_build_object('client_id', c.client_id, 'name', " \
                                           "c.client_name) ORDER BY c.first_at)"                             \
                                           "  FROM flow.session_clients c WHERE c.sid = t.sid), "            \
                                           "'[]'::json))) ORDER BY t.created_at DESC, t.sid),"               \
                                           "  '[]'::json)"

static const db_stmt_t s_stmts[] = {
    {"flow_ping", "SELECT count(*) FROM flow.settings", 0, DB_STMT_READ},
    //  ---------------------------------------------------------- users
    //  ON CONFLICT (username) DO NOTHING: a taken username returns no row,
    //  which the caller reports, instead of an error in the log.
    {"flow_user_insert",
     "INSERT INTO flow.users (sub, username, password_hash, password_changed_at, disabled, email,"
     " email_verified, name, given_name, family_name, middle_name, nickname, profile, picture, website,"
     " gender, birthdate, zoneinfo, locale, phone_number, phone_number_verified, address)"
     " SELECT $1::text, $2::text, $3::text, CASE WHEN $3::text IS NULL THEN NULL ELSE now() END,"
     " $4::boolean, r.email, COALESCE(r.email_verified, false), r.name, r.given_name, r.family_name,"
     " r.middle_name, r.nickname, r.profile, r.picture, r.website, r.gender, r.birthdate, r.zoneinfo,"
     " r.locale, r.phone_number, COALESCE(r.phone_number_verified, false), r.address"
     " FROM jsonb_to_record($5::jsonb) AS r(email text, email_verified boolean, name text, given_name text,"
     " family_name text, middle_name text, nickname text, profile text, picture text, website text,"
     " gender text, birthdate text, zoneinfo text, locale text, phone_number text,"
     " phone_number_verified boolean, address jsonb)"
     " ON CONFLICT (username) DO NOTHING RETURNING " USER_JSON,
     5, DB_STMT_WRITE},
    {"flow_user_list",
     "SELECT " USER_JSON " FROM flow.users WHERE $1::text IS NULL OR username > $1::text"
     " ORDER BY username LIMIT $2::int",
     2, DB_STMT_READ},
    {"flow_user_get_by_username", "SELECT " USER_JSON " FROM flow.users WHERE username = $1::text", 1,
     DB_STMT_READ},
    {"flow_user_get_by_sub", "SELECT " USER_JSON " FROM flow.users WHERE sub = $1::text", 1, DB_STMT_READ},
    //  One statement: the new password and the end of every session opened
    //  with the old one cannot be separated by a crash.
    {"flow_user_set_password",
     "WITH u AS (UPDATE flow.users SET password_hash = $2::text, password_changed_at = now()"
     "  WHERE username = $1::text RETURNING sub),"
     " s AS (UPDATE flow.sessions SET revoked_at = now()"
     "  WHERE sub IN (SELECT sub FROM u) AND " REVOCABLE " RETURNING sid, sub)"
     " SELECT " ENDED_JSON " FROM u",
     2, DB_STMT_WRITE},
    //  The sessions are revoked by a statement of its own, after this one:
    //  its snapshot then holds a session that a login committed while this
    //  UPDATE waited for that login's row lock (flow_session_insert).
    {"flow_user_set_admin",
     "UPDATE flow.users SET admin = $2::boolean WHERE username = $1::text RETURNING sub", 2, DB_STMT_WRITE},
    {"flow_user_roles", "SELECT admin AND NOT disabled FROM flow.users WHERE sub = $1::text", 1,
     DB_STMT_READ},
    {"flow_user_set_disabled",
     "UPDATE flow.users SET disabled = $2::boolean WHERE username = $1::text RETURNING sub", 2,
     DB_STMT_WRITE},
    {"flow_user_revoke_sessions",
     "WITH s AS (UPDATE flow.sessions SET revoked_at = now() WHERE sub = $1::text AND " REVOCABLE
     "  RETURNING sid, sub)"
     " SELECT " ENDED_JSON,
     1, DB_STMT_WRITE},
    {"flow_user_credential", "SELECT sub, password_hash, disabled FROM flow.users WHERE username = $1::text",
     1, DB_STMT_READ},
    {"flow_user_rehash",
     "UPDATE flow.users SET password_hash = $3::text WHERE sub = $1::text AND password_hash = $2::text", 3,
     DB_STMT_WRITE},
    //  ---------------------------------------------------------- sessions
    //  auth_time in whole seconds: what ID tokens carry (OpenID Connect
    //  Core §2) is then exactly what we stored.
    //  Only for an enabled user, whose row it locks FOR SHARE until the
    //  step commits: a disable that committed first is seen (no row:
    //  DB_NOT_FOUND), and one that comes later waits for this session and
    //  then revokes it (flow_user_revoke_sessions runs after the UPDATE).
    //  Either way no session of a disabled user outlives the disable.
    {"flow_session_insert",
     "INSERT INTO flow.sessions (sid, handle_hash, sub, auth_time, amr, expires_at)"
     " SELECT $1::text, $2::bytea, u.sub, date_trunc('second', now()), $4::jsonb,"
     " date_trunc('second', now()) + make_interval(secs => $5::double precision)"
     " FROM flow.users u WHERE u.sub = $3::text AND NOT u.disabled FOR SHARE"
     " RETURNING " EPOCH ("auth_time") ", " EPOCH ("expires_at"),
     5, DB_STMT_WRITE},
    {"flow_session_get",
     "SELECT " SESSION_JSON " FROM flow.sessions s JOIN flow.users u ON u.sub = s.sub"
     " WHERE s.handle_hash = $1::bytea AND " SESSION_LIVE,
     1, DB_STMT_READ},
    {"flow_session_get_by_sid",
     "SELECT " SESSION_JSON " FROM flow.sessions s JOIN flow.users u ON u.sub = s.sub"
     " WHERE s.sid = $1::text AND " SESSION_LIVE,
     1, DB_STMT_READ},
    //  The session a new sign-in in the same browser replaces (ENDED_JSON:
    //  [] when it had already ended).
    {"flow_session_revoke",
     "WITH s AS (UPDATE flow.sessions SET revoked_at = now() WHERE sid = $1::text AND " REVOCABLE
     "  AND logout_queued_at IS NULL RETURNING sid, sub)"
     " SELECT " ENDED_JSON,
     1, DB_STMT_WRITE},
    //  Before a code is issued for a client: the session was used now, from
    //  this address and user agent, and served that client. No row: the
    //  session is not live.
    {"flow_session_touch",
     "WITH s AS (UPDATE flow.sessions SET last_used_at = now(),"
     "  address = COALESCE($4::text, address), user_agent = COALESCE($5::text, user_agent)"
     "  WHERE sid = $1::text AND revoked_at IS NULL AND expires_at > now() AND logout_queued_at IS NULL"
     "  RETURNING sid),"
     " c AS (INSERT INTO flow.session_clients (sid, client_id, client_name)"
     "  SELECT sid, $2::text, $3::text FROM s WHERE $2::text IS NOT NULL"
     "  ON CONFLICT (sid, client_id) DO UPDATE SET last_at = now(), client_name = EXCLUDED.client_name)"
     " SELECT sid FROM s",
     5, DB_STMT_WRITE},
    //  Ends a live session of the user whose live session the handle $1
    //  opens: that one ($2 NULL) or another of theirs ($2 its sid). The
    //  answer: the ended session's sid, sub and the clients it served.
    {"flow_session_end",
     "WITH me AS (SELECT s.sid, s.sub FROM flow.sessions s JOIN flow.users u ON u.sub = s.sub"
     "  WHERE s.handle_hash = $1::bytea AND " SESSION_LIVE "),"
     " t AS (UPDATE flow.sessions t SET revoked_at = now() FROM me"
     "  WHERE t.sub = me.sub AND t.sid = COALESCE($2::text, me.sid) AND t.revoked_at IS NULL"
     "  AND t.expires_at > now() RETURNING t.sid, t.sub, t.sid = me.sid AS current)"
     " SELECT json_build_object('sid', t.sid, 'sub', t.sub, 'current', t.current, 'clients', COALESCE((SELECT"
     "  json_agg(json_build_object('client_id', c.client_id, 'name', c.client_name) ORDER BY c.first_at)"
     "  FROM flow.session_clients c WHERE c.sid = t.sid), '[]'::json))::text FROM t",
     2, DB_STMT_WRITE},
    //  The live sessions of the user whose live session the handle opens,
    //  newest first; [] when the handle opens none.
    {"flow_session_list",
     "WITH me AS (SELECT s.sid, s.sub FROM flow.sessions s JOIN flow.users u ON u.sub = s.sub"
     "  WHERE s.handle_hash = $1::bytea AND " SESSION_LIVE ")"
     " SELECT " SESSION_INFO_LIST ("t.sid = me.sid") "::text"
                                                     " FROM me JOIN flow.sessions t ON t.sub = me.sub AND "
                                                     "t.revoked_at IS NULL AND t.expires_at > now()",
     1, DB_STMT_READ},
    //  An operator's view of a user's sessions: the user's sub and their
    //  live sessions, newest first; no row for an unknown username.
    {"flow_user_sessions",
     "SELECT u.sub, (SELECT " SESSION_INFO_LIST (
         "false") " FROM flow.sessions t"
                  "  WHERE t.sub = u.sub AND t.revoked_at IS NULL AND t.expires_at > now())::text"
                  " FROM flow.users u WHERE u.username = $1::text",
     1, DB_STMT_READ},
    //  An operator ends one live session of a user ($2) or all of them ($2
    //  null): the user's sub and the sessions ended; no row for an unknown
    //  username.
    {"flow_user_session_revoke",
     "WITH u AS (SELECT sub FROM flow.users WHERE username = $1::text),"
     " s AS (UPDATE flow.sessions SET revoked_at = now() WHERE sub IN (SELECT sub FROM u)"
     "  AND ($2::text IS NULL OR sid = $2::text) AND " REVOCABLE " RETURNING sid, sub)"
     " SELECT u.sub, " ENDED_JSON " FROM u",
     2, DB_STMT_WRITE},
    //  ---------------------------------------------------------- executions
    {"flow_exec_get",
     "SELECT " EXEC_COLUMNS " FROM flow.executions WHERE handle_hash = $1::bytea AND expires_at > now()", 1,
     DB_STMT_READ},
    {"flow_exec_expire",
     "UPDATE flow.executions SET status = 'expired', updated_at = now() WHERE ctid = ANY (ARRAY"
     " (SELECT ctid FROM flow.executions WHERE status IN ('active', 'running', 'waiting') AND expires_at <= "
     "now()"
     "  ORDER BY expires_at LIMIT $1::integer FOR UPDATE SKIP LOCKED))",
     1, DB_STMT_WRITE},
    //  ---------------------------------------------------------- engine
    //  ON CONFLICT DO NOTHING: replicas starting together store a version
    //  once; the answer says whether the stored graph is this one (jsonb
    //  equality ignores key order and white space).
    {"flow_definition_put",
     "WITH ins AS (INSERT INTO flow.definitions (name, version, start_node, graph)"
     "  VALUES ($1::text, $2::int, $3::text, $4::jsonb) ON CONFLICT (name, version) DO NOTHING RETURNING 1)"
     " SELECT EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM flow.definitions"
     "  WHERE name = $1::text AND version = $2::int AND graph = $4::jsonb)",
     4, DB_STMT_WRITE},
    //  Asked again in a statement of its own when flow_definition_put said
    //  no: a replica that inserted the same version concurrently committed
    //  after that statement's snapshot.
    {"flow_definition_same",
     "SELECT EXISTS (SELECT 1 FROM flow.definitions WHERE name = $1::text AND version = $2::int"
     " AND graph = $3::jsonb)",
     3, DB_STMT_READ},
    {"flow_definition_get",
     "SELECT graph::text FROM flow.definitions WHERE name = $1::text AND version = $2::int", 2, DB_STMT_READ},
    {"flow_exec_start",
     "INSERT INTO flow.executions (handle_hash, flow_name, flow_version, node, context, status, csrf, "
     "expires_at)"
     " VALUES ($1::bytea, $2::text, $3::int, $4::text, $5::jsonb, 'running', $6::text,"
     " now() + make_interval(secs => $7::double precision))"
     " RETURNING " EXEC_COLUMNS,
     7, DB_STMT_WRITE},
    //  docs/flows.md: a submission is counted before anything is checked,
    //  and only at the node the page was made for (a stale page counts nothing).
    {"flow_exec_submit",
     "UPDATE flow.executions SET attempts = attempts + 1, node_attempts = node_attempts + 1, updated_at = "
     "now()"
     " WHERE handle_hash = $1::bytea AND status IN ('running', 'active') AND node = $2::text"
     " AND expires_at > now() RETURNING " EXEC_COLUMNS,
     2, DB_STMT_WRITE},
    //  The execution an action token resumes, locked for the step: still at
    //  the token's node, waiting, unexpired.
    {"flow_exec_lock_waiting",
     "SELECT " EXEC_COLUMNS " FROM flow.executions WHERE id = $1::bigint AND node = $2::text"
     " AND status = 'waiting' AND expires_at > now() FOR UPDATE",
     2, DB_STMT_WRITE},
    //  engine_set_status: status and node move together, guarded by both.
    {"flow_exec_save",
     "UPDATE flow.executions SET status = $4::text, node = $5::text, context = $6::jsonb, ui = $7::jsonb,"
     " node_attempts = CASE WHEN node = $5::text THEN node_attempts ELSE 0 END,"
     " session_sid = COALESCE($8::text, session_sid), updated_at = now()"
     " WHERE id = $1::bigint AND status = $2::text AND node = $3::text AND expires_at > now()",
     8, DB_STMT_WRITE},
    //  A login that succeeded through an action token gives its session to
    //  the flow handle's holder once.
    {"flow_exec_claim_session",
     "UPDATE flow.executions SET session_sid = $2::text, updated_at = now()"
     " WHERE id = $1::bigint AND status = 'succeeded' AND session_sid IS NULL AND expires_at > now()",
     2, DB_STMT_WRITE},
    {"flow_action_insert",
     "INSERT INTO flow.action_tokens (hash, purpose, execution_id, node, expires_at)"
     " VALUES ($1::bytea, $2::text, $3::bigint, $4::text, now() + make_interval(secs => $5::double "
     "precision))"
     " RETURNING " EPOCH ("expires_at"),
     5, DB_STMT_WRITE},
    //  flow.action_get: what the confirm page shows; changes nothing.
    {"flow_action_peek",
     "SELECT json_build_object('flow_name', e.flow_name, 'version', e.flow_version,"
     " 'email_hint', e.context->'email_hint', 'locale', e.context->'locale', 'expires_at', " EPOCH (
         "t.expires_at") ")::text"
                         " FROM flow.action_tokens t JOIN flow.executions e ON e.id = t.execution_id"
                         " WHERE t.hash = $1::bytea AND t.purpose = $2::text AND t.used_at IS NULL AND "
                         "t.expires_at > now()"
                         " AND e.node = t.node AND e.status = 'waiting' AND e.expires_at > now()",
     2, DB_STMT_READ},
    //  ARCHITECTURE.md, "Tokens": consuming is one conditional UPDATE whose
    //  row count decides; of two racing clicks, one finds used_at set.
    {"flow_action_consume",
     "UPDATE flow.action_tokens SET used_at = now()"
     " WHERE hash = $1::bytea AND purpose = $2::text AND used_at IS NULL AND expires_at > now()"
     " RETURNING execution_id, node",
     2, DB_STMT_WRITE},
    {"flow_action_sweep",
     "DELETE FROM flow.action_tokens WHERE ctid = ANY (ARRAY (SELECT ctid FROM flow.action_tokens"
     " WHERE expires_at <= now() ORDER BY expires_at LIMIT $1::integer FOR UPDATE SKIP LOCKED))",
     1, DB_STMT_WRITE},
    //  identify: an address finds its user whatever the case of its letters.
    {"flow_user_get_by_email",
     "SELECT " USER_JSON " FROM flow.users WHERE lower(email) = lower($1::text) ORDER BY created_at LIMIT 1",
     1, DB_STMT_READ},
    {"flow_user_password_by_sub",
     "WITH u AS (UPDATE flow.users SET password_hash = $2::text, password_changed_at = now()"
     "  WHERE sub = $1::text RETURNING sub),"
     " s AS (UPDATE flow.sessions SET revoked_at = now()"
     "  WHERE sub IN (SELECT sub FROM u) AND " REVOCABLE " RETURNING sid, sub)"
     " SELECT " ENDED_JSON " FROM u",
     2, DB_STMT_WRITE},
    {"flow_user_email_verified", "UPDATE flow.users SET email_verified = true WHERE sub = $1::text", 1,
     DB_STMT_WRITE},
    {"flow_totp_get", "SELECT secret_sealed, last_step FROM flow.user_totp WHERE sub = $1::text", 1,
     DB_STMT_READ},
    {"flow_totp_put",
     "INSERT INTO flow.user_totp (sub, secret_sealed, last_step) VALUES ($1::text, $2::text, $3::bigint)"
     " ON CONFLICT (sub) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, last_step = "
     "EXCLUDED.last_step,"
     " enrolled_at = now()",
     3, DB_STMT_WRITE},
    //  RFC 6238 §5.2: a step once accepted is never accepted again; the
    //  guard makes two racing submissions of one code accept it once.
    {"flow_totp_use",
     "UPDATE flow.user_totp SET last_step = $2::bigint WHERE sub = $1::text AND last_step < $2::bigint", 2,
     DB_STMT_WRITE},
    {"flow_recovery_replace",
     "WITH d AS (DELETE FROM flow.recovery_codes WHERE sub = $1::text)"
     " INSERT INTO flow.recovery_codes (sub, code_hash)"
     " SELECT $1::text, decode(h, 'hex') FROM unnest(string_to_array($2::text, ',')) AS h",
     2, DB_STMT_WRITE},
    //  An operator removes a user's second factor: their authenticator app
    //  and recovery codes. The user's sub, whether they had an app, and how
    //  many recovery codes went; no row for an unknown username.
    {"flow_totp_reset",
     "WITH u AS (SELECT sub FROM flow.users WHERE username = $1::text),"
     " t AS (DELETE FROM flow.user_totp WHERE sub IN (SELECT sub FROM u) RETURNING 1),"
     " r AS (DELETE FROM flow.recovery_codes WHERE sub IN (SELECT sub FROM u) RETURNING 1)"
     " SELECT u.sub, EXISTS (SELECT 1 FROM t), (SELECT count(*) FROM r) FROM u",
     1, DB_STMT_WRITE},
    {"flow_recovery_use",
     "UPDATE flow.recovery_codes SET used_at = now() WHERE sub = $1::text AND code_hash = $2::bytea"
     " AND used_at IS NULL",
     2, DB_STMT_WRITE},
    //  ---------------------------------------------------------- janitor (flow_janitor.c)
    //  One replica's janitor works at a time: a session advisory lock.
    {"flow_janitor_lock", "SELECT pg_try_advisory_lock(hashtext('ostiary.flow.janitor'))", 0, DB_STMT_WRITE},
    {"flow_janitor_unlock", "SELECT pg_advisory_unlock(hashtext('ostiary.flow.janitor'))", 0, DB_STMT_WRITE},
    //  Up to $1 sessions that expired unrevoked and whose clients were not
    //  told yet, marked told: the caller queues their back-channel logout in
    //  the same transaction (sessions_ended). SKIP LOCKED leaves a session a
    //  request is touching to the next round; the touch then finds it
    //  marked and no longer live.
    {"flow_session_expire",
     "WITH s AS (UPDATE flow.sessions SET logout_queued_at = now() WHERE ctid = ANY (ARRAY (SELECT ctid FROM "
     "flow.sessions"
     "  WHERE revoked_at IS NULL AND logout_queued_at IS NULL AND expires_at <= now()"
     "  ORDER BY expires_at LIMIT $1::integer FOR UPDATE SKIP LOCKED)) RETURNING sid, sub)"
     " SELECT " ENDED_JSON,
     1, DB_STMT_WRITE},
    //  $1: rows per statement, $2: retention in seconds. Each walks the index
    //  made for it (migration 012_purge_indexes) oldest first and deletes
    //  the rows it locked by their ctid, so that a batch costs what it
    //  deletes, not the table; SKIP LOCKED leaves a row a request is working
    //  on to the next batch.
    {"flow_purge_executions",
     "DELETE FROM flow.executions WHERE ctid = ANY (ARRAY (SELECT ctid FROM flow.executions"
     " WHERE status IN ('succeeded', 'failed', 'expired')"
     " AND updated_at < now() - make_interval(secs => $2::double precision) AND expires_at <= now()"
     " ORDER BY updated_at LIMIT $1::integer FOR UPDATE SKIP LOCKED))",
     2, DB_STMT_WRITE},
    {"flow_purge_sessions",
     "DELETE FROM flow.sessions WHERE ctid = ANY (ARRAY (SELECT ctid FROM flow.sessions"
     " WHERE (revoked_at IS NOT NULL OR logout_queued_at IS NOT NULL)"
     " AND least(expires_at, coalesce(revoked_at, expires_at)) < now() - make_interval(secs => "
     "$2::double precision)"
     " ORDER BY least(expires_at, coalesce(revoked_at, expires_at)) LIMIT $1::integer FOR UPDATE SKIP "
     "LOCKED))",
     2, DB_STMT_WRITE},
    {"flow_purge_outbox",
     "DELETE FROM flow.outbox WHERE ctid = ANY (ARRAY (SELECT ctid FROM flow.outbox WHERE status IN ('sent', "
     "'dead')"
     " AND coalesce(sent_at, created_at) < now() - make_interval(secs => $2::double precision)"
     " ORDER BY coalesce(sent_at, created_at) LIMIT $1::integer FOR UPDATE SKIP LOCKED))",
     2, DB_STMT_WRITE},
};

int
flow_store_prepare (db_t *db)
{
    return db_prepare_all (db, s_stmts, sizeof s_stmts / sizeof s_stmts[0]);
}

static db_status_t
s_exec (db_t *db, const char *name, int nparams, const char *const *params, PGresult **res)
{
    return db_exec_logged (db, name, nparams, params, res);
}

int
flow_store_ping (db_t *db)
{
    return s_exec (db, "flow_ping", 0, NULL, NULL) == DB_OK ? 0 : -1;
}

//  A handle hash as a bytea parameter.
static void
s_hash_text (const unsigned char hash[FLOW_HASH_BYTES], char out[2 * FLOW_HASH_BYTES + 3])
{
    db_bytea_text (hash, FLOW_HASH_BYTES, out);
}

//  The JSON text of column col of the first row, parsed; NULL on bad data.
static json_t *
s_json_value (const PGresult *res, int col)
{
    if (PQntuples (res) < 1 || PQgetisnull (res, 0, col))
        return NULL;
    json_error_t err;
    json_t *value = json_loads (PQgetvalue (res, 0, col), JSON_DECODE_ANY, &err);
    if (!value)
        log_error ("flow store: the database returned JSON that does not parse");
    return value;
}

//  A single-row statement whose only column is a JSON object: *out, or
//  DB_NOT_FOUND when no row matched.
static db_status_t
s_json_row (db_t *db, const char *name, int nparams, const char *const *params, json_t **out)
{
    *out = NULL;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, name, nparams, params, &res);
    if (st == DB_OK) {
        if (PQntuples (res) == 0)
            st = DB_NOT_FOUND;
        else if (!(*out = s_json_value (res, 0)))
            st = DB_ERROR;
    }
    PQclear (res);
    return st;
}

//  A statement without parameters that deletes or updates rows: *count, how
//  many (0 on failure).
static db_status_t
s_sweep (db_t *db, const char *name, long batch, long *count)
{
    *count = 0;
    char batch_text[24];
    snprintf (batch_text, sizeof batch_text, "%ld", batch);
    const char *params[] = {batch_text};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, name, 1, params, &res);
    if (st == DB_OK)
        *count = atol (PQcmdTuples (res));
    PQclear (res);
    return st;
}

//  The decimal text of a row id, for a bigint parameter.
static void
s_id_text (int64_t id, char out[24])
{
    snprintf (out, 24, "%lld", (long long)id);
}

static int64_t
s_int64 (const PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? 0 : strtoll (PQgetvalue (res, row, col), NULL, 10);
}

//  ------------------------------------------------------------------ users

db_status_t
flow_store_user_insert (db_t *db, const char *sub, const char *username, const char *password_hash,
                        int disabled, const json_t *claims, json_t **user)
{
    *user = NULL;
    char *text = json_dumps (claims, JSON_COMPACT);
    if (!text)
        return DB_ERROR;
    const char *params[] = {sub, username, password_hash, disabled ? "true" : "false", text};
    db_status_t st = s_json_row (db, "flow_user_insert", 5, params, user);
    free (text);
    //  No row: ON CONFLICT (username) kept the existing user.
    return st == DB_NOT_FOUND ? DB_CONFLICT : st;
}

db_status_t
flow_store_user_list (db_t *db, const char *after, long limit, json_t **users)
{
    *users = NULL;
    char lim[24];
    snprintf (lim, sizeof lim, "%ld", limit);
    const char *params[] = {after, lim};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "flow_user_list", 2, params, &res);
    if (st != DB_OK)
        return st;
    json_t *list = json_array ();
    for (int i = 0; list && i < PQntuples (res); i++) {
        json_error_t err;
        json_t *user = json_loads (PQgetvalue (res, i, 0), 0, &err);
        if (!user || json_array_append_new (list, user) != 0) {
            json_decref (list);
            list = NULL;
        }
    }
    PQclear (res);
    *users = list;
    return list ? DB_OK : DB_ERROR;
}

db_status_t
flow_store_user_get (db_t *db, const char *username, const char *sub, json_t **user)
{
    const char *params[] = {username ? username : sub};
    return s_json_row (db, username ? "flow_user_get_by_username" : "flow_user_get_by_sub", 1, params, user);
}

//  A statement that returns one row when it changed something.
static db_status_t
s_changed (db_t *db, const char *name, int nparams, const char *const *params)
{
    PGresult *res = NULL;
    db_status_t st = s_exec (db, name, nparams, params, &res);
    if (st == DB_OK && PQntuples (res) == 0 && atoi (PQcmdTuples (res)) == 0)
        st = DB_NOT_FOUND;
    PQclear (res);
    return st;
}

//  A statement whose one row (DB_NOT_FOUND without) has the JSON array of
//  the sessions it ended (ENDED_JSON) in its last column.
static db_status_t
s_ended (db_t *db, const char *name, int nparams, const char *const *params, json_t **ended)
{
    *ended = NULL;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, name, nparams, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    if (st == DB_OK && !(*ended = s_json_value (res, PQnfields (res) - 1)))
        st = DB_ERROR;
    PQclear (res);
    return st;
}

db_status_t
flow_store_user_set_password (db_t *db, const char *username, const char *password_hash, json_t **ended)
{
    const char *params[] = {username, password_hash};
    return s_ended (db, "flow_user_set_password", 2, params, ended);
}

db_status_t
flow_store_user_revoke_sessions (db_t *db, const char *sub, json_t **ended)
{
    const char *params[] = {sub};
    return s_ended (db, "flow_user_revoke_sessions", 1, params, ended);
}

db_status_t
flow_store_user_set_admin (db_t *db, const char *username, int admin, char sub[FLOW_SUB_MAX + 1])
{
    const char *params[] = {username, admin ? "true" : "false"};
    PGresult *res = NULL;
    sub[0] = '\0';
    db_status_t st = s_exec (db, "flow_user_set_admin", 2, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    if (st == DB_OK)
        snprintf (sub, FLOW_SUB_MAX + 1, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    return st;
}

db_status_t
flow_store_user_is_admin (db_t *db, const char *sub, int *admin)
{
    const char *params[] = {sub};
    PGresult *res = NULL;
    *admin = 0;
    db_status_t st = s_exec (db, "flow_user_roles", 1, params, &res);
    if (st == DB_OK && PQntuples (res) == 1)
        *admin = PQgetvalue (res, 0, 0)[0] == 't';
    PQclear (res);
    return st;
}

db_status_t
flow_store_user_set_disabled (db_t *db, const char *username, int disabled, char sub[FLOW_SUB_MAX + 1])
{
    const char *params[] = {username, disabled ? "true" : "false"};
    PGresult *res = NULL;
    sub[0] = '\0';
    db_status_t st = s_exec (db, "flow_user_set_disabled", 2, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    if (st == DB_OK)
        snprintf (sub, FLOW_SUB_MAX + 1, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    return st;
}

db_status_t
flow_store_user_credential (db_t *db, const char *username, flow_cred_t *cred)
{
    memset (cred, 0, sizeof *cred);
    const char *params[] = {username};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "flow_user_credential", 1, params, &res);
    if (st == DB_OK && PQntuples (res) == 0)
        st = DB_NOT_FOUND;
    if (st == DB_OK) {
        snprintf (cred->sub, sizeof cred->sub, "%s", PQgetvalue (res, 0, 0));
        if (!PQgetisnull (res, 0, 1) && !(cred->password_hash = strdup (PQgetvalue (res, 0, 1))))
            st = DB_ERROR;
        cred->disabled = strcmp (PQgetvalue (res, 0, 2), "t") == 0;
    }
    PQclear (res);
    return st;
}

void
flow_cred_clear (flow_cred_t *cred)
{
    secure_free_str (&cred->password_hash);
    memset (cred, 0, sizeof *cred);
}

db_status_t
flow_store_user_rehash (db_t *db, const char *sub, const char *old_hash, const char *new_hash)
{
    const char *params[] = {sub, old_hash, new_hash};
    return s_exec (db, "flow_user_rehash", 3, params, NULL);
}

//  ------------------------------------------------------------------ sessions

db_status_t
flow_store_session_insert (db_t *db, const char *sid, const unsigned char hash[FLOW_HASH_BYTES],
                           const char *sub, const json_t *amr, long ttl, int64_t *auth_time,
                           int64_t *expires_at)
{
    *auth_time = 0;
    *expires_at = 0;
    char hex[2 * FLOW_HASH_BYTES + 3];
    s_hash_text (hash, hex);
    char *amr_text = json_dumps (amr, JSON_COMPACT | JSON_ENCODE_ANY);
    char ttl_text[24];
    snprintf (ttl_text, sizeof ttl_text, "%ld", ttl);
    if (!amr_text)
        return DB_ERROR;
    const char *params[] = {sid, hex, sub, amr_text, ttl_text};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "flow_session_insert", 5, params, &res);
    //  No row: the user is disabled (or gone).
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    if (st == DB_OK) {
        *auth_time = s_int64 (res, 0, 0);
        *expires_at = s_int64 (res, 0, 1);
    }
    PQclear (res);
    free (amr_text);
    return st;
}

db_status_t
flow_store_session_get (db_t *db, const unsigned char *hash, const char *sid, json_t **session)
{
    char hex[2 * FLOW_HASH_BYTES + 3];
    if (hash) {
        s_hash_text (hash, hex);
        const char *params[] = {hex};
        return s_json_row (db, "flow_session_get", 1, params, session);
    }
    const char *params[] = {sid};
    return s_json_row (db, "flow_session_get_by_sid", 1, params, session);
}

db_status_t
flow_store_session_revoke (db_t *db, const char *sid, json_t **ended)
{
    const char *params[] = {sid};
    return s_ended (db, "flow_session_revoke", 1, params, ended);
}

db_status_t
flow_store_session_touch (db_t *db, const char *sid, const char *client_id, const char *client_name,
                          const char *address, const char *user_agent)
{
    const char *params[] = {sid, client_id, client_id ? client_name : NULL, address, user_agent};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "flow_session_touch", 5, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    PQclear (res);
    return st;
}

db_status_t
flow_store_session_end (db_t *db, const unsigned char hash[FLOW_HASH_BYTES], const char *sid, json_t **ended)
{
    char hex[2 * FLOW_HASH_BYTES + 3];
    s_hash_text (hash, hex);
    const char *params[] = {hex, sid};
    return s_json_row (db, "flow_session_end", 2, params, ended);
}

db_status_t
flow_store_user_sessions (db_t *db, const char *username, char sub[FLOW_SUB_MAX + 1], json_t **sessions)
{
    const char *params[] = {username};
    PGresult *res = NULL;
    sub[0] = '\0';
    *sessions = NULL;
    db_status_t st = s_exec (db, "flow_user_sessions", 1, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    if (st == DB_OK) {
        snprintf (sub, FLOW_SUB_MAX + 1, "%s", PQgetvalue (res, 0, 0));
        if (!(*sessions = s_json_value (res, 1)))
            st = DB_ERROR;
    }
    PQclear (res);
    return st;
}

db_status_t
flow_store_user_session_revoke (db_t *db, const char *username, const char *sid, char sub[FLOW_SUB_MAX + 1],
                                json_t **ended)
{
    const char *params[] = {username, sid};
    PGresult *res = NULL;
    sub[0] = '\0';
    *ended = NULL;
    db_status_t st = s_exec (db, "flow_user_session_revoke", 2, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    if (st == DB_OK) {
        snprintf (sub, FLOW_SUB_MAX + 1, "%s", PQgetvalue (res, 0, 0));
        if (!(*ended = s_json_value (res, 1)))
            st = DB_ERROR;
    }
    PQclear (res);
    return st;
}

db_status_t
flow_store_session_list (db_t *db, const unsigned char hash[FLOW_HASH_BYTES], json_t **sessions)
{
    char hex[2 * FLOW_HASH_BYTES + 3];
    s_hash_text (hash, hex);
    const char *params[] = {hex};
    return s_json_row (db, "flow_session_list", 1, params, sessions);
}

//  ------------------------------------------------------------------ executions

void
flow_exec_clear (flow_exec_t *exec)
{
    json_decref (exec->context);
    json_decref (exec->ui);
    //  The CSRF token is no key by itself, but there is no reason to leave it.
    secure_wipe (exec, sizeof *exec);
}

//  Fills exec from the EXEC_COLUMNS of the first row; -1 on bad data.
static int
s_exec_row (const PGresult *res, flow_exec_t *exec)
{
    memset (exec, 0, sizeof *exec);
    exec->id = s_int64 (res, 0, 0);
    snprintf (exec->flow_name, sizeof exec->flow_name, "%s", PQgetvalue (res, 0, 1));
    exec->flow_version = (int)s_int64 (res, 0, 2);
    snprintf (exec->node, sizeof exec->node, "%s", PQgetvalue (res, 0, 3));
    exec->context = s_json_value (res, 4);
    snprintf (exec->status, sizeof exec->status, "%s", PQgetvalue (res, 0, 5));
    snprintf (exec->csrf, sizeof exec->csrf, "%s", PQgetvalue (res, 0, 6));
    exec->attempts = (long)s_int64 (res, 0, 7);
    snprintf (exec->session_sid, sizeof exec->session_sid, "%s", PQgetvalue (res, 0, 8));
    exec->expires_at = s_int64 (res, 0, 9);
    exec->ui = s_json_value (res, 10);
    exec->node_attempts = (long)s_int64 (res, 0, 11);
    return json_is_object (exec->context) && json_is_object (exec->ui) ? 0 : -1;
}

//  A statement returning EXEC_COLUMNS: exec, or DB_NOT_FOUND.
static db_status_t
s_exec_params (db_t *db, const char *name, int nparams, const char *const *params, flow_exec_t *exec)
{
    memset (exec, 0, sizeof *exec);
    PGresult *res = NULL;
    db_status_t st = s_exec (db, name, nparams, params, &res);
    if (st == DB_OK && PQntuples (res) == 0)
        st = DB_NOT_FOUND;
    if (st == DB_OK && s_exec_row (res, exec) != 0) {
        flow_exec_clear (exec);
        st = DB_ERROR;
    }
    PQclear (res);
    return st;
}

static db_status_t
s_exec_one (db_t *db, const char *name, const unsigned char hash[FLOW_HASH_BYTES], flow_exec_t *exec)
{
    char hex[2 * FLOW_HASH_BYTES + 3];
    s_hash_text (hash, hex);
    const char *params[] = {hex};
    return s_exec_params (db, name, 1, params, exec);
}

db_status_t
flow_store_exec_get (db_t *db, const unsigned char hash[FLOW_HASH_BYTES], flow_exec_t *exec)
{
    return s_exec_one (db, "flow_exec_get", hash, exec);
}

db_status_t
flow_store_exec_expire (db_t *db, long batch, long *count)
{
    return s_sweep (db, "flow_exec_expire", batch, count);
}

//  ------------------------------------------------------------------ engine

db_status_t
flow_store_definition_put (db_t *db, const char *name, int version, const char *start, const json_t *graph,
                           int *same)
{
    *same = 0;
    char ver[16];
    snprintf (ver, sizeof ver, "%d", version);
    char *text = json_dumps (graph, JSON_COMPACT);
    if (!text)
        return DB_ERROR;
    const char *params[] = {name, ver, start, text};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "flow_definition_put", 4, params, &res);
    if (st == DB_OK)
        *same = PQntuples (res) == 1 && !strcmp (PQgetvalue (res, 0, 0), "t");
    PQclear (res);
    res = NULL;
    if (st == DB_OK && !*same) {
        const char *again[] = {name, ver, text};
        st = s_exec (db, "flow_definition_same", 3, again, &res);
        if (st == DB_OK)
            *same = PQntuples (res) == 1 && !strcmp (PQgetvalue (res, 0, 0), "t");
        PQclear (res);
    }
    free (text);
    return st;
}

db_status_t
flow_store_definition_get (db_t *db, const char *name, int version, char **graph)
{
    *graph = NULL;
    char ver[16];
    snprintf (ver, sizeof ver, "%d", version);
    const char *params[] = {name, ver};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "flow_definition_get", 2, params, &res);
    if (st == DB_OK && PQntuples (res) == 0)
        st = DB_NOT_FOUND;
    if (st == DB_OK && !(*graph = strdup (PQgetvalue (res, 0, 0))))
        st = DB_ERROR;
    PQclear (res);
    return st;
}

db_status_t
flow_store_exec_start (db_t *db, const unsigned char hash[FLOW_HASH_BYTES], const char *name, int version,
                       const char *node, const json_t *context, const char *csrf, long ttl, flow_exec_t *exec)
{
    memset (exec, 0, sizeof *exec);
    char hex[2 * FLOW_HASH_BYTES + 3];
    s_hash_text (hash, hex);
    char ver[16], ttl_text[24];
    snprintf (ver, sizeof ver, "%d", version);
    snprintf (ttl_text, sizeof ttl_text, "%ld", ttl);
    char *ctx = json_dumps (context, JSON_COMPACT);
    if (!ctx)
        return DB_ERROR;
    const char *params[] = {hex, name, ver, node, ctx, csrf, ttl_text};
    db_status_t st = s_exec_params (db, "flow_exec_start", 7, params, exec);
    free (ctx);
    return st;
}

db_status_t
flow_store_exec_submit (db_t *db, const unsigned char hash[FLOW_HASH_BYTES], const char *node,
                        flow_exec_t *exec)
{
    char hex[2 * FLOW_HASH_BYTES + 3];
    s_hash_text (hash, hex);
    const char *params[] = {hex, node};
    return s_exec_params (db, "flow_exec_submit", 2, params, exec);
}

db_status_t
flow_store_exec_lock_waiting (db_t *db, int64_t id, const char *node, flow_exec_t *exec)
{
    char idtext[24];
    s_id_text (id, idtext);
    const char *params[] = {idtext, node};
    return s_exec_params (db, "flow_exec_lock_waiting", 2, params, exec);
}

db_status_t
flow_store_exec_save (db_t *db, int64_t id, const char *from_status, const char *from_node,
                      const char *to_status, const char *to_node, const json_t *context, const json_t *ui,
                      const char *session_sid)
{
    char idtext[24];
    s_id_text (id, idtext);
    char *ctx = json_dumps (context, JSON_COMPACT);
    char *uitext = json_dumps (ui, JSON_COMPACT);
    db_status_t st = DB_ERROR;
    if (ctx && uitext) {
        const char *params[] = {idtext, from_status, from_node, to_status, to_node, ctx, uitext, session_sid};
        st = s_changed (db, "flow_exec_save", 8, params);
    }
    free (ctx);
    free (uitext);
    return st;
}

db_status_t
flow_store_exec_claim_session (db_t *db, int64_t id, const char *sid)
{
    char idtext[24];
    s_id_text (id, idtext);
    const char *params[] = {idtext, sid};
    return s_changed (db, "flow_exec_claim_session", 2, params);
}

db_status_t
flow_store_action_insert (db_t *db, const unsigned char hash[FLOW_HASH_BYTES], const char *purpose,
                          int64_t execution_id, const char *node, long ttl, int64_t *expires_at)
{
    *expires_at = 0;
    char hex[2 * FLOW_HASH_BYTES + 3], idtext[24], ttl_text[24];
    s_hash_text (hash, hex);
    s_id_text (execution_id, idtext);
    snprintf (ttl_text, sizeof ttl_text, "%ld", ttl);
    const char *params[] = {hex, purpose, idtext, node, ttl_text};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "flow_action_insert", 5, params, &res);
    if (st == DB_OK)
        *expires_at = s_int64 (res, 0, 0);
    PQclear (res);
    return st;
}

db_status_t
flow_store_action_peek (db_t *db, const unsigned char hash[FLOW_HASH_BYTES], const char *purpose,
                        json_t **info)
{
    char hex[2 * FLOW_HASH_BYTES + 3];
    s_hash_text (hash, hex);
    const char *params[] = {hex, purpose};
    return s_json_row (db, "flow_action_peek", 2, params, info);
}

db_status_t
flow_store_action_consume (db_t *db, const unsigned char hash[FLOW_HASH_BYTES], const char *purpose,
                           int64_t *execution_id, char node[65])
{
    *execution_id = 0;
    node[0] = '\0';
    char hex[2 * FLOW_HASH_BYTES + 3];
    s_hash_text (hash, hex);
    const char *params[] = {hex, purpose};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "flow_action_consume", 2, params, &res);
    if (st == DB_OK && PQntuples (res) == 0)
        st = DB_NOT_FOUND;
    if (st == DB_OK) {
        *execution_id = s_int64 (res, 0, 0);
        snprintf (node, 65, "%s", PQgetvalue (res, 0, 1));
    }
    PQclear (res);
    return st;
}

db_status_t
flow_store_action_sweep (db_t *db, long batch, long *count)
{
    return s_sweep (db, "flow_action_sweep", batch, count);
}

db_status_t
flow_store_user_by_email (db_t *db, const char *email, json_t **user)
{
    const char *params[] = {email};
    return s_json_row (db, "flow_user_get_by_email", 1, params, user);
}

db_status_t
flow_store_user_password_sub (db_t *db, const char *sub, const char *password_hash, json_t **ended)
{
    const char *params[] = {sub, password_hash};
    return s_ended (db, "flow_user_password_by_sub", 2, params, ended);
}

db_status_t
flow_store_user_email_verified (db_t *db, const char *sub)
{
    const char *params[] = {sub};
    return s_changed (db, "flow_user_email_verified", 1, params);
}

db_status_t
flow_store_totp_get (db_t *db, const char *sub, char **sealed, int64_t *last_step)
{
    *sealed = NULL;
    *last_step = -1;
    const char *params[] = {sub};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "flow_totp_get", 1, params, &res);
    if (st == DB_OK && PQntuples (res) == 0)
        st = DB_NOT_FOUND;
    if (st == DB_OK) {
        *last_step = s_int64 (res, 0, 1);
        if (!(*sealed = strdup (PQgetvalue (res, 0, 0))))
            st = DB_ERROR;
    }
    PQclear (res);
    return st;
}

db_status_t
flow_store_totp_put (db_t *db, const char *sub, const char *sealed, int64_t last_step)
{
    char step[24];
    snprintf (step, sizeof step, "%lld", (long long)last_step);
    const char *params[] = {sub, sealed, step};
    return s_exec (db, "flow_totp_put", 3, params, NULL);
}

db_status_t
flow_store_totp_use (db_t *db, const char *sub, int64_t step)
{
    char text[24];
    snprintf (text, sizeof text, "%lld", (long long)step);
    const char *params[] = {sub, text};
    return s_changed (db, "flow_totp_use", 2, params);
}

db_status_t
flow_store_recovery_replace (db_t *db, const char *sub, const unsigned char (*hashes)[FLOW_HASH_BYTES],
                             size_t count)
{
    char *list = malloc (count * (2 * FLOW_HASH_BYTES + 1) + 1);
    if (!list)
        return DB_ERROR;
    char *p = list;
    for (size_t i = 0; i < count; i++) {
        if (i)
            *p++ = ',';
        secure_hex (hashes[i], FLOW_HASH_BYTES, p);
        p += 2 * FLOW_HASH_BYTES;
    }
    *p = '\0';
    const char *params[] = {sub, list};
    db_status_t st = s_exec (db, "flow_recovery_replace", 2, params, NULL);
    free (list);
    return st;
}

db_status_t
flow_store_totp_reset (db_t *db, const char *username, char sub[FLOW_SUB_MAX + 1], int *had_totp,
                       long *recovery_codes)
{
    const char *params[] = {username};
    PGresult *res = NULL;
    sub[0] = '\0';
    *had_totp = 0;
    *recovery_codes = 0;
    db_status_t st = s_exec (db, "flow_totp_reset", 1, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    if (st == DB_OK) {
        snprintf (sub, FLOW_SUB_MAX + 1, "%s", PQgetvalue (res, 0, 0));
        *had_totp = PQgetvalue (res, 0, 1)[0] == 't';
        *recovery_codes = (long)s_int64 (res, 0, 2);
    }
    PQclear (res);
    return st;
}

db_status_t
flow_store_recovery_use (db_t *db, const char *sub, const unsigned char hash[FLOW_HASH_BYTES])
{
    char hex[2 * FLOW_HASH_BYTES + 3];
    s_hash_text (hash, hex);
    const char *params[] = {sub, hex};
    return s_changed (db, "flow_recovery_use", 2, params);
}

//  ------------------------------------------------------------------ janitor

db_status_t
flow_store_janitor_lock (db_t *db, int lock, int *got)
{
    *got = 0;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, lock ? "flow_janitor_lock" : "flow_janitor_unlock", 0, NULL, &res);
    *got = st == DB_OK && PQntuples (res) == 1 && PQgetvalue (res, 0, 0)[0] == 't';
    PQclear (res);
    return st;
}

db_status_t
flow_store_session_expire (db_t *db, long batch, json_t **ended)
{
    char batch_text[24];
    snprintf (batch_text, sizeof batch_text, "%ld", batch);
    const char *params[] = {batch_text};
    return s_ended (db, "flow_session_expire", 1, params, ended);
}

//  The purges of flow_store_janitor_purge, by kind.
static const char *const s_purges[] = {"flow_purge_executions", "flow_purge_sessions", "flow_purge_outbox"};

int
flow_store_janitor_kinds (void)
{
    return (int)(sizeof s_purges / sizeof s_purges[0]);
}

const char *
flow_store_janitor_kind_name (int kind)
{
    static const char *const names[] = {"finished execution", "ended session", "outbox"};
    return kind >= 0 && kind < flow_store_janitor_kinds () ? names[kind] : "?";
}

db_status_t
flow_store_janitor_purge (db_t *db, int kind, long batch, long retention_s, long *deleted)
{
    *deleted = 0;
    if (kind < 0 || kind >= flow_store_janitor_kinds ())
        return DB_ERROR;
    char batch_text[24], retention_text[24];
    snprintf (batch_text, sizeof batch_text, "%ld", batch);
    snprintf (retention_text, sizeof retention_text, "%ld", retention_s);
    const char *params[] = {batch_text, retention_text};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, s_purges[kind], 2, params, &res);
    if (st == DB_OK)
        *deleted = atol (PQcmdTuples (res));
    PQclear (res);
    return st;
}
