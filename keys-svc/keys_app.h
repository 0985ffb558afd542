/*  keys_app - the process-wide state of keys-svc (the KEK and the sealed
 *  keyring) and its start-up: KEK check, loading, first-start generation. */
#ifndef OST_KEYS_APP_H
#define OST_KEYS_APP_H

#include "config.h"
#include "db.h"
#include "keyring.h"
#include "ost.h"

//  The fixed start-up messages (stderr); tests look for them.
#define KEYS_MSG_KEK_MALFORMED                                                                               \
    "OSTIARY_KEK is malformed: it must be 32 bytes encoded as base64url without padding (43 characters)"
#define KEYS_MSG_KEK_WRONG "OSTIARY_KEK does not decrypt the stored keys: wrong key-encryption key"

typedef struct _keys_app_t keys_app_t;

//  Checks the KEK, then in one transaction under an advisory lock: checks it
//  against the stored KEK check (storing one at first start), loads and
//  decrypts the published keys, generates an active RS256, ES256 and EdDSA
//  key where none is active. Seals the keyring. On failure prints why to
//  stderr, sets *exit_code (2 for a malformed or wrong KEK, 1 otherwise) and
//  returns NULL.
keys_app_t *keys_app_new (const config_t *cfg, db_t *db, int *exit_code);
void keys_app_destroy (keys_app_t **self_p);

const keyring_t *keys_app_keyring (const keys_app_t *self);

#endif
