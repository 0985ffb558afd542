/*  token_store - the SQL of schema token. Nothing else in token-svc sees SQL.
 *  bytea values travel as text in the hex format ("\x0a1b..."), which
 *  PostgreSQL accepts as input; they come back through encode(..., 'hex').
 *  jsonb values travel as JSON text. */
#include "token_store.h"

#include "log.h"
#include "secure.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The members of a client that a registration and an update both write,
//  one a row: column, the expression that writes it (parameters $3 on, in
//  this order: token_client_insert and token_client_update share them),
//  the expression that reads it (CLIENT_COLS), how it travels (S_PARAM_*,
//  S_READ_*) and the member of token_client_t.
#define CLIENT_WRITTEN(X)                                                                                    \
    X ("name", "$3::text", "name", TEXT, name)                                                               \
    X ("redirect_uris", "$4::jsonb", "redirect_uris::text", JSON, redirect_uris)                             \
    X ("grant_types", "$5::jsonb", "grant_types::text", JSON, grant_types)                                   \
    X ("response_types", "$6::jsonb", "response_types::text", JSON, response_types)                          \
    X ("scopes", "$7::jsonb", "scopes::text", JSON, scopes)                                                  \
    X ("token_endpoint_auth_method", "$8::text", "token_endpoint_auth_method", CHARS, auth_method)           \
    X ("id_token_alg", "$9::text", "id_token_alg", CHARS, id_token_alg)                                      \
    X ("require_pkce", "$10::boolean",                                                                       \
       "CASE WHEN require_pkce IS NULL THEN '' WHEN require_pkce THEN 't' ELSE 'f' END", TRISTATE,           \
       require_pkce)                                                                                         \
    X ("first_party", "$11::boolean", "first_party", BOOL, first_party)                                      \
    X ("always_refresh", "$12::boolean", "always_refresh", BOOL, always_refresh)                             \
    X ("resource_server", "$13::boolean", "resource_server", BOOL, resource_server)                          \
    X ("refresh_grace_s", "$14::integer", "refresh_grace_s", INT, refresh_grace_s)                           \
    X ("refresh_grace_uses", "$15::integer", "refresh_grace_uses", INT, refresh_grace_uses)                  \
    X ("access_token_alg", "nullif($16::text, '')", "coalesce(access_token_alg, '')", CHARS,                 \
       access_token_alg)                                                                                     \
    X ("web_origins", "$17::jsonb", "web_origins::text", JSON, web_origins)                                  \
    X ("post_logout_redirect_uris", "$18::jsonb", "post_logout_redirect_uris::text", JSON, post_logout_uris) \
    X ("backchannel_logout_uri", "$19::text", "backchannel_logout_uri", TEXT, backchannel_uri)               \
    X ("backchannel_logout_session_required", "$20::boolean", "backchannel_logout_session_required", BOOL,   \
       backchannel_session_required)                                                                         \
    X ("refresh_bound_to_session", "$21::boolean", "refresh_bound_to_session", BOOL, refresh_bound)          \
    X ("frontchannel_logout_uri", "$22::text", "frontchannel_logout_uri", TEXT, frontchannel_uri)            \
    X ("frontchannel_logout_session_required", "$23::boolean", "frontchannel_logout_session_required", BOOL, \
       frontchannel_session_required)                                                                        \
    X ("access_token_ttl", "nullif($24::integer, 0)", "coalesce(access_token_ttl, 0)", INT,                  \
       access_token_ttl)                                                                                     \
    X ("id_token_ttl", "nullif($25::integer, 0)", "coalesce(id_token_ttl, 0)", INT, id_token_ttl)            \
    X ("disabled", "$26::boolean", "disabled", BOOL, disabled)
#define S_COUNT(col, write, read, kind, member) +1
#define S_NAME(col, write, read, kind, member) ", " col
#define S_WRITE(col, write, read, kind, member) ", " write
#define S_SET(col, write, read, kind, member) ", " col " = " write
#define S_READ_EXPR(col, write, read, kind, member) ", " read
//  How many members CLIENT_WRITTEN has: parameters $3 to $(2 + this).
enum { S_CLIENT_WRITTEN = 0 CLIENT_WRITTEN (S_COUNT) };
_Static_assert(S_CLIENT_WRITTEN == 24, "token_client_insert's $27 follows the last of CLIENT_WRITTEN");
//  The columns of a client, in the order s_client_from_row reads them: the
//  ones only a registration or a rotation writes, then CLIENT_WRITTEN.
#define CLIENT_COLS                                                                                          \
    "client_id, type, encode(secret_hash, 'hex'), extract(epoch FROM created_at)::bigint, version,"          \
    " CASE WHEN previous_secret_expires_at > now() THEN encode(previous_secret_hash, 'hex') END,"            \
    " CASE WHEN previous_secret_expires_at > now()"                                                          \
    "  THEN extract(epoch FROM previous_secret_expires_at)::bigint ELSE 0 END" CLIENT_WRITTEN (S_READ_EXPR)
//  Where CLIENT_WRITTEN's columns start in CLIENT_COLS.
#define CLIENT_COLS_WRITTEN 7
//  CLIENT_WRITTEN in token_client_insert and token_client_update.
#define CLIENT_NAMES CLIENT_WRITTEN (S_NAME)
#define CLIENT_VALUES CLIENT_WRITTEN (S_WRITE)
#define CLIENT_SETS CLIENT_WRITTEN (S_SET)
//  An access token ($1 jti, $2 client_id, $3 iat) that is on the revocation
//  list, or that its client had when it was disabled (tokens_revoked_at:
//  iat is whole seconds, so a token of the same second counts as before,
//  fail closed).
#define ACCESS_REVOKED                                                                                       \
    "(EXISTS (SELECT 1 FROM token.revoked_jtis WHERE jti = $1::text)"                                        \
    " OR EXISTS (SELECT 1 FROM token.clients k WHERE k.client_id = $2::text"                                 \
    " AND k.tokens_revoked_at >= to_timestamp($3::bigint)))"
//  The columns of a request, in the order s_request_from_row reads them.
#define REQUEST_COLS                                                                                         \
    "client_id, redirect_uri, redirect_uri_sent, response_mode, state, nonce, scopes::text, code_challenge," \
    " details::text, extract(epoch FROM created_at)::bigint, extract(epoch FROM expires_at)::bigint,"        \
    " claims::text"
//  A code or refresh family whose user was revoked (token.subject_revoke)
//  after they authenticated: auth_time is whole seconds, so a login in the
//  same second as the revocation counts as before it (fail closed).
#define SUBJECT_REVOKED(t)                                                                                   \
    "EXISTS (SELECT 1 FROM token.subject_revocations sr WHERE sr.sub = " t ".sub"                            \
    " AND sr.revoked_at >= to_timestamp(" t ".auth_time))"
//  The columns of a refresh token and its family, in the order
//  s_refresh_from_row reads them ($2: absolute lifetime, $3: idle timeout).
#define REFRESH_COLS                                                                                         \
    "f.id, f.client_id, f.sub, f.sid, f.auth_time, f.amr::text, f.scopes::text,"                             \
    " (f.revoked_at IS NOT NULL OR " SUBJECT_REVOKED (                                                       \
        "f") "),"                                                                                            \
             " (f.created_at <= now() - make_interval(secs => $2::double precision)"                         \
             "  OR f.last_used_at <= now() - make_interval(secs => $3::double precision)),"                  \
             " t.consumed_at IS NOT NULL,"                                                                   \
             " (t.consumed_at > now() - make_interval(secs => c.refresh_grace_s) AND t.grace_uses < "        \
             "c.refresh_grace_uses"                                                                          \
             "  AND NOT EXISTS (SELECT 1 FROM token.refresh_tokens s WHERE s.token_hash = t.successor_hash"  \
             "  AND s.consumed_at IS NOT NULL)) IS TRUE,"                                                    \
             " extract(epoch FROM t.created_at)::bigint,"                                                    \
             " extract(epoch FROM least(f.created_at + make_interval(secs => $2::double precision),"         \
             "  f.last_used_at + make_interval(secs => $3::double precision)))::bigint,"                     \
             " t.replaced_at IS NOT NULL, t.grace_uses, f.claims::text, f.acr"
//  A family's idle_mark after a use ($3: idle timeout): last_used_at rounded
//  down by at most IDLE_SLACK, so that most rotations leave it as it was and
//  stay HOT (migrations/token/011_purge_indexes.sql).
#define IDLE_SLACK "least(interval '1 day', make_interval(secs => $3::double precision / 8))"
#define IDLE_MARK "CASE WHEN idle_mark > now() - " IDLE_SLACK " THEN idle_mark ELSE now() END"
//  A family (alias t) that issued an access token still unexpired (plus
//  the largest clock-skew leeway).
#define FAMILY_ISSUING(t)                                                                                    \
    "EXISTS (SELECT 1 FROM token.family_jtis j WHERE j.family_id = " t ".id"                                 \
    " AND j.expires_at > now() - interval '5 minutes')"
//  The columns of a code, in the order s_code_from_row reads them.
#define CODE_COLS                                                                                            \
    "client_id, redirect_uri, redirect_uri_sent, code_challenge, nonce, scopes::text, sub, sid, auth_time,"  \
    " amr::text, (expires_at <= now() OR " SUBJECT_REVOKED ("codes") "), claims::text, acr"

