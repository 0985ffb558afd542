/*  keys_store - the SQL of schema keys. Nothing else in keys-svc sees SQL.
 *  bytea values travel as text in the hex format ("\x0a1b..."), which
 *  PostgreSQL accepts as input and produces as output (bytea_output = hex). */
#include "keys_store.h"

#include "log.h"
#include "secure.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Advisory lock key of every lifecycle decision ("OSTKEYS1"), distinct from
//  the migration runner's: replicas starting together create one key per
//  algorithm, not one each, and two replicas asked to rotate at the same
//  moment create one new key.
#define KEYS_LIFECYCLE_LOCK "5716744476963509041"
//  How long a lifecycle transaction waits for that lock (a replica holds it
//  for a key generation at most); past that the command fails cleanly
//  rather than leaving the admin socket or the janitor stuck.
#define KEYS_LOCK_TIMEOUT_MS "5000"

//  Lifecycle times are written with clock_timestamp(), not now(): now() is
//  when the transaction began, and a key's wait must start when the change
//  becomes visible (the transactions that write them are kept short: keys
//  are generated before they begin), not when the lock was first asked for.

//  ISO-8601 UTC with milliseconds, NULL stays NULL.
#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const db_stmt_t s_stmts[] = {
    {"keys_lock_timeout", "SELECT set_config('lock_timeout', $1::text, true)", 1, DB_STMT_WRITE},
    {"keys_lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, DB_STMT_WRITE},
    {"keys_try_lock", "SELECT pg_try_advisory_xact_lock($1::bigint)", 1, DB_STMT_WRITE},
    {"keys_kek_get", "SELECT check_enc FROM keys.kek_check WHERE id = 1", 0, DB_STMT_READ},
    {"keys_kek_put", "INSERT INTO keys.kek_check (id, check_enc) VALUES (1, $1::bytea)", 1, DB_STMT_WRITE},
    {"keys_kek_replace", "UPDATE keys.kek_check SET check_enc = $1::bytea, created_at = now() WHERE id = 1",
     1, DB_STMT_WRITE},
    {"keys_load_published",
     "SELECT kid, alg, state, private_enc FROM keys.signing_keys"
     " WHERE state IN ('next', 'active', 'retiring')"
     " ORDER BY alg, activated_at DESC NULLS LAST, created_at DESC, kid",
     0, DB_STMT_READ},
    {"keys_load_private",
     "SELECT kid, alg, state, private_enc FROM keys.signing_keys"
     " WHERE private_enc IS NOT NULL ORDER BY kid FOR UPDATE",
     0, DB_STMT_WRITE},
    {"keys_insert",
     "INSERT INTO keys.signing_keys (kid, alg, state, activated_at, activate_after, public_jwk, private_enc)"
     " VALUES ($1::text, $2::text, $3::text, CASE WHEN $3::text = 'active' THEN clock_timestamp() END,"
     " CASE WHEN $3::text = 'next' THEN clock_timestamp() + make_interval(secs => $6::double precision) END,"
     " $4::jsonb, $5::bytea)",
     6, DB_STMT_WRITE},
    {"keys_replace_private",
     "UPDATE keys.signing_keys SET private_enc = $3::bytea"
     " WHERE kid = $1::text AND private_enc = $2::bytea AND state <> 'retired'",
     3, DB_STMT_WRITE},
    //  The one guarded transition (keys_lifecycle_set_state). The WHERE
    //  clause names the state the caller expects: if another replica moved
    //  the key first, no row matches and the row count says so.
    {"keys_set_state",
     "UPDATE keys.signing_keys SET state = $3::text,"
     " activated_at = CASE WHEN $3::text = 'active' THEN clock_timestamp() ELSE activated_at END,"
     " deactivated_at = CASE WHEN $2::text = 'active' THEN clock_timestamp() ELSE deactivated_at END,"
     " retire_after = CASE WHEN $3::text = 'retiring'"
     "   THEN clock_timestamp() + make_interval(secs => $4::double precision) ELSE retire_after END,"
     " retired_at = CASE WHEN $3::text = 'retired' THEN clock_timestamp() ELSE retired_at END,"
     " private_enc = CASE WHEN $3::text = 'retired' THEN NULL ELSE private_enc END"
     " WHERE kid = $1::text AND state = $2::text",
     4, DB_STMT_WRITE},
    {"keys_life",
     "SELECT kid, alg, state,"
     " COALESCE(extract(epoch FROM now() - activated_at), 0)::float8,"
     " COALESCE(extract(epoch FROM activate_after - now()), 0)::float8"
     " FROM keys.signing_keys WHERE state IN ('next', 'active') ORDER BY alg, state, kid",
     0, DB_STMT_READ},
    {"keys_due_retiring",
     "SELECT kid, alg, state, 0::float8, extract(epoch FROM retire_after - now())::float8"
     " FROM keys.signing_keys WHERE state = 'retiring' AND retire_after <= now() ORDER BY kid",
     0, DB_STMT_READ},
    {"keys_key",
     "SELECT kid, alg, state,"
     " COALESCE(extract(epoch FROM now() - activated_at), 0)::float8,"
     " COALESCE(extract(epoch FROM CASE WHEN state = 'next' THEN activate_after ELSE retire_after END"
     "   - now()), 0)::float8"
     " FROM keys.signing_keys WHERE kid = $1::text",
     1, DB_STMT_READ},
    {"keys_generation", "SELECT n FROM keys.generation WHERE id = 1", 0, DB_STMT_READ},
    {"keys_list",
     "SELECT kid, alg, state, " ISO ("created_at") ", " ISO ("activated_at") ", " ISO (
         "activate_after") ", " ISO ("deactivated_at") ", " ISO ("retire_after") ", " ISO ("retired_at") " FR"
                                                                                                         "OM "
                                                                                                         "key"
                                                                                                         "s."
                                                                                                         "sig"
                                                                                                         "nin"
                                                                                                         "g_"
                                                                                                         "key"
                                                                                                         "s "
                                                                                                         "ORD"
                                                                                                         "ER "
                                                                                                         "BY "
                                                                                                         "cre"
                                                                                                         "ate"
                                                                                                         "d_"
                                                                                                         "at,"
                                                                                                         " ki"
                                                                                                         "d",
     0, DB_STMT_READ},
    //  The audit trail in the one shape of common/audit.h.
    {"keys_audit_insert", AUDIT_SQL_INSERT ("keys"), AUDIT_SQL_INSERT_PARAMS, DB_STMT_WRITE},
    {"keys_audit_list", AUDIT_SQL_LIST ("keys"), AUDIT_SQL_LIST_PARAMS, DB_STMT_READ},
    {"keys_audit_purge", AUDIT_SQL_PURGE ("keys"), AUDIT_SQL_PURGE_PARAMS, DB_STMT_WRITE},
};

