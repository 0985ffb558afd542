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

//  Advisory lock key of key bootstrap ("OSTKEYS1"), distinct from the
//  migration runner's: replicas starting together create one key per
//  algorithm, not one each.
#define KEYS_BOOT_LOCK "5716744476963509041"

typedef struct {
    const char *name;
    const char *sql;
    int nparams;
} s_stmt_t;

static const s_stmt_t s_stmts[] = {
    {"keys_lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1},
    {"keys_kek_get", "SELECT check_enc FROM keys.kek_check WHERE id = 1", 0},
    {"keys_kek_put", "INSERT INTO keys.kek_check (id, check_enc) VALUES (1, $1::bytea)", 1},
    {"keys_load_published",
     "SELECT kid, alg, state, private_enc FROM keys.signing_keys"
     " WHERE state IN ('next', 'active', 'retiring')"
     " ORDER BY alg, activated_at DESC NULLS LAST, created_at DESC, kid",
     0},
    {"keys_insert",
     "INSERT INTO keys.signing_keys (kid, alg, state, activated_at, public_jwk, private_enc)"
     " VALUES ($1::text, $2::text, $3::text, CASE WHEN $3::text = 'active' THEN now() END,"
     " $4::jsonb, $5::bytea)",
     5},
};

int
keys_store_prepare (db_t *db)
{
    for (size_t i = 0; i < sizeof s_stmts / sizeof s_stmts[0]; i++)
        if (db_prepare (db, s_stmts[i].name, s_stmts[i].sql, s_stmts[i].nparams) != 0)
            return -1;
    return 0;
}

static db_status_t
s_exec (db_t *db, const char *name, int nparams, const char *const *params, PGresult **res)
{
    PGresult *r = NULL;
    db_status_t st = db_exec (db, name, nparams, params, &r);
    if (st != DB_OK)
        log_error ("%s: %s", name, db_status_name (st));
    if (res)
        *res = r;
    else
        PQclear (r);
    return st;
}

db_status_t
keys_store_begin (db_t *db)
{
    return db_exec_sql (db, "BEGIN");
}

db_status_t
keys_store_commit (db_t *db)
{
    return db_exec_sql (db, "COMMIT");
}

void
keys_store_rollback (db_t *db)
{
    if (db_exec_sql (db, "ROLLBACK") != DB_OK)
        log_warn ("rollback failed");
}

db_status_t
keys_store_lock (db_t *db)
{
    const char *params[] = {KEYS_BOOT_LOCK};
    return s_exec (db, "keys_lock", 1, params, NULL);
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

db_status_t
keys_store_load_published (db_t *db, keys_row_t **rows, size_t *nrows)
{
    *rows = NULL;
    *nrows = 0;
    PGresult *res = NULL;
    db_status_t st = s_exec (db, "keys_load_published", 0, NULL, &res);
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
keys_store_insert (db_t *db, const char *kid, jws_alg_t alg, key_state_t state, const json_t *public_jwk,
                   const unsigned char *blob, size_t len)
{
    char *jwk = json_dumps (public_jwk, JSON_COMPACT | JSON_SORT_KEYS);
    char *hex = s_bytea_text (blob, len);
    db_status_t st = DB_ERROR;
    if (jwk && hex) {
        const char *params[] = {kid, jws_alg_name (alg), key_state_name (state), jwk, hex};
        st = s_exec (db, "keys_insert", 5, params, NULL);
    }
    free (hex);
    free (jwk);
    return st;
}
