/*  keys_store - every SQL statement of schema keys (migrations/keys/).
 *  Functions return a db_status_t; the caller decides what it means.
 *  Times are the database's (now()), so that replicas on hosts whose clocks
 *  differ still agree on when a key may sign or must leave the JWKS. */
#ifndef OST_KEYS_STORE_H
#define OST_KEYS_STORE_H

#include "audit.h"
#include "db.h"
#include "jws.h"
#include "keyring.h"
#include "ost.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

//  One stored signing key, as loaded at start-up.
typedef struct {
    char kid[KEYRING_KID_MAX];
    jws_alg_t alg;
    key_state_t state;
    unsigned char *private_enc; //  nonce || ciphertext || tag (malloc)
    size_t private_enc_len;
} keys_row_t;

//  The lifecycle view of one key (no key material).
typedef struct {
    char kid[KEYRING_KID_MAX];
    jws_alg_t alg;
    key_state_t state;
    double active_for; //  seconds since activated_at (active keys), else 0
    double wait;       //  seconds until activate_after (next) or retire_after (retiring); may be < 0
} keys_life_t;

//  Prepares the statements on db. 0 ok, -1 failure.
OST_WUR int keys_store_prepare (db_t *db);

//  Inside a transaction: serialises every lifecycle decision (bootstrap,
//  janitor, admin commands) between replicas with one transaction-scoped
//  advisory lock. Waits at most KEYS_LOCK_TIMEOUT_MS, then DB_RETRY.
OST_WUR db_status_t keys_store_lock (db_t *db);
//  The same lock without waiting: *got is 1 when this transaction holds it.
OST_WUR db_status_t keys_store_try_lock (db_t *db, int *got);

//  The KEK check blob: DB_NOT_FOUND when none was stored yet. *blob (malloc).
OST_WUR db_status_t keys_store_kek_check_get (db_t *db, unsigned char **blob, size_t *len);
OST_WUR db_status_t keys_store_kek_check_put (db_t *db, const unsigned char *blob, size_t len);
//  Replaces the stored check (rewrap). DB_NOT_FOUND when there is none.
OST_WUR db_status_t keys_store_kek_check_replace (db_t *db, const unsigned char *blob, size_t len);

//  Every key in a published state (next, active, retiring), newest first
//  within each algorithm. *rows (free with keys_store_rows_free).
OST_WUR db_status_t keys_store_load_published (db_t *db, keys_row_t **rows, size_t *nrows);
//  Every key that still has a private part, locked FOR UPDATE (rewrap).
OST_WUR db_status_t keys_store_load_private_for_update (db_t *db, keys_row_t **rows, size_t *nrows);
void keys_store_rows_free (keys_row_t **rows_p, size_t nrows);

//  Inserts a new key in state next (activate_after = now() + activate_after_s)
//  or active (activated_at = now()). DB_CONFLICT when the kid exists or
//  another active (or next) key of alg exists.
OST_WUR db_status_t keys_store_insert (db_t *db, const char *kid, jws_alg_t alg, key_state_t state,
                                       const json_t *public_jwk, const unsigned char *blob, size_t len,
                                       long activate_after_s);
//  Replaces the private part of kid, guarded by its current value (rewrap).
//  *changed is the row count (0 or 1).
OST_WUR db_status_t keys_store_replace_private (db_t *db, const char *kid, const unsigned char *old_blob,
                                                size_t old_len, const unsigned char *blob, size_t len,
                                                int *changed);

//  The guarded transition: one UPDATE ... WHERE kid = kid AND state = from.
//  *changed is the row count: 1 moved, 0 the key was not in state from (some
//  other replica moved it first, or it does not exist). Sets activated_at
//  (to active), deactivated_at (from active), retire_after = now() +
//  retire_after_s (to retiring), retired_at and private_enc = NULL (to
//  retired). Callers go through keys_lifecycle_set_state, which checks that
//  the transition is one of the lifecycle's.
OST_WUR db_status_t keys_store_set_state (db_t *db, const char *kid, key_state_t from, key_state_t to,
                                          long retire_after_s, int *changed);

//  Every next and active key with its timing. *keys (free()).
OST_WUR db_status_t keys_store_life (db_t *db, keys_life_t **keys, size_t *nkeys);
//  The kids of retiring keys whose retire_after has passed. *keys (free()).
OST_WUR db_status_t keys_store_due_retiring (db_t *db, keys_life_t **keys, size_t *nkeys);
//  One key's lifecycle view; DB_NOT_FOUND when kid is unknown.
OST_WUR db_status_t keys_store_key (db_t *db, const char *kid, keys_life_t *key);

//  The keyring generation (keys.generation, bumped by every change).
OST_WUR db_status_t keys_store_generation (db_t *db, int64_t *generation);
//  Every key (retired ones too) as an array of objects with kid, alg, state
//  and ISO-8601 UTC times (created, activated, activate_after, deactivated,
//  retire_after, retired; null when unset). *list (json_decref).
OST_WUR db_status_t keys_store_list (db_t *db, json_t **list);

//  Records a security event (common/audit.h) in keys.audit_events, in the
//  caller's transaction if any.
OST_WUR db_status_t keys_store_audit (db_t *db, const audit_record_t *record);
//  The events filter selects: *result is keys.audit_list's result.
OST_WUR db_status_t keys_store_audit_list (db_t *db, const audit_filter_t *filter, json_t **result);
//  Deletes at most batch events older than days; *deleted says how many.
OST_WUR db_status_t keys_store_audit_purge (db_t *db, long days, long batch, int *deleted);

#endif
