/*  keys_app - the process-wide state of keys-svc: the KEK, the lifecycle
 *  settings and the current keyring snapshot; and its start-up: settings,
 *  KEK check, loading, first-start generation. main.c starts the control
 *  thread (keys_control.h) on it once it is loaded, and stops that thread
 *  before destroying it.
 *
 *  Threads. The bus worker threads only read: they take a reference to the
 *  current snapshot (a sealed, read-only keyring and its generation), sign
 *  or publish from it, and release it. The control thread (keys_control.c)
 *  is the only writer after start-up: it builds a new keyring whenever the
 *  database's generation moves and swaps it in; the old one is freed when
 *  its last reader releases it. The KEK is used by start-up (before the
 *  control thread exists) and then by the control thread only. */
#ifndef OST_KEYS_APP_H
#define OST_KEYS_APP_H

#include "config.h"
#include "db.h"
#include "kek.h"
#include "keyring.h"
#include "ost.h"

#include <stdint.h>

//  The fixed start-up messages (stderr); tests look for them.
#define KEYS_MSG_KEK_MALFORMED                                                                               \
    "OSTIARY_KEK is malformed: it must be 32 bytes encoded as base64url without padding (43 characters)"
#define KEYS_MSG_KEK_WRONG "OSTIARY_KEK does not decrypt the stored keys: wrong key-encryption key"

//  How often the control thread looks at the generation and runs the
//  janitor, in milliseconds.
#define KEYS_TICK_MS 500
//  Seconds added to every lifecycle wait to cover what the settings do not:
//  a replica sees a change up to one tick late (it may sign with a key that
//  was just deactivated, or publish a new key that late), plus the bus
//  round trip. See docs/keys.md, "The timing rule".
#define KEYS_SLACK_S 2

typedef struct {
    long jwks_max_age;       //  OSTIARY_JWKS_MAX_AGE
    long publish_delay;      //  effective: a next key waits this long in the JWKS
    long token_lifetime_max; //  a retiring key stays published this long (+ KEYS_SLACK_S)
    long rotate_days;        //  0 = no automatic rotation
    unsigned algs;           //  bit (1u << alg) for every algorithm kept signing
} keys_settings_t;

typedef struct _keys_app_t keys_app_t;
typedef struct _keys_snap_t keys_snap_t;

//  Checks the lifecycle settings and the KEK, then in one transaction under
//  the lifecycle lock: checks the KEK against the stored KEK check (storing
//  one at first start), loads and decrypts the published keys, generates an
//  active key for every configured algorithm that has none. Seals the
//  keyring. On failure prints why to stderr, sets *exit_code (2 for a
//  configuration error such as a malformed or wrong KEK, 1 otherwise) and
//  returns NULL.
keys_app_t *keys_app_new (const config_t *cfg, db_t *db, int *exit_code);
//  Frees; the control thread must be stopped first. Idempotent.
void keys_app_destroy (keys_app_t **self_p);

//  A reference to the current snapshot; never NULL after keys_app_new.
keys_snap_t *keys_app_snapshot (keys_app_t *self);
void keys_snap_release (keys_snap_t **snap_p);
const keyring_t *keys_snap_ring (const keys_snap_t *snap);
int64_t keys_snap_generation (const keys_snap_t *snap);

const keys_settings_t *keys_app_settings (const keys_app_t *self);
const config_t *keys_app_config (const keys_app_t *self);
//  "host:pid" of this process, for the audit log and `status`.
const char *keys_app_replica (const keys_app_t *self);

//  ---- control thread only -------------------------------------------------

//  Reloads the keyring when the stored generation differs from the
//  snapshot's (or always, with force). Keys already held are reused, so
//  only new keys are decrypted; a key that does not decrypt is left out
//  and logged (a replica still running on the KEK a rewrap replaced).
//  1 reloaded, 0 nothing changed, -1 failed (the current snapshot stays).
int keys_app_reload (keys_app_t *self, db_t *db, int force);
//  A new key, generated and wrapped under the KEK but not stored yet. Keys
//  are made before the transaction that stores them begins, so that it
//  holds the lifecycle lock for milliseconds, not for a key generation, and
//  the times it writes are the times the change becomes visible.
typedef struct _keys_new_t keys_new_t;
//  NULL on failure (logged).
keys_new_t *keys_app_key_new (keys_app_t *self, jws_alg_t alg);
const char *keys_new_kid (const keys_new_t *key);
jws_alg_t keys_new_alg (const keys_new_t *key);
//  Frees it (the private key is cleared by EVP_PKEY_free). Idempotent.
void keys_new_destroy (keys_new_t **self_p);
//  Inside a transaction: stores key in state next (signing after
//  activate_after_s seconds) or active. 0 ok, -1 failure (logged).
OST_WUR int keys_app_key_store (keys_app_t *self, db_t *db, const keys_new_t *key, key_state_t state,
                                long activate_after_s);
//  1 when the stored KEK check unwraps under this process's KEK, 0 when it
//  does not (another replica re-wrapped the keys), -1 on a database error.
int keys_app_kek_current (keys_app_t *self, db_t *db);
const kek_t *keys_app_kek (const keys_app_t *self);
//  1 when the stored KEK check blob opens under kek.
int keys_app_kek_matches (const kek_t *kek, const unsigned char *blob, size_t len);
//  The KEK check blob for kek (rewrap stores it). 0 ok, -1 failure.
OST_WUR int keys_app_kek_check_blob (const kek_t *kek, unsigned char **blob, size_t *len);
//  Takes *kek_p (NULLs it) as this process's KEK after a rewrap.
void keys_app_set_kek (keys_app_t *self, kek_t **kek_p);

#endif