int
keys_store_prepare (db_t *db)
{
    return db_prepare_all (db, s_stmts, sizeof s_stmts / sizeof s_stmts[0]);
}

static db_status_t
s_exec (db_t *db, const char *name, int nparams, const char *const *params, PGresult **res)
{
    return db_exec_logged (db, name, nparams, params, res);
}

db_status_t
keys_store_lock (db_t *db)
{
    const char *timeout[] = {KEYS_LOCK_TIMEOUT_MS};
    db_status_t st = s_exec (db, "keys_lock_timeout", 1, timeout, NULL);
    if (st != DB_OK)
        return st;
    const char *params[] = {KEYS_LIFECYCLE_LOCK};
    st = s_exec (db, "keys_lock", 1, params, NULL);
    //  55P03 lock_not_available maps to DB_ERROR; for the caller it means
    //  "another replica is busy": try again later.
    return st == DB_ERROR ? DB_RETRY : st;
}

db_status_t
keys_store_try_lock (db_t *db, int *got)
{
    *got = 0;
    const char *params[] = {KEYS_LIFECYCLE_LOCK};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "keys_try_lock", 1, params, &res);
    if (st == DB_OK)
        *got = PQntuples (res) == 1 && strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    PQclear (res);
    return st;
}

//  "\x" followed by hex digits, newly allocated (free); NULL on failure.
static char *
s_bytea_text (const unsigned char *buf, size_t len)
{
    char *text = malloc (2 * len + 3);
    if (!text)
        return NULL;
    text[0] = '\\';
    text[1] = 'x';
    secure_hex (buf, len, text + 2);
    return text;
}

//  A bytea column value (text format) as newly allocated bytes; -1 on bad data.
static int
s_bytea_value (const PGresult *res, int row, int col, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (PQgetisnull (res, row, col))
        return -1;
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea ((const unsigned char *)PQgetvalue (res, row, col), &n);
    if (!raw)
        return -1;
    *out = malloc (n ? n : 1);
    if (*out) {
        memcpy (*out, raw, n);
        *outlen = n;
    }
    PQfreemem (raw);
    return *out ? 0 : -1;
}

db_status_t
keys_store_kek_check_get (db_t *db, unsigned char **blob, size_t *len)
{
    *blob = NULL;
    *len = 0;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "keys_kek_get", 0, NULL, &res);
    if (st != DB_OK)
        return st;
    if (PQntuples (res) == 0)
        st = DB_NOT_FOUND;
    else if (s_bytea_value (res, 0, 0, blob, len) != 0)
        st = DB_ERROR;
    PQclear (res);
    return st;
}