static const db_stmt_t s_stmts[] = {
    {"token_ping", "SELECT count(*) FROM token.settings", 0, DB_STMT_READ},
    {"token_settings_load",
     "SELECT COALESCE(jsonb_object_agg(name, value), '{}'::jsonb)::text FROM token.settings", 0,
     DB_STMT_READ},
    //  Writers of settings take turns, so that a change based on the value
    //  in force (expected) reads what no other writer is changing.
    {"token_settings_lock", "LOCK TABLE token.settings IN SHARE ROW EXCLUSIVE MODE", 0, DB_STMT_WRITE},
    {"token_setting_set",
     "INSERT INTO token.settings (name, value, updated_at) VALUES ($1::text, to_jsonb($2::bigint), now())"
     " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
     2, DB_STMT_WRITE},
    {"token_setting_delete", "DELETE FROM token.settings WHERE name = $1::text", 1, DB_STMT_WRITE},
    //  A registration: $1 client_id, $2 type, CLIENT_WRITTEN, then the
    //  secret's keyed hash (NULL for a public client).
    {"token_client_insert",
     "INSERT INTO token.clients (client_id, type" CLIENT_NAMES ", secret_hash)"
     " VALUES ($1::text, $2::text" CLIENT_VALUES ", $27::bytea)",
     S_CLIENT_WRITTEN + 3, DB_STMT_WRITE},
    {"token_client_get", "SELECT " CLIENT_COLS " FROM token.clients WHERE client_id = $1::text", 1,
     DB_STMT_READ},
    {"token_client_list", "SELECT " CLIENT_COLS " FROM token.clients ORDER BY client_id", 0, DB_STMT_READ},
    {"token_client_delete", "DELETE FROM token.clients WHERE client_id = $1::text", 1, DB_STMT_WRITE},
    //  A rotation: with an overlap ($3 seconds) the hash in force becomes the
    //  previous one (a previous one still in its overlap is dropped: one
    //  overlap at a time); without, any previous one ends now.
    {"token_client_set_secret",
     "UPDATE token.clients SET secret_hash = $2::bytea, secret_rotated_at = now(), version = version + 1,"
     " updated_at = now(),"
     " previous_secret_hash = CASE WHEN $3::integer > 0 THEN secret_hash END,"
     " previous_secret_expires_at = CASE WHEN $3::integer > 0"
     "  THEN now() + make_interval(secs => $3::integer) END"
     " WHERE client_id = $1::text AND type = 'confidential' AND ($4::bigint = 0 OR version = $4::bigint)"
     " RETURNING version, coalesce(extract(epoch FROM previous_secret_expires_at)::bigint, 0)",
     4, DB_STMT_WRITE},
    //  An update: $1 client_id, $2 the version it was read at, CLIENT_WRITTEN.
    {"token_client_update",
     "UPDATE token.clients SET version = version + 1, updated_at = now()" CLIENT_SETS
     " WHERE client_id = $1::text AND version = $2::bigint",
     S_CLIENT_WRITTEN + 2, DB_STMT_WRITE},
    {"token_request_insert",
     "INSERT INTO token.authz_requests (id_hash, client_id, redirect_uri, redirect_uri_sent, response_mode, "
     "state,"
     " nonce, scopes, code_challenge, details, expires_at, claims)"
     " VALUES ($1::bytea, $2::text, $3::text, $4::boolean, $5::text, $6::text, $7::text, $8::jsonb, $9::text,"
     " $10::jsonb, now() + make_interval(secs => $11::double precision), $12::jsonb)"
     " RETURNING extract(epoch FROM created_at)::bigint, extract(epoch FROM expires_at)::bigint",
     12, DB_STMT_WRITE},
    {"token_request_get",
     "SELECT " REQUEST_COLS " FROM token.authz_requests"
     " WHERE id_hash = $1::bytea AND used_at IS NULL AND expires_at > now()",
     1, DB_STMT_READ},
    //  The one conditional UPDATE that uses a request up: a second call
    //  (token.issue_code or token.authorize_error) matches no row.
    {"token_request_consume",
     "UPDATE token.authz_requests SET used_at = now()"
     " WHERE id_hash = $1::bytea AND used_at IS NULL AND expires_at > now()"
     " RETURNING " REQUEST_COLS,
     1, DB_STMT_WRITE},
    {"token_code_insert",
     "INSERT INTO token.codes (code_hash, client_id, redirect_uri, redirect_uri_sent, code_challenge, nonce,"
     " scopes, sub, sid, auth_time, amr, expires_at, claims, acr)"
     " VALUES ($1::bytea, $2::text, $3::text, $4::boolean, $5::text, $6::text, $7::jsonb, $8::text, $9::text,"
     " $10::bigint, $11::jsonb, now() + make_interval(secs => $12::double precision), $13::jsonb, $14::text)",
     14, DB_STMT_WRITE},
    //  The code read without a lock, so that the tokens are signed
    //  before anything is written (token_code_redeem then decides).
    {"token_code_get",
     "SELECT " CODE_COLS ", consumed_at IS NOT NULL FROM token.codes WHERE code_hash = $1::bytea", 1,
     DB_STMT_READ},
    //  RFC 6749 §4.1.2: the exchange in one statement. code is
    //  the one conditional UPDATE that consumes the code (its row count
    //  decides between racers) and records the access token's jti (so that
    //  a replay always finds what to revoke); with $4 the refresh-token
    //  family starts with its first token ($5) and that jti. The family id is
    //  taken from the family's identity sequence first, as the code row
    //  cannot be updated twice in one statement. Returns (redeemed,
    //  family id or NULL).
    {"token_code_redeem",
     "WITH fid AS (SELECT CASE WHEN $4::boolean"
     " THEN nextval(pg_get_serial_sequence('token.refresh_families', 'id')) END AS id),"
     " code AS (UPDATE token.codes SET consumed_at = now(), issued_jti = $2::text,"
     " issued_exp = to_timestamp($3::bigint), family_id = (SELECT id FROM fid)"
     " WHERE code_hash = $1::bytea AND consumed_at IS NULL"
     " RETURNING client_id, sub, sid, auth_time, amr, scopes, family_id, claims, acr),"
     " fam AS (INSERT INTO token.refresh_families (id, client_id, sub, sid, auth_time, amr, scopes,"
     " claims, acr, session_bound)"
     " OVERRIDING SYSTEM VALUE SELECT family_id, client_id, sub, sid, auth_time, amr, scopes, claims, acr,"
     " sid IS NOT NULL AND NOT scopes ? 'offline_access' AND (SELECT k.refresh_bound_to_session"
     "  FROM token.clients k WHERE k.client_id = code.client_id)"
     " FROM code WHERE family_id IS NOT NULL RETURNING id),"
     " rt AS (INSERT INTO token.refresh_tokens (token_hash, family_id) SELECT $5::bytea, id FROM fam),"
     " jti AS (INSERT INTO token.family_jtis (jti, family_id, expires_at)"
     " SELECT $2::text, id, to_timestamp($3::bigint) FROM fam)"
     " SELECT EXISTS (SELECT 1 FROM code), (SELECT id FROM fam)",
     5, DB_STMT_WRITE},
    {"token_code_family",
     "SELECT family_id FROM token.codes"
     " WHERE code_hash = $1::bytea AND consumed_at IS NOT NULL AND family_id IS NOT NULL",
     1, DB_STMT_READ},
    {"token_code_consumed",
     "SELECT consumed_at IS NOT NULL, sub FROM token.codes WHERE code_hash = $1::bytea", 1, DB_STMT_READ},
    //  RFC 6749 §4.1.2: a code used twice revokes what its first use issued.
    {"token_code_revoke_issued",
     "INSERT INTO token.revoked_jtis (jti, expires_at, reason)"
     " SELECT issued_jti, issued_exp, 'code_replay' FROM token.codes"
     " WHERE code_hash = $1::bytea AND consumed_at IS NOT NULL AND issued_jti IS NOT NULL"
     " ON CONFLICT (jti) DO NOTHING",
     1, DB_STMT_WRITE},
    {"token_consent_get",
     "SELECT scopes::text FROM token.consents WHERE sub = $1::text AND client_id = $2::text", 2,
     DB_STMT_READ},
    {"token_consent_put",
     "INSERT INTO token.consents (sub, client_id, scopes) VALUES ($1::text, $2::text, $3::jsonb)"
     " ON CONFLICT (sub, client_id) DO UPDATE SET granted_at = now(), scopes ="
     " (SELECT jsonb_agg(DISTINCT s ORDER BY s)"
     "  FROM jsonb_array_elements_text(token.consents.scopes || EXCLUDED.scopes) AS s)",
     3, DB_STMT_WRITE},
    //  Is the access token revoked ($1 jti, $2 client_id, $3 iat), and does
    //  the client it was issued to still exist? One round trip.
    {"token_access_state",
     "SELECT " ACCESS_REVOKED ", EXISTS (SELECT 1 FROM token.clients WHERE client_id = $2::text)", 3,
     DB_STMT_READ},
    //  ---- refresh families. Every statement that changes a
    //  family's fate updates its row first (touch, revoke): that row lock
    //  orders rotation, revocation and reuse detection of one family.
    {"token_refresh_get",
     "SELECT " REFRESH_COLS " FROM token.refresh_tokens t"
     " JOIN token.refresh_families f ON f.id = t.family_id JOIN token.clients c ON c.client_id = f.client_id"
     " WHERE t.token_hash = $1::bytea",
     3, DB_STMT_READ},
    {"token_family_touch",
     "UPDATE token.refresh_families SET last_used_at = now(), idle_mark = " IDLE_MARK
     " WHERE id = $1::bigint AND revoked_at IS NULL"
     " AND created_at > now() - make_interval(secs => $2::double precision)"
     " AND last_used_at > now() - make_interval(secs => $3::double precision)",
     3, DB_STMT_WRITE},
    //  RFC 6749 §6, RFC 9700 §4.14.2: rotation. tok is the one conditional
    //  UPDATE that consumes a refresh token; its row count decides between
    //  racers. The whole rotation is one statement (no BEGIN, no COMMIT: one
    //  round trip instead of six). Its order is that of the equivalent
    //  transaction: the family row first (fam, locked before the token row,
    //  which tok reaches only through it), then the one conditional UPDATE
    //  that consumes the token; the successor and the access token's jti
    //  exist only when that UPDATE matched. Under READ COMMITTED a racer that
    //  consumed the token first makes tok match nothing (the row is
    //  re-checked after the lock wait), and a revocation that won leaves fam
    //  empty. Returns (live, rotated).
    {"token_refresh_rotate",
     "WITH fam AS (UPDATE token.refresh_families SET last_used_at = now(), idle_mark = " IDLE_MARK
     " WHERE id = $1::bigint"
     " AND revoked_at IS NULL AND created_at > now() - make_interval(secs => $2::double precision)"
     " AND last_used_at > now() - make_interval(secs => $3::double precision)"
     " AND NOT " SUBJECT_REVOKED (
         "refresh_families") " RETURNING id),"
                             " tok AS (UPDATE token.refresh_tokens SET consumed_at = now(), successor_hash = "
                             "$5::bytea"
                             " WHERE token_hash = $4::bytea AND consumed_at IS NULL AND replaced_at IS NULL"
                             " AND family_id IN (SELECT "
                             "id FROM fam)"
                             " RETURNING family_id),"
                             " successor AS (INSERT INTO token.refresh_tokens (token_hash, family_id) SELECT "
                             "$5::bytea, family_id"
                             " FROM tok),"
                             " issued AS (INSERT INTO token.family_jtis (jti, family_id, expires_at)"
                             " SELECT $6::text, family_id, to_timestamp($7::bigint) FROM tok)"
                             " SELECT EXISTS (SELECT 1 FROM fam), EXISTS (SELECT 1 FROM tok)",
     7, DB_STMT_WRITE},
    //  A retried refresh (refresh.c): within the client's window and
    //  allowance, while the successor is unused, the consumed token counts
    //  one more use ($2: the uses read before, so that of two racing retries
    //  one wins), its successor is replaced by a fresh one ($3) and the old
    //  successor can no longer be used. Returns the family id when it did.
    {"token_refresh_retry",
     "WITH used AS (UPDATE token.refresh_tokens t SET grace_uses = t.grace_uses + 1, successor_hash = "
     "$3::bytea"
     " FROM token.refresh_families f, token.clients c, token.refresh_tokens old"
     " WHERE t.token_hash = $1::bytea AND f.id = t.family_id AND c.client_id = f.client_id"
     " AND old.token_hash = t.successor_hash AND old.consumed_at IS NULL AND old.replaced_at IS NULL"
     " AND t.consumed_at IS NOT NULL AND t.consumed_at > now() - make_interval(secs => c.refresh_grace_s)"
     " AND t.grace_uses = $2::integer AND t.grace_uses < c.refresh_grace_uses"
     " RETURNING t.family_id, old.token_hash AS old_hash),"
     " gone AS (UPDATE token.refresh_tokens SET replaced_at = now() WHERE token_hash IN (SELECT old_hash "
     "FROM used)),"
     " fresh AS (INSERT INTO token.refresh_tokens (token_hash, family_id) SELECT $3::bytea, family_id FROM "
     "used)"
     " SELECT family_id FROM used",
     3, DB_STMT_WRITE},
    //  Whether token's successor is successor_hash and still unused (racing
    //  requests with the same token converge on it; refresh.c).
    {"token_refresh_joined",
     "SELECT EXISTS (SELECT 1 FROM token.refresh_tokens t JOIN token.refresh_tokens s"
     " ON s.token_hash = t.successor_hash WHERE t.token_hash = $1::bytea AND t.successor_hash = $2::bytea"
     " AND s.consumed_at IS NULL AND s.replaced_at IS NULL)",
     2, DB_STMT_READ},
    {"token_family_jti_insert",
     "INSERT INTO token.family_jtis (jti, family_id, expires_at) VALUES ($1::text, $2::bigint,"
     " to_timestamp($3::bigint))",
     3, DB_STMT_WRITE},
    //  The refresh families bound to an SSO session that ended, and the
    //  access tokens they issued that have not expired yet. Returns how
    //  many families.
    {"token_session_revoke_families",
     "WITH f AS (UPDATE token.refresh_families SET revoked_at = now(), revoke_reason = 'session_ended'"
     "  WHERE sid = $1::text AND session_bound AND revoked_at IS NULL RETURNING id),"
     " j AS (INSERT INTO token.revoked_jtis (jti, expires_at, reason)"
     "  SELECT jti, expires_at, 'session_ended' FROM token.family_jtis WHERE family_id IN (SELECT id FROM f)"
     "  AND expires_at > now() ON CONFLICT (jti) DO NOTHING)"
     " SELECT count(*) FROM f",
     1, DB_STMT_WRITE},
    {"token_family_revoke",
     "UPDATE token.refresh_families SET revoked_at = now(), revoke_reason = $2::text"
     " WHERE id = $1::bigint AND revoked_at IS NULL",
     2, DB_STMT_WRITE},
    //  Every access token the family issued that has not expired yet.
    {"token_family_revoke_jtis",
     "INSERT INTO token.revoked_jtis (jti, expires_at, reason)"
     " SELECT jti, expires_at, $2::text FROM token.family_jtis WHERE family_id = $1::bigint"
     " AND expires_at > now() ON CONFLICT (jti) DO NOTHING",
     2, DB_STMT_WRITE},
    {"token_client_revoke_jtis",
     "INSERT INTO token.revoked_jtis (jti, expires_at, reason)"
     " SELECT j.jti, j.expires_at, 'client_removed' FROM token.family_jtis j"
     " JOIN token.refresh_families f ON f.id = j.family_id WHERE f.client_id = $1::text"
     " AND j.expires_at > now() ON CONFLICT (jti) DO NOTHING",
     1, DB_STMT_WRITE},
    //  A client's refresh families end ($2: why: client_removed,
    //  client_disabled).
    {"token_client_lock_families",
     "UPDATE token.refresh_families SET revoked_at = now(), revoke_reason = $2::text"
     " WHERE client_id = $1::text AND revoked_at IS NULL",
     2, DB_STMT_WRITE},
    //  A client disabled: the access tokens it holds end (ACCESS_REVOKED).
    {"token_client_revoke_access",
     "UPDATE token.clients SET tokens_revoked_at = now() WHERE client_id = $1::text", 1, DB_STMT_WRITE},
    //  token.subject_revoke, in this order, each statement with a snapshot
    //  of its own (READ COMMITTED): the marker (what authenticated before it
    //  is refused from now on: SUBJECT_REVOKED); the subject's unused codes,
    //  burnt (an exchange in flight holds its code's row lock: this waits
    //  for it, so the family it started exists before the next statement,
    //  and an exchange that comes later finds its code consumed and gets
    //  invalid_grant, logged as a replay); the families (their row locks
    //  order this after a rotation in flight, whose new jti the next
    //  statement sees); then every unexpired access token the families and
    //  the subject's code exchanges issued.
    {"token_subject_mark",
     "INSERT INTO token.subject_revocations (sub, revoked_at, reason) VALUES ($1::text, now(), $2::text)"
     " ON CONFLICT (sub) DO UPDATE SET revoked_at = now(), reason = $2::text",
     2, DB_STMT_WRITE},
    {"token_subject_burn_codes",
     "UPDATE token.codes SET consumed_at = now() WHERE sub = $1::text AND consumed_at IS NULL"
     " AND expires_at > now()",
     1, DB_STMT_WRITE},
    {"token_subject_lock_families",
     "UPDATE token.refresh_families SET revoked_at = now(), revoke_reason = $2::text"
     " WHERE sub = $1::text AND revoked_at IS NULL",
     2, DB_STMT_WRITE},
    {"token_subject_revoke_jtis",
     "INSERT INTO token.revoked_jtis (jti, expires_at, reason)"
     " SELECT j.jti, j.expires_at, $2::text FROM token.family_jtis j"
     " JOIN token.refresh_families f ON f.id = j.family_id WHERE f.sub = $1::text AND j.expires_at > now()"
     " UNION SELECT issued_jti, issued_exp, $2::text FROM token.codes WHERE sub = $1::text"
     " AND issued_jti IS NOT NULL AND issued_exp > now()"
     " ON CONFLICT (jti) DO NOTHING",
     2, DB_STMT_WRITE},
//  A user's grants (token.grant_list): the clients they consented to or
//  that hold families of theirs not revoked, by client_id.
#define EPOCH(col) "floor(extract(epoch FROM " col "))::bigint"
    {"token_grant_list",
     "SELECT COALESCE(json_agg(json_strip_nulls(json_build_object('client_id', c.client_id,"
     "  'client_name', c.name, 'scopes', COALESCE(k.scopes, f.scopes, '[]'::jsonb),"
     "  'consented_at', " EPOCH (
         "k.granted_at") ", 'families', COALESCE(f.n, 0),"
                         "  'last_used_at', " EPOCH (
                             "f.used") ")) ORDER BY c.client_id COLLATE \"C\"), '[]'::json)::text"
                                       " FROM (SELECT client_id FROM token.consents WHERE sub = $1::text"
                                       "  UNION SELECT client_id FROM token.refresh_families WHERE sub = "
                                       "$1::text AND revoked_at IS NULL) g"
                                       " JOIN token.clients c ON c.client_id = g.client_id"
                                       " LEFT JOIN token.consents k ON k.sub = $1::text AND k.client_id = "
                                       "g.client_id"
                                       " LEFT JOIN LATERAL (SELECT count(*) AS n, max(rf.last_used_at) AS "
                                       "used,"
                                       "  (SELECT jsonb_agg(DISTINCT x ORDER BY x) FROM "
                                       "token.refresh_families r2,"
                                       "   jsonb_array_elements_text(r2.scopes) AS x"
                                       "   WHERE r2.sub = $1::text AND r2.client_id = g.client_id AND "
                                       "r2.revoked_at IS NULL) AS scopes"
                                       "  FROM token.refresh_families rf"
                                       "  WHERE rf.sub = $1::text AND rf.client_id = g.client_id AND "
                                       "rf.revoked_at IS NULL) f ON true",
     1, DB_STMT_READ},
#undef EPOCH
    //  token.grant_revoke, in this order, each with a snapshot of its own:
    //  the families (their rows lock out a rotation in flight), then every
    //  access token they issued (one a rotation committed while we waited
    //  included), then the consent.
    {"token_grant_lock_families",
     "UPDATE token.refresh_families SET revoked_at = now(), revoke_reason = 'admin'"
     " WHERE sub = $1::text AND client_id = $2::text AND revoked_at IS NULL",
     2, DB_STMT_WRITE},
    {"token_grant_revoke_jtis",
     "INSERT INTO token.revoked_jtis (jti, expires_at, reason)"
     " SELECT j.jti, j.expires_at, 'admin' FROM token.family_jtis j"
     " JOIN token.refresh_families f ON f.id = j.family_id"
     " WHERE f.sub = $1::text AND f.client_id = $2::text AND j.expires_at > now()"
     " ON CONFLICT (jti) DO NOTHING",
     2, DB_STMT_WRITE},
    {"token_grant_consent_delete", "DELETE FROM token.consents WHERE sub = $1::text AND client_id = $2::text",
     2, DB_STMT_WRITE},
    //  The audit trail in the one shape of common/audit.h.
    {"token_audit_insert", AUDIT_SQL_INSERT ("token"), AUDIT_SQL_INSERT_PARAMS, DB_STMT_WRITE},
    {"token_audit_list", AUDIT_SQL_LIST ("token"), AUDIT_SQL_LIST_PARAMS, DB_STMT_READ},
    {"token_audit_purge", AUDIT_SQL_PURGE ("token"), AUDIT_SQL_PURGE_PARAMS, DB_STMT_WRITE},
    {"token_jti_revoke",
     "INSERT INTO token.revoked_jtis (jti, expires_at, reason) VALUES ($1::text, to_timestamp($2::bigint),"
     " $3::text) ON CONFLICT (jti) DO NOTHING",
     3, DB_STMT_WRITE},
    //  ---- the janitor (token-svc/janitor.c): rows that can no longer
    //  matter, deleted $1 at a time. Requests an hour past their expiry;
    //  codes an hour past theirs once the token they issued has expired too
    //  (until then a replay must still find what to revoke); revocations of
    //  tokens that expired (plus the largest clock-skew leeway); families
    //  revoked an hour ago or past their lifetime (their refresh tokens and
    //  jtis go with them: ON DELETE CASCADE).
    //
    //  Each one walks an index of its predicate in order (ORDER BY the
    //  indexed column: the plan stays an index scan whatever the statistics
    //  say, custom or generic), so that a batch costs what it deletes and an
    //  empty one next to nothing. The rows are deleted by ctid: a row that
    //  changed meanwhile has another ctid and is left alone.
    {"token_janitor_lock", "SELECT pg_try_advisory_lock(hashtext('ostiary.token.janitor'))", 0,
     DB_STMT_WRITE},
    {"token_janitor_unlock", "SELECT pg_advisory_unlock(hashtext('ostiary.token.janitor'))", 0,
     DB_STMT_WRITE},
    {"token_purge_requests",
     "DELETE FROM token.authz_requests WHERE ctid = ANY (ARRAY (SELECT ctid FROM token.authz_requests"
     " WHERE expires_at < now() - interval '1 hour' ORDER BY expires_at LIMIT $1::integer))",
     1, DB_STMT_WRITE},
    {"token_purge_codes",
     "DELETE FROM token.codes WHERE ctid = ANY (ARRAY (SELECT ctid FROM token.codes"
     " WHERE expires_at < now() - interval '1 hour'"
     " AND (issued_exp IS NULL OR issued_exp < now() - interval '5 minutes')"
     " ORDER BY expires_at LIMIT $1::integer))",
     1, DB_STMT_WRITE},
    {"token_purge_revoked",
     "DELETE FROM token.revoked_jtis WHERE ctid = ANY (ARRAY (SELECT ctid FROM token.revoked_jtis"
     " WHERE expires_at < now() - interval '5 minutes' ORDER BY expires_at LIMIT $1::integer))",
     1, DB_STMT_WRITE},
    {"token_purge_family_jtis",
     "DELETE FROM token.family_jtis WHERE ctid = ANY (ARRAY (SELECT ctid FROM token.family_jtis"
     " WHERE expires_at < now() - interval '5 minutes' ORDER BY expires_at LIMIT $1::integer))",
     1, DB_STMT_WRITE},
    //  Three ways to die, one index each (a union of three index scans, not
    //  one OR that no index serves); idle ones through idle_mark, older than
    //  the cutoff by IDLE_SLACK, so that each one found is idle past it (the
    //  exact test follows, for a slack that the settings changed). A
    //  family goes only once the access tokens it issued have expired: until
    //  then revoking it (or its user) must still find their jtis.
    {"token_purge_families",
     "DELETE FROM token.refresh_families WHERE id = ANY (ARRAY ("
     "(SELECT id FROM token.refresh_families f WHERE revoked_at < now() - interval '1 hour'"
     " AND NOT " FAMILY_ISSUING (
         "f") " ORDER BY revoked_at LIMIT $1::integer)"
              " UNION (SELECT id FROM token.refresh_families f"
              " WHERE created_at < now() - make_interval(secs => $2::double precision) - interval '1 hour'"
              " AND NOT " FAMILY_ISSUING (
                  "f") " ORDER BY created_at LIMIT $1::integer)"
                       " UNION (SELECT id FROM token.refresh_families f"
                       " WHERE idle_mark < now() - make_interval(secs => $3::double precision) - interval '1 "
                       "hour' - " IDLE_SLACK " AND last_used_at < now() - make_interval(secs => $3::double "
                       "precision) - interval '1 hour'"
                       " AND NOT " FAMILY_ISSUING ("f") " ORDER BY idle_mark LIMIT $1::integer)"
                                                        " LIMIT $1::integer))",
     3, DB_STMT_WRITE},
    //  A subject's marker outlives every code and family it can refuse:
    //  those authenticated before it, created at the latest a code's
    //  lifetime (< 1 hour) after it, and dead $2 seconds after that.
    {"token_purge_subjects",
     "DELETE FROM token.subject_revocations WHERE ctid = ANY (ARRAY (SELECT ctid FROM "
     "token.subject_revocations"
     " WHERE revoked_at < now() - make_interval(secs => $2::double precision) - interval '2 hours'"
     " ORDER BY revoked_at LIMIT $1::integer))",
     2, DB_STMT_WRITE},
};

