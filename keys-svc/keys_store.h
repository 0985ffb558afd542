/*  keys_store - every SQL statement of schema keys (migrations/keys/).
 *  Functions return a db_status_t; the caller decides what it means. */
#ifndef OST_KEYS_STORE_H
#define OST_KEYS_STORE_H

#include "db.h"
#include "jws.h"
#include "keyring.h"
#include "ost.h"

#include <jansson.h>
#include <stddef.h>

//  One stored signing key, as loaded at start-up.
typedef struct {
    char kid[KEYRING_KID_MAX];
    jws_alg_t alg;
    key_state_t state;
    unsigned char *private_enc; //  nonce || ciphertext || tag (malloc)
    size_t private_enc_len;
} keys_row_t;

//  Prepares the statements on db. 0 ok, -1 failure.
OST_WUR int keys_store_prepare (db_t *db);

db_status_t keys_store_begin (db_t *db);
db_status_t keys_store_commit (db_t *db);
//  Rolls back the open transaction (errors are logged and ignored).
void keys_store_rollback (db_t *db);

//  Inside a transaction: serialises key bootstrap between replicas with a
//  transaction-scoped advisory lock.
db_status_t keys_store_lock (db_t *db);

//  The KEK check blob: DB_NOT_FOUND when none was stored yet. *blob (malloc).
db_status_t keys_store_kek_check_get (db_t *db, unsigned char **blob, size_t *len);
db_status_t keys_store_kek_check_put (db_t *db, const unsigned char *blob, size_t len);

//  Every key in a published state (next, active, retiring), newest first
//  within each algorithm. *rows (free with keys_store_rows_free).
db_status_t keys_store_load_published (db_t *db, keys_row_t **rows, size_t *nrows);
void keys_store_rows_free (keys_row_t **rows_p, size_t nrows);

//  Inserts a new key in state (activated_at = now() when active).
//  DB_CONFLICT when the kid exists or another active key of alg exists.
db_status_t keys_store_insert (db_t *db, const char *kid, jws_alg_t alg, key_state_t state,
                               const json_t *public_jwk, const unsigned char *blob, size_t len);

#endif