db_status_t
keys_store_kek_check_put (db_t *db, const unsigned char *blob, size_t len)
{
    char *hex = s_bytea_text (blob, len);
    if (!hex)
        return DB_ERROR;
    const char *params[] = {hex};
    db_status_t st = s_exec (db, "keys_kek_put", 1, params, NULL);
    free (hex);
    return st;
}

void
keys_store_rows_free (keys_row_t **rows_p, size_t nrows)
{
    if (!rows_p || !*rows_p)
        return;
    for (size_t i = 0; i < nrows; i++)
        free ((*rows_p)[i].private_enc);
    free (*rows_p);
    *rows_p = NULL;
}

//  Rows of kid, alg, state, private_enc from statement name.
static db_status_t
s_load_rows (db_t *db, const char *name, keys_row_t **rows, size_t *nrows)
{
    *rows = NULL;
    *nrows = 0;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, name, 0, NULL, &res);
    if (st != DB_OK)
        return st;
    size_t n = (size_t)PQntuples (res);
    keys_row_t *out = calloc (n ? n : 1, sizeof *out);
    if (!out) {
        PQclear (res);
        return DB_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        const char *kid = PQgetvalue (res, row, 0);
        jws_alg_t alg = jws_alg_parse (PQgetvalue (res, row, 1));
        int state = key_state_parse (PQgetvalue (res, row, 2));
        //  The table's CHECK constraints make these impossible; a row that
        //  breaks them anyway is not one we sign with.
        if (strlen (kid) == 0 || strlen (kid) >= KEYRING_KID_MAX || alg == JWS_ALG_NONE || state < 0 ||
            s_bytea_value (res, row, 3, &out[i].private_enc, &out[i].private_enc_len) != 0) {
            log_error ("keys.signing_keys holds a malformed row");
            keys_store_rows_free (&out, i + 1);
            PQclear (res);
            return DB_ERROR;
        }
        snprintf (out[i].kid, sizeof out[i].kid, "%s", kid);
        out[i].alg = alg;
        out[i].state = (key_state_t)state;
    }
    PQclear (res);
    *rows = out;
    *nrows = n;
    return DB_OK;
}

db_status_t
keys_store_load_published (db_t *db, keys_row_t **rows, size_t *nrows)
{
    return s_load_rows (db, "keys_load_published", rows, nrows);
}

db_status_t
keys_store_load_private_for_update (db_t *db, keys_row_t **rows, size_t *nrows)
{
    return s_load_rows (db, "keys_load_private", rows, nrows);
}

db_status_t
keys_store_insert (db_t *db, const char *kid, jws_alg_t alg, key_state_t state, const json_t *public_jwk,
                   const unsigned char *blob, size_t len, long activate_after_s)
{
    char *jwk = json_dumps (public_jwk, JSON_COMPACT | JSON_SORT_KEYS);
    char *hex = s_bytea_text (blob, len);
    char delay[32];
    snprintf (delay, sizeof delay, "%ld", activate_after_s);
    db_status_t st = DB_ERROR;
    if (jwk && hex) {
        const char *params[] = {kid, jws_alg_name (alg), key_state_name (state), jwk, hex, delay};
        st = s_exec (db, "keys_insert", 6, params, NULL);
    }
    free (hex);
    free (jwk);
    return st;
}

db_status_t
keys_store_kek_check_replace (db_t *db, const unsigned char *blob, size_t len)
{
    char *hex = s_bytea_text (blob, len);
    if (!hex)
        return DB_ERROR;
    const char *params[] = {hex};
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "keys_kek_replace", 1, params, &res);
    if (st == DB_OK && strcmp (PQcmdTuples (res), "1") != 0)
        st = DB_NOT_FOUND;
    PQclear (res);
    free (hex);
    return st;
}

//  The row count of an UPDATE as 0 or 1 (anything else is a bug: kid is the key).
static int
s_changed (PGresult *res)
{
    return strcmp (PQcmdTuples (res), "1") == 0;
}

db_status_t
keys_store_replace_private (db_t *db, const char *kid, const unsigned char *old_blob, size_t old_len,
                            const unsigned char *blob, size_t len, int *changed)
{
    *changed = 0;
    char *old_hex = s_bytea_text (old_blob, old_len);
    char *hex = s_bytea_text (blob, len);
    db_status_t st = DB_ERROR;
    if (old_hex && hex) {
        const char *params[] = {kid, old_hex, hex};
        PGresult *res = NULL;
        st = s_exec (db, "keys_replace_private", 3, params, &res);
        if (st == DB_OK)
            *changed = s_changed (res);
        PQclear (res);
    }
    free (old_hex);
    free (hex);
    return st;
}