int
token_store_prepare (db_t *db)
{
    return db_prepare_all (db, s_stmts, sizeof s_stmts / sizeof s_stmts[0]);
}

static db_status_t
s_exec (db_t *db, const char *name, int nparams, const char *const *params, PGresult **res)
{
    PGresult *r = NULL;
    db_status_t st = db_exec (db, name, nparams, params, &r);
    if (st != DB_OK && st != DB_CONFLICT)
        log_error ("%s: %s", name, db_status_name (st));
    if (res)
        *res = r;
    else
        PQclear (r);
    return st;
}

//  Runs a statement and reports its row count in *count.
static db_status_t
s_exec_count (db_t *db, const char *name, int nparams, const char *const *params, int *count)
{
    PGresult *res = NULL;
    db_status_t st = s_exec (db, name, nparams, params, &res);
    *count = st == DB_OK ? atoi (PQcmdTuples (res)) : 0;
    PQclear (res);
    return st;
}

int
token_store_ping (db_t *db)
{
    PGresult *res = NULL;
    db_status_t st = db_exec (db, "token_ping", 0, NULL, &res);
    PQclear (res);
    return st == DB_OK ? 0 : -1;
}

//  ------------------------------------------------------------- conversions

//  A hash as a bytea parameter.
static void
s_bytea (const unsigned char hash[TOKEN_HASH_LEN], char out[2 * TOKEN_HASH_LEN + 3])
{
    db_bytea_text (hash, TOKEN_HASH_LEN, out);
}