db_status_t
keys_store_set_state (db_t *db, const char *kid, key_state_t from, key_state_t to, long retire_after_s,
                      int *changed)
{
    *changed = 0;
    char seconds[32];
    snprintf (seconds, sizeof seconds, "%ld", retire_after_s);
    const char *params[] = {kid, key_state_name (from), key_state_name (to), seconds};
    if (!params[1] || !params[2])
        return DB_ERROR;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "keys_set_state", 4, params, &res);
    if (st == DB_OK)
        *changed = s_changed (res);
    PQclear (res);
    return st;
}

//  Rows of kid, alg, state, active_for, wait.
static db_status_t
s_life_rows (PGresult *res, keys_life_t **keys, size_t *nkeys)
{
    size_t n = (size_t)PQntuples (res);
    keys_life_t *out = calloc (n ? n : 1, sizeof *out);
    if (!out)
        return DB_ERROR;
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        const char *kid = PQgetvalue (res, row, 0);
        jws_alg_t alg = jws_alg_parse (PQgetvalue (res, row, 1));
        int state = key_state_parse (PQgetvalue (res, row, 2));
        if (strlen (kid) == 0 || strlen (kid) >= KEYRING_KID_MAX || alg == JWS_ALG_NONE || state < 0) {
            log_error ("keys.signing_keys holds a malformed row");
            free (out);
            return DB_ERROR;
        }
        snprintf (out[i].kid, sizeof out[i].kid, "%s", kid);
        out[i].alg = alg;
        out[i].state = (key_state_t)state;
        out[i].active_for = strtod (PQgetvalue (res, row, 3), NULL);
        out[i].wait = strtod (PQgetvalue (res, row, 4), NULL);
    }
    *keys = out;
    *nkeys = n;
    return DB_OK;
}

static db_status_t
s_life_query (db_t *db, const char *name, int nparams, const char *const *params, keys_life_t **keys,
              size_t *nkeys)
{
    *keys = NULL;
    *nkeys = 0;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, name, nparams, params, &res);
    if (st == DB_OK)
        st = s_life_rows (res, keys, nkeys);
    PQclear (res);
    return st;
}

db_status_t
keys_store_life (db_t *db, keys_life_t **keys, size_t *nkeys)
{
    return s_life_query (db, "keys_life", 0, NULL, keys, nkeys);
}

db_status_t
keys_store_due_retiring (db_t *db, keys_life_t **keys, size_t *nkeys)
{
    return s_life_query (db, "keys_due_retiring", 0, NULL, keys, nkeys);
}

db_status_t
keys_store_key (db_t *db, const char *kid, keys_life_t *key)
{
    memset (key, 0, sizeof *key);
    const char *params[] = {kid};
    keys_life_t *found = NULL;
    size_t n = 0;
    db_status_t st = s_life_query (db, "keys_key", 1, params, &found, &n);
    if (st == DB_OK) {
        if (n == 1)
            *key = found[0];
        else
            st = DB_NOT_FOUND;
    }
    free (found);
    return st;
}

db_status_t
keys_store_generation (db_t *db, int64_t *generation)
{
    *generation = 0;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "keys_generation", 0, NULL, &res);
    if (st == DB_OK) {
        if (PQntuples (res) != 1)
            st = DB_NOT_FOUND;
        else
            *generation = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    }
    PQclear (res);
    return st;
}

//  A text column as a JSON string, SQL NULL as JSON null.
static json_t *
s_text_or_null (const PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? json_null () : json_string (PQgetvalue (res, row, col));
}

db_status_t
keys_store_list (db_t *db, json_t **list)
{
    static const char *const names[] = {"kid",         "alg",          "state",
                                        "created",     "activated",    "activate_after",
                                        "deactivated", "retire_after", "retired"};
    *list = NULL;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "keys_list", 0, NULL, &res);
    if (st != DB_OK)
        return st;
    json_t *out = json_array ();
    for (int row = 0; out && row < PQntuples (res); row++) {
        json_t *item = json_object ();
        for (int col = 0; item && col < (int)(sizeof names / sizeof names[0]); col++)
            if (json_object_set_new (item, names[col], s_text_or_null (res, row, col)) != 0) {
                json_decref (item);
                item = NULL;
            }
        if (!item || json_array_append_new (out, item) != 0) {
            json_decref (out);
            out = NULL;
        }
    }
    PQclear (res);
    if (!out)
        return DB_ERROR;
    *list = out;
    return DB_OK;
}

db_status_t
keys_store_audit (db_t *db, const audit_record_t *record)
{
    return audit_insert (db, "keys_audit_insert", "keys", record);
}

db_status_t
keys_store_audit_list (db_t *db, const audit_filter_t *filter, json_t **result)
{
    return audit_list (db, "keys_audit_list", filter, result);
}

db_status_t
keys_store_audit_purge (db_t *db, long days, long batch, int *deleted)
{
    return audit_purge (db, "keys_audit_purge", days, batch, deleted);
}