//  Hex digits (from encode(..., 'hex')) into bytes. 0 ok, -1 malformed.
static int
s_unhex (const char *hex, unsigned char *out, size_t len)
{
    if (strlen (hex) != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

//  The JSON text of a value, for a jsonb parameter (free()).
static char *
s_json_text (const json_t *value)
{
    return json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
}

//  A JSON column (from ::text) parsed, or NULL.
static json_t *
s_json_col (const PGresult *res, int row, int col)
{
    if (PQgetisnull (res, row, col))
        return NULL;
    return json_loads (PQgetvalue (res, row, col), JSON_DECODE_ANY, NULL);
}

//  A text column duplicated, NULL for SQL NULL. *ok turns 0 when the copy failed.
static char *
s_text_col (const PGresult *res, int row, int col, int *ok)
{
    if (PQgetisnull (res, row, col))
        return NULL;
    char *s = strdup (PQgetvalue (res, row, col));
    if (!s)
        *ok = 0;
    return s;
}

static int
s_bool_col (const PGresult *res, int row, int col)
{
    return !PQgetisnull (res, row, col) && PQgetvalue (res, row, col)[0] == 't';
}

static int64_t
s_int_col (const PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? 0 : strtoll (PQgetvalue (res, row, col), NULL, 10);
}

//  Copies a text column into a fixed buffer. 0 ok, -1 too long.
static int
s_copy_col (const PGresult *res, int row, int col, char *out, size_t size)
{
    const char *v = PQgetvalue (res, row, col);
    size_t n = strlen (v);
    if (n >= size)
        return -1;
    memcpy (out, v, n + 1);
    return 0;
}

//  ------------------------------------------------------------- clients

void
token_client_clear (token_client_t *client)
{
    if (!client)
        return;
    free (client->name);
    json_decref (client->redirect_uris);
    json_decref (client->grant_types);
    json_decref (client->response_types);
    json_decref (client->scopes);
    json_decref (client->web_origins);
    json_decref (client->post_logout_uris);
    free (client->backchannel_uri);
    free (client->frontchannel_uri);
    secure_wipe (client, sizeof *client);
    memset (client, 0, sizeof *client);
}

//  How each kind of CLIENT_WRITTEN member reads from a row (res, row, col;
//  ok turns 0 on failure) ...
#define S_READ_TEXT(m) c->m = s_text_col (res, row, col, &ok);
#define S_READ_CHARS(m)                                                                                      \
    if (s_copy_col (res, row, col, c->m, sizeof c->m))                                                       \
        ok = 0;
#define S_READ_JSON(m) c->m = s_json_col (res, row, col);
#define S_READ_BOOL(m) c->m = s_bool_col (res, row, col);
#define S_READ_INT(m) c->m = (int)s_int_col (res, row, col);
#define S_READ_TRISTATE(m)                                                                                   \
    {                                                                                                        \
        const char *v = PQgetvalue (res, row, col);                                                          \
        c->m = v[0] == 't' ? 1 : v[0] == 'f' ? 0 : -1;                                                       \
    }
#define S_READ(col_name, write, read, kind, member)                                                          \
    S_READ_##kind (member);                                                                                  \
    col++;

static int
s_client_from_row (const PGresult *res, int row, token_client_t *c)
{
    memset (c, 0, sizeof *c);
    int ok = 1;
    if (s_copy_col (res, row, 0, c->client_id, sizeof c->client_id))
        ok = 0;
    c->is_public = strcmp (PQgetvalue (res, row, 1), "public") == 0;
    if (!PQgetisnull (res, row, 2)) {
        c->has_secret = 1;
        if (s_unhex (PQgetvalue (res, row, 2), c->secret_hash, TOKEN_HASH_LEN))
            ok = 0;
    }
    c->created_at = s_int_col (res, row, 3);
    c->version = s_int_col (res, row, 4);
    if (!PQgetisnull (res, row, 5)) {
        c->has_prev_secret = 1;
        if (s_unhex (PQgetvalue (res, row, 5), c->prev_secret_hash, TOKEN_HASH_LEN))
            ok = 0;
        c->prev_secret_expires = s_int_col (res, row, 6);
    }
    int col = CLIENT_COLS_WRITTEN;
    CLIENT_WRITTEN (S_READ)
    if (!ok || !c->name || !json_is_array (c->redirect_uris) || !json_is_array (c->grant_types) ||
        !json_is_array (c->response_types) || !json_is_array (c->scopes) || !json_is_array (c->web_origins) ||
        !json_is_array (c->post_logout_uris)) {
        log_error ("client row %d is malformed", row);
        token_client_clear (c);
        return -1;
    }
    return 0;
}

//  The parameters of CLIENT_WRITTEN for one client, in its order.
typedef struct {
    const char *values[S_CLIENT_WRITTEN];
    char numbers[S_CLIENT_WRITTEN][16];
    char *json[S_CLIENT_WRITTEN]; //  what values[i] points to for a JSON member
} s_client_params_t;

//  ... and how it becomes parameter i (an absent array is an empty one).
#define S_PARAM_TEXT(m) p->values[i] = c->m;
#define S_PARAM_CHARS(m) p->values[i] = c->m;
#define S_PARAM_JSON(m)                                                                                      \
    p->json[i] = c->m ? s_json_text (c->m) : strdup ("[]");                                                  \
    p->values[i] = p->json[i];                                                                               \
    if (!p->json[i])                                                                                         \
        rc = -1;
#define S_PARAM_BOOL(m) p->values[i] = c->m ? "true" : "false";
#define S_PARAM_INT(m)                                                                                       \
    snprintf (p->numbers[i], sizeof p->numbers[i], "%d", c->m);                                              \
    p->values[i] = p->numbers[i];
#define S_PARAM_TRISTATE(m) p->values[i] = c->m < 0 ? NULL : c->m ? "true" : "false";
#define S_PARAM(col_name, write, read, kind, member)                                                         \
    S_PARAM_##kind (member);                                                                                 \
    i++;

static void
s_client_params_clear (s_client_params_t *p)
{
    for (size_t i = 0; i < S_CLIENT_WRITTEN; i++)
        free (p->json[i]);
    memset (p, 0, sizeof *p);
}

//  Fills p from c. 0 ok, -1 out of memory (clear p either way).
static int
s_client_params (const token_client_t *c, s_client_params_t *p)
{
    memset (p, 0, sizeof *p);
    int rc = 0;
    size_t i = 0;
    CLIENT_WRITTEN (S_PARAM)
    return rc;
}

db_status_t
token_store_client_insert (db_t *db, const token_client_t *c)
{
    s_client_params_t p;
    char secret[2 * TOKEN_HASH_LEN + 3];
    if (c->has_secret)
        s_bytea (c->secret_hash, secret);
    db_status_t st = DB_ERROR;
    if (s_client_params (c, &p) == 0) {
        const char *params[S_CLIENT_WRITTEN + 3] = {c->client_id, c->is_public ? "public" : "confidential"};
        memcpy (params + 2, p.values, sizeof p.values);
        params[S_CLIENT_WRITTEN + 2] = c->has_secret ? secret : NULL;
        st = s_exec (db, "token_client_insert", S_CLIENT_WRITTEN + 3, params, NULL);
    }
    s_client_params_clear (&p);
    secure_wipe (secret, sizeof secret);
    return st;
}

db_status_t
token_store_client_get (db_t *db, const char *client_id, token_client_t *client)
{
    memset (client, 0, sizeof *client);
    const char *params[] = {client_id};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_client_get", 1, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    else if (st == DB_OK && s_client_from_row (res, 0, client))
        st = DB_ERROR;
    PQclear (res);
    return st;
}

db_status_t
token_store_client_list (db_t *db, token_client_t **clients, size_t *count)
{
    *clients = NULL;
    *count = 0;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_client_list", 0, NULL, &res);
    if (st != DB_OK) {
        PQclear (res);
        return st;
    }
    int n = PQntuples (res);
    token_client_t *list = calloc (n > 0 ? (size_t)n : 1, sizeof *list);
    if (!list) {
        PQclear (res);
        return DB_ERROR;
    }
    for (int i = 0; i < n; i++)
        if (s_client_from_row (res, i, &list[i])) {
            for (int k = 0; k < i; k++)
                token_client_clear (&list[k]);
            free (list);
            PQclear (res);
            return DB_ERROR;
        }
    PQclear (res);
    *clients = list;
    *count = (size_t)n;
    return DB_OK;
}

db_status_t
token_store_client_delete (db_t *db, const char *client_id, int *removed)
{
    const char *params[] = {client_id};
    return s_exec_count (db, "token_client_delete", 1, params, removed);
}

db_status_t
token_store_client_set_secret (db_t *db, const char *client_id, const unsigned char hash[TOKEN_HASH_LEN],
                               long overlap_s, int64_t version, int *changed, int64_t *new_version,
                               int64_t *prev_expires)
{
    *changed = 0;
    *new_version = 0;
    *prev_expires = 0;
    char secret[2 * TOKEN_HASH_LEN + 3], overlap[24], ver[24];
    s_bytea (hash, secret);
    snprintf (overlap, sizeof overlap, "%ld", overlap_s);
    snprintf (ver, sizeof ver, "%lld", (long long)version);
    const char *params[] = {client_id, secret, overlap, ver};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_client_set_secret", 4, params, &res);
    secure_wipe (secret, sizeof secret);
    if (st == DB_OK && PQntuples (res) == 1) {
        *changed = 1;
        *new_version = s_int_col (res, 0, 0);
        *prev_expires = s_int_col (res, 0, 1);
    }
    PQclear (res);
    return st;
}

db_status_t
token_store_client_update (db_t *db, const token_client_t *c, int64_t version, int revoke,
                           const audit_record_t *audit, int *changed)
{
    *changed = 0;
    char ver[24];
    snprintf (ver, sizeof ver, "%lld", (long long)version);
    s_client_params_t p;
    db_status_t st = DB_ERROR;
    if (s_client_params (c, &p) == 0) {
        const char *params[S_CLIENT_WRITTEN + 2] = {c->client_id, ver};
        memcpy (params + 2, p.values, sizeof p.values);
        //  The change and its audit event commit together: a change is
        //  never stored unaudited.
        st = db_begin (db);
        if (st == DB_OK)
            st = s_exec_count (db, "token_client_update", S_CLIENT_WRITTEN + 2, params, changed);
        if (st == DB_OK && *changed)
            st = token_store_audit (db, audit);
        int n = 0;
        if (st == DB_OK && *changed && revoke)
            st = s_exec_count (db, "token_client_lock_families", 2,
                               (const char *[]){c->client_id, "client_disabled"}, &n);
        if (st == DB_OK && *changed && revoke)
            st = s_exec (db, "token_client_revoke_access", 1, (const char *[]){c->client_id}, NULL);
        if (st == DB_OK)
            st = db_commit (db);
        if (st != DB_OK) {
            *changed = 0;
            db_rollback (db);
        }
    }
    s_client_params_clear (&p);
    return st;
}

//  ------------------------------------------------------------- requests

void
token_request_clear (token_request_t *r)
{
    if (!r)
        return;
    free (r->redirect_uri);
    free (r->state);
    free (r->nonce);
    free (r->code_challenge);
    json_decref (r->scopes);
    json_decref (r->details);
    json_decref (r->claims);
    memset (r, 0, sizeof *r);
}

static int
s_request_from_row (const PGresult *res, int row, token_request_t *r)
{
    memset (r, 0, sizeof *r);
    int ok = 1;
    if (s_copy_col (res, row, 0, r->client_id, sizeof r->client_id) ||
        s_copy_col (res, row, 3, r->response_mode, sizeof r->response_mode))
        ok = 0;
    r->redirect_uri = s_text_col (res, row, 1, &ok);
    r->redirect_uri_sent = s_bool_col (res, row, 2);
    r->state = s_text_col (res, row, 4, &ok);
    r->nonce = s_text_col (res, row, 5, &ok);
    r->scopes = s_json_col (res, row, 6);
    r->code_challenge = s_text_col (res, row, 7, &ok);
    r->details = s_json_col (res, row, 8);
    r->created_at = s_int_col (res, row, 9);
    r->expires_at = s_int_col (res, row, 10);
    r->claims = s_json_col (res, row, 11);
    if (!ok || !r->redirect_uri || !json_is_array (r->scopes) || !json_is_object (r->details)) {
        log_error ("authorization request row is malformed");
        token_request_clear (r);
        return -1;
    }
    return 0;
}

db_status_t
token_store_request_insert (db_t *db, const unsigned char id_hash[TOKEN_HASH_LEN], token_request_t *r,
                            long ttl_s)
{
    char id[2 * TOKEN_HASH_LEN + 3];
    s_bytea (id_hash, id);
    char ttl[24];
    snprintf (ttl, sizeof ttl, "%ld", ttl_s);
    char *scopes = s_json_text (r->scopes);
    char *details = s_json_text (r->details);
    char *claims = r->claims ? s_json_text (r->claims) : NULL;
    db_status_t st = DB_ERROR;
    if (scopes && details && (claims || !r->claims)) {
        const char *params[] = {
            id,
            r->client_id,
            r->redirect_uri,
            r->redirect_uri_sent ? "true" : "false",
            r->response_mode,
            r->state,
            r->nonce,
            scopes,
            r->code_challenge,
            details,
            ttl,
            claims,
        };
        PGresult *res = NULL;
        st = s_exec (db, "token_request_insert", 12, params, &res);
        if (st == DB_OK && PQntuples (res) == 1) {
            r->created_at = s_int_col (res, 0, 0);
            r->expires_at = s_int_col (res, 0, 1);
        } else if (st == DB_OK)
            st = DB_ERROR;
        PQclear (res);
    }
    free (scopes);
    free (details);
    free (claims);
    return st;
}

static db_status_t
s_request_one (db_t *db, const char *stmt, const unsigned char id_hash[TOKEN_HASH_LEN], token_request_t *r)
{
    memset (r, 0, sizeof *r);
    char id[2 * TOKEN_HASH_LEN + 3];
    s_bytea (id_hash, id);
    const char *params[] = {id};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, stmt, 1, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    else if (st == DB_OK && s_request_from_row (res, 0, r))
        st = DB_ERROR;
    PQclear (res);
    return st;
}

db_status_t
token_store_request_get (db_t *db, const unsigned char id_hash[TOKEN_HASH_LEN], token_request_t *r)
{
    return s_request_one (db, "token_request_get", id_hash, r);
}

db_status_t
token_store_request_consume (db_t *db, const unsigned char id_hash[TOKEN_HASH_LEN], token_request_t *r)
{
    return s_request_one (db, "token_request_consume", id_hash, r);
}

//  ------------------------------------------------------------- codes

void
token_code_clear (token_code_t *c)
{
    if (!c)
        return;
    free (c->redirect_uri);
    free (c->code_challenge);
    free (c->nonce);
    free (c->sub);
    free (c->sid);
    json_decref (c->scopes);
    json_decref (c->amr);
    json_decref (c->claims);
    free (c->acr);
    memset (c, 0, sizeof *c);
}

db_status_t
token_store_code_insert (db_t *db, const unsigned char code_hash[TOKEN_HASH_LEN], const token_code_t *c,
                         long ttl_s)
{
    char hash[2 * TOKEN_HASH_LEN + 3];
    s_bytea (code_hash, hash);
    char ttl[24], auth_time[24];
    snprintf (ttl, sizeof ttl, "%ld", ttl_s);
    snprintf (auth_time, sizeof auth_time, "%lld", (long long)c->auth_time);
    char *scopes = s_json_text (c->scopes);
    char *amr = s_json_text (c->amr);
    char *claims = c->claims ? s_json_text (c->claims) : NULL;
    db_status_t st = DB_ERROR;
    if (scopes && amr && (claims || !c->claims)) {
        const char *params[] = {
            hash,
            c->client_id,
            c->redirect_uri,
            c->redirect_uri_sent ? "true" : "false",
            c->code_challenge,
            c->nonce,
            scopes,
            c->sub,
            c->sid,
            auth_time,
            amr,
            ttl,
            claims,
            c->acr,
        };
        st = s_exec (db, "token_code_insert", 14, params, NULL);
    }
    free (scopes);
    free (amr);
    free (claims);
    return st;
}

//  A code row of CODE_COLS into *c. 0 ok, -1 malformed (logged, *c cleared).
static int
s_code_from_row (const PGresult *res, token_code_t *c)
{
    int ok = 1;
    if (s_copy_col (res, 0, 0, c->client_id, sizeof c->client_id))
        ok = 0;
    c->redirect_uri = s_text_col (res, 0, 1, &ok);
    c->redirect_uri_sent = s_bool_col (res, 0, 2);
    c->code_challenge = s_text_col (res, 0, 3, &ok);
    c->nonce = s_text_col (res, 0, 4, &ok);
    c->scopes = s_json_col (res, 0, 5);
    c->sub = s_text_col (res, 0, 6, &ok);
    c->sid = s_text_col (res, 0, 7, &ok);
    c->auth_time = s_int_col (res, 0, 8);
    c->amr = s_json_col (res, 0, 9);
    c->expired = s_bool_col (res, 0, 10);
    c->claims = s_json_col (res, 0, 11);
    c->acr = s_text_col (res, 0, 12, &ok);
    if (!ok || !c->redirect_uri || !c->sub || !json_is_array (c->scopes) || !json_is_array (c->amr)) {
        log_error ("code row is malformed");
        token_code_clear (c);
        return -1;
    }
    return 0;
}

db_status_t
token_store_code_get (db_t *db, const unsigned char code_hash[TOKEN_HASH_LEN], token_code_t *c, int *consumed)
{
    memset (c, 0, sizeof *c);
    *consumed = 0;
    char hash[2 * TOKEN_HASH_LEN + 3];
    s_bytea (code_hash, hash);
    const char *params[] = {hash};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_code_get", 1, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    else if (st == DB_OK && s_code_from_row (res, c))
        st = DB_ERROR;
    else if (st == DB_OK)
        *consumed = s_bool_col (res, 0, 13);
    PQclear (res);
    return st;
}

db_status_t
token_store_code_redeem (db_t *db, const unsigned char code_hash[TOKEN_HASH_LEN], const char *jti,
                         int64_t exp, const unsigned char *refresh_hash, int *redeemed, int64_t *family_id)
{
    *redeemed = 0;
    *family_id = 0;
    char hash[2 * TOKEN_HASH_LEN + 3], refresh[2 * TOKEN_HASH_LEN + 3], when[24];
    s_bytea (code_hash, hash);
    if (refresh_hash)
        s_bytea (refresh_hash, refresh);
    snprintf (when, sizeof when, "%lld", (long long)exp);
    const char *params[] = {hash, jti, when, refresh_hash ? "true" : "false", refresh_hash ? refresh : NULL};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_code_redeem", 5, params, &res);
    if (st == DB_OK && PQntuples (res) == 1) {
        *redeemed = s_bool_col (res, 0, 0);
        *family_id = PQgetisnull (res, 0, 1) ? 0 : s_int_col (res, 0, 1);
    } else if (st == DB_OK)
        st = DB_ERROR;
    PQclear (res);
    return st;
}

db_status_t
token_store_code_replayed (db_t *db, const unsigned char code_hash[TOKEN_HASH_LEN], const char *client_id,
                           const char *client_ip, int *consumed, int *revoked)
{
    *consumed = 0;
    *revoked = 0;
    char hash[2 * TOKEN_HASH_LEN + 3];
    s_bytea (code_hash, hash);
    const char *params[] = {hash};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_code_consumed", 1, params, &res);
    char sub[256] = "";
    if (st == DB_OK && PQntuples (res) == 1) {
        *consumed = s_bool_col (res, 0, 0);
        if (!PQgetisnull (res, 0, 1))
            snprintf (sub, sizeof sub, "%s", PQgetvalue (res, 0, 1));
    }
    PQclear (res);
    if (st != DB_OK || !*consumed)
        return st;
    st = s_exec_count (db, "token_code_revoke_issued", 1, params, revoked);
    //  Then the refresh family the exchange started, with every
    //  access token issued from it.
    if (st == DB_OK)
        st = s_exec (db, "token_code_family", 1, params, &res);
    int64_t family = st == DB_OK && PQntuples (res) == 1 ? s_int_col (res, 0, 0) : 0;
    PQclear (res);
    int n = 0;
    if (st == DB_OK && family > 0)
        st = token_store_family_revoke (db, family, "code_replay", &n);
    if (st == DB_OK) {
        json_t *details = json_pack ("{s:i}", "access_tokens_revoked", *revoked);
        if (details && family > 0)
            json_object_set_new (details, "family_id", json_integer (family));
        st = details ? token_store_audit (db, &(audit_record_t){.event = AUDIT_EV_code_replay,
                                                                .outcome = AUDIT_REFUSED,
                                                                .actor = "client",
                                                                .subject = *sub ? sub : NULL,
                                                                .client_id = client_id,
                                                                .address = client_ip,
                                                                .details = details})
                     : DB_ERROR;
        json_decref (details);
    }
    return st;
}

//  ------------------------------------------------------------- consents

db_status_t
token_store_consent_get (db_t *db, const char *sub, const char *client_id, json_t **scopes)
{
    *scopes = NULL;
    const char *params[] = {sub, client_id};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_consent_get", 2, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    else if (st == DB_OK) {
        *scopes = s_json_col (res, 0, 0);
        if (!json_is_array (*scopes)) {
            json_decref (*scopes);
            *scopes = NULL;
            st = DB_ERROR;
        }
    }
    PQclear (res);
    return st;
}

db_status_t
token_store_consent_put (db_t *db, const char *sub, const char *client_id, const json_t *scopes)
{
    char *text = s_json_text (scopes);
    if (!text)
        return DB_ERROR;
    const char *params[] = {sub, client_id, text};
    db_status_t st = s_exec (db, "token_consent_put", 3, params, NULL);
    free (text);
    return st;
}

//  ------------------------------------------------------------- revocation

db_status_t
token_store_access_state (db_t *db, const char *jti, const char *client_id, int64_t iat, int *revoked,
                          int *client_known)
{
    char at[24];
    snprintf (at, sizeof at, "%lld", (long long)iat);
    const char *params[] = {jti, client_id, at};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_access_state", 3, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_ERROR;
    *revoked = st != DB_OK || s_bool_col (res, 0, 0);
    *client_known = st == DB_OK && s_bool_col (res, 0, 1);
    PQclear (res);
    return st;
}

db_status_t
token_store_jti_revoke (db_t *db, const char *jti, int64_t exp, const char *reason, int *added)
{
    char when[24];
    snprintf (when, sizeof when, "%lld", (long long)exp);
    const char *params[] = {jti, when, reason};
    return s_exec_count (db, "token_jti_revoke", 3, params, added);
}

//  ------------------------------------------------------------- refresh families

void
token_refresh_clear (token_refresh_t *r)
{
    if (!r)
        return;
    free (r->sub);
    free (r->sid);
    json_decref (r->amr);
    json_decref (r->scopes);
    json_decref (r->claims);
    free (r->acr);
    memset (r, 0, sizeof *r);
}

db_status_t
token_store_refresh_get (db_t *db, const unsigned char token_hash[TOKEN_HASH_LEN], long max_s, long idle_s,
                         token_refresh_t *r)
{
    memset (r, 0, sizeof *r);
    char hash[2 * TOKEN_HASH_LEN + 3], max[24], idle[24];
    s_bytea (token_hash, hash);
    snprintf (max, sizeof max, "%ld", max_s);
    snprintf (idle, sizeof idle, "%ld", idle_s);
    const char *params[] = {hash, max, idle};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_refresh_get", 3, params, &res);
    if (st == DB_OK && PQntuples (res) != 1)
        st = DB_NOT_FOUND;
    else if (st == DB_OK) {
        int ok = 1;
        r->family_id = s_int_col (res, 0, 0);
        if (s_copy_col (res, 0, 1, r->client_id, sizeof r->client_id))
            ok = 0;
        r->sub = s_text_col (res, 0, 2, &ok);
        r->sid = s_text_col (res, 0, 3, &ok);
        r->auth_time = s_int_col (res, 0, 4);
        r->amr = s_json_col (res, 0, 5);
        r->scopes = s_json_col (res, 0, 6);
        r->revoked = s_bool_col (res, 0, 7);
        r->expired = s_bool_col (res, 0, 8);
        r->consumed = s_bool_col (res, 0, 9);
        r->graceable = s_bool_col (res, 0, 10);
        r->iat = s_int_col (res, 0, 11);
        r->exp = s_int_col (res, 0, 12);
        r->replaced = s_bool_col (res, 0, 13);
        r->retries = (int)s_int_col (res, 0, 14);
        r->claims = s_json_col (res, 0, 15);
        r->acr = s_text_col (res, 0, 16, &ok);
        if (!ok || !r->sub || !json_is_array (r->amr) || !json_is_array (r->scopes)) {
            log_error ("refresh token row is malformed");
            token_refresh_clear (r);
            st = DB_ERROR;
        }
    }
    PQclear (res);
    return st;
}

db_status_t
token_store_family_touch (db_t *db, int64_t family_id, long max_s, long idle_s, int *live)
{
    char family[24], max[24], idle[24];
    snprintf (family, sizeof family, "%lld", (long long)family_id);
    snprintf (max, sizeof max, "%ld", max_s);
    snprintf (idle, sizeof idle, "%ld", idle_s);
    const char *params[] = {family, max, idle};
    return s_exec_count (db, "token_family_touch", 3, params, live);
}

db_status_t
token_store_refresh_rotate (db_t *db, int64_t family_id, long max_s, long idle_s,
                            const unsigned char token_hash[TOKEN_HASH_LEN],
                            const unsigned char successor_hash[TOKEN_HASH_LEN], const char *jti, int64_t exp,
                            int *live, int *rotated)
{
    *live = *rotated = 0;
    char family[24], max[24], idle[24], when[24];
    char hash[2 * TOKEN_HASH_LEN + 3], successor[2 * TOKEN_HASH_LEN + 3];
    snprintf (family, sizeof family, "%lld", (long long)family_id);
    snprintf (max, sizeof max, "%ld", max_s);
    snprintf (idle, sizeof idle, "%ld", idle_s);
    snprintf (when, sizeof when, "%lld", (long long)exp);
    s_bytea (token_hash, hash);
    s_bytea (successor_hash, successor);
    const char *params[] = {family, max, idle, hash, successor, jti, when};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_refresh_rotate", 7, params, &res);
    if (st == DB_OK && PQntuples (res) == 1) {
        *live = s_bool_col (res, 0, 0);
        *rotated = s_bool_col (res, 0, 1);
    } else if (st == DB_OK)
        st = DB_ERROR;
    PQclear (res);
    secure_wipe (successor, sizeof successor);
    return st;
}

db_status_t
token_store_refresh_retry (db_t *db, const unsigned char token_hash[TOKEN_HASH_LEN], int retries_before,
                           const unsigned char successor_hash[TOKEN_HASH_LEN], int *replaced)
{
    *replaced = 0;
    char hash[2 * TOKEN_HASH_LEN + 3], successor[2 * TOKEN_HASH_LEN + 3], before[16];
    s_bytea (token_hash, hash);
    s_bytea (successor_hash, successor);
    snprintf (before, sizeof before, "%d", retries_before);
    const char *params[] = {hash, before, successor};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_refresh_retry", 3, params, &res);
    if (st == DB_OK)
        *replaced = PQntuples (res) == 1;
    PQclear (res);
    secure_wipe (successor, sizeof successor);
    return st;
}

db_status_t
token_store_refresh_joined (db_t *db, const unsigned char token_hash[TOKEN_HASH_LEN],
                            const unsigned char successor_hash[TOKEN_HASH_LEN], int *joined)
{
    *joined = 0;
    char hash[2 * TOKEN_HASH_LEN + 3], successor[2 * TOKEN_HASH_LEN + 3];
    s_bytea (token_hash, hash);
    s_bytea (successor_hash, successor);
    const char *params[] = {hash, successor};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_refresh_joined", 2, params, &res);
    if (st == DB_OK && PQntuples (res) == 1)
        *joined = s_bool_col (res, 0, 0);
    else if (st == DB_OK)
        st = DB_ERROR;
    PQclear (res);
    secure_wipe (successor, sizeof successor);
    return st;
}

db_status_t
token_store_family_jti_insert (db_t *db, int64_t family_id, const char *jti, int64_t exp)
{
    char family[24], when[24];
    snprintf (family, sizeof family, "%lld", (long long)family_id);
    snprintf (when, sizeof when, "%lld", (long long)exp);
    const char *params[] = {jti, family, when};
    return s_exec (db, "token_family_jti_insert", 3, params, NULL);
}

db_status_t
token_store_session_revoke (db_t *db, const char *sid, long *families)
{
    *families = 0;
    const char *params[] = {sid};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_session_revoke_families", 1, params, &res);
    if (st == DB_OK && PQntuples (res) == 1)
        *families = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    return st;
}

db_status_t
token_store_family_revoke (db_t *db, int64_t family_id, const char *reason, int *revoked)
{
    char family[24];
    snprintf (family, sizeof family, "%lld", (long long)family_id);
    const char *params[] = {family, reason};
    db_status_t st = s_exec_count (db, "token_family_revoke", 2, params, revoked);
    //  After the family row is ours (or was revoked before): every jti it
    //  issued, including one a rotation committed while we waited for the row.
    if (st == DB_OK)
        st = s_exec (db, "token_family_revoke_jtis", 2, params, NULL);
    return st;
}

db_status_t
token_store_client_remove (db_t *db, const char *client_id, int *removed)
{
    *removed = 0;
    const char *params[] = {client_id};
    db_status_t st = db_begin (db);
    //  Families first (their row locks order us after any rotation in
    //  flight), then the access tokens they issued, then the client (its
    //  requests, codes, consents and families go with it: ON DELETE CASCADE).
    int n = 0;
    if (st == DB_OK)
        st = s_exec_count (db, "token_client_lock_families", 2, (const char *[]){client_id, "client_removed"},
                           &n);
    if (st == DB_OK)
        st = s_exec (db, "token_client_revoke_jtis", 1, params, NULL);
    if (st == DB_OK)
        st = s_exec_count (db, "token_client_delete", 1, params, removed);
    if (st == DB_OK)
        st = db_commit (db);
    if (st != DB_OK) {
        *removed = 0;
        db_rollback (db);
    }
    return st;
}

db_status_t
token_store_audit (db_t *db, const audit_record_t *record)
{
    return audit_insert (db, "token_audit_insert", "token", record);
}

db_status_t
token_store_audit_family (db_t *db, audit_event_t event, audit_outcome_t outcome, const char *client_id,
                          const char *sub, int64_t family_id, const char *client_ip)
{
    json_t *details = family_id > 0 ? json_pack ("{s:I}", "family_id", (json_int_t)family_id) : NULL;
    db_status_t st = token_store_audit (db, &(audit_record_t){.event = event,
                                                              .outcome = outcome,
                                                              .actor = "client",
                                                              .subject = sub,
                                                              .client_id = client_id,
                                                              .address = client_ip,
                                                              .details = details});
    json_decref (details);
    return st;
}

db_status_t
token_store_audit_list (db_t *db, const audit_filter_t *filter, json_t **result)
{
    return audit_list (db, "token_audit_list", filter, result);
}

db_status_t
token_store_audit_purge (db_t *db, long days, long batch, int *deleted)
{
    return audit_purge (db, "token_audit_purge", days, batch, deleted);
}

//  ------------------------------------------------------------- subjects

db_status_t
token_store_subject_revoke (db_t *db, const char *sub, const char *reason, int *families, int *tokens)
{
    const char *params[] = {sub, reason};
    *families = *tokens = 0;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = s_exec (db, "token_subject_mark", 2, params, NULL);
    if (st == DB_OK)
        st = s_exec (db, "token_subject_burn_codes", 1, params, NULL);
    if (st == DB_OK)
        st = s_exec_count (db, "token_subject_lock_families", 2, params, families);
    if (st == DB_OK)
        st = s_exec_count (db, "token_subject_revoke_jtis", 2, params, tokens);
    if (st == DB_OK) {
        json_t *details =
            json_pack ("{s:s?, s:i, s:i}", "reason", reason, "families", *families, "tokens", *tokens);
        st = details ? token_store_audit (db, &(audit_record_t){.event = AUDIT_EV_subject_revoked,
                                                                .outcome = AUDIT_SUCCESS,
                                                                .actor = "system",
                                                                .subject = sub,
                                                                .details = details})
                     : DB_ERROR;
        json_decref (details);
    }
    if (st == DB_OK)
        st = db_commit (db);
    if (st != DB_OK)
        db_rollback (db);
    return st;
}

db_status_t
token_store_grant_list (db_t *db, const char *sub, json_t **grants)
{
    const char *params[] = {sub};
    PGresult *res = NULL;
    *grants = NULL;
    db_status_t st = s_exec (db, "token_grant_list", 1, params, &res);
    if (st == DB_OK && (PQntuples (res) != 1 || !json_is_array (*grants = s_json_col (res, 0, 0)))) {
        json_decref (*grants);
        *grants = NULL;
        st = DB_ERROR;
    }
    PQclear (res);
    return st;
}

db_status_t
token_store_grant_revoke (db_t *db, const char *sub, const char *client_id, const char *actor, int *families,
                          int *tokens, int *consent)
{
    const char *params[] = {sub, client_id};
    *families = *tokens = *consent = 0;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = s_exec_count (db, "token_grant_lock_families", 2, params, families);
    if (st == DB_OK)
        st = s_exec_count (db, "token_grant_revoke_jtis", 2, params, tokens);
    if (st == DB_OK)
        st = s_exec_count (db, "token_grant_consent_delete", 2, params, consent);
    if (st == DB_OK && *families == 0 && *consent == 0)
        st = DB_NOT_FOUND;
    if (st == DB_OK) {
        json_t *details =
            json_pack ("{s:i, s:i, s:b}", "families", *families, "tokens", *tokens, "consent", *consent > 0);
        st = details ? token_store_audit (db, &(audit_record_t){.event = AUDIT_EV_grant_revoked,
                                                                .outcome = AUDIT_SUCCESS,
                                                                .actor = actor,
                                                                .subject = sub,
                                                                .client_id = client_id,
                                                                .details = details})
                     : DB_ERROR;
        json_decref (details);
    }
    if (st == DB_OK)
        st = db_commit (db);
    if (st != DB_OK)
        db_rollback (db);
    return st;
}

//  ------------------------------------------------------------- janitor

db_status_t
token_store_janitor_lock (db_t *db, int lock, int *got)
{
    PGresult *res = NULL;
    db_status_t st = s_exec (db, lock ? "token_janitor_lock" : "token_janitor_unlock", 0, NULL, &res);
    *got = st == DB_OK && PQntuples (res) == 1 && s_bool_col (res, 0, 0);
    PQclear (res);
    return st;
}

//  The purge statements in the order the janitor runs them, and their
//  parameter counts ($1 batch, $2 absolute lifetime, $3 idle timeout).
static const struct {
    const char *stmt;
    const char *name;
    int nparams;
} s_purges[] = {
    {"token_purge_requests", "authz_requests", 1},   {"token_purge_codes", "codes", 1},
    {"token_purge_revoked", "revoked_jtis", 1},      {"token_purge_family_jtis", "family_jtis", 1},
    {"token_purge_families", "refresh_families", 3}, {"token_purge_subjects", "subject_revocations", 2},
};

int
token_store_janitor_kinds (void)
{
    return (int)(sizeof s_purges / sizeof s_purges[0]);
}

const char *
token_store_janitor_kind_name (int kind)
{
    return kind >= 0 && kind < token_store_janitor_kinds () ? s_purges[kind].name : NULL;
}

db_status_t
token_store_janitor_purge (db_t *db, int kind, long batch, long max_s, long idle_s, int *deleted)
{
    *deleted = 0;
    if (kind < 0 || kind >= token_store_janitor_kinds ())
        return DB_ERROR;
    char n[24], max[24], idle[24];
    snprintf (n, sizeof n, "%ld", batch);
    snprintf (max, sizeof max, "%ld", max_s);
    snprintf (idle, sizeof idle, "%ld", idle_s);
    const char *params[] = {n, max, idle};
    return s_exec_count (db, s_purges[kind].stmt, s_purges[kind].nparams, params, deleted);
}

//  ------------------------------------------------------------- settings

db_status_t
token_store_settings_load (db_t *db, json_t **settings)
{
    *settings = NULL;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "token_settings_load", 0, NULL, &res);
    if (st == DB_OK && PQntuples (res) == 1)
        *settings = s_json_col (res, 0, 0);
    PQclear (res);
    if (st == DB_OK && !json_is_object (*settings)) {
        json_decref (*settings);
        *settings = NULL;
        st = DB_ERROR;
    }
    return st;
}

db_status_t
token_store_settings_lock (db_t *db)
{
    return s_exec (db, "token_settings_lock", 0, NULL, NULL);
}

db_status_t
token_store_setting_put (db_t *db, const char *name, const long *value)
{
    if (!value) {
        const char *params[] = {name};
        return s_exec (db, "token_setting_delete", 1, params, NULL);
    }
    char text[24];
    snprintf (text, sizeof text, "%ld", *value);
    const char *params[] = {name, text};
    return s_exec (db, "token_setting_set", 2, params, NULL);
}
