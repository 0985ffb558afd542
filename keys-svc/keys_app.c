/*  keys_app - start-up of keys-svc: the KEK check, loading and generation. */
#include "keys_app.h"

#include "kek.h"
#include "keys_store.h"
#include "log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The KEK check: a known plaintext wrapped under the KEK at first start.
//  If it does not unwrap, the configured KEK is not the one the keys were
//  stored under, and we stop before touching a key (AES-GCM tells us so
//  reliably; we never decrypt to garbage).
#define KEK_CHECK_AAD "ostiary-kek-check"
#define KEK_CHECK_PLAIN "ostiary-kek-check-v1"

struct _keys_app_t {
    //  Kept for issue 5 (rotation wraps new keys at run time).
    kek_t *kek;
    keyring_t *ring;
};

typedef enum { S_OK = 0, S_WRONG_KEK = 2, S_FAILED = 1 } s_rc_t;

static void
s_fail (const char *message)
{
    fprintf (stderr, "keys-svc: %s\n", message);
}

//  0 when the stored check unwraps to the known plaintext under kek.
static int
s_kek_check_matches (const kek_t *kek, const unsigned char *blob, size_t len)
{
    unsigned char *plain = NULL;
    size_t plainlen = 0;
    if (kek_unwrap (kek, KEK_CHECK_AAD, strlen (KEK_CHECK_AAD), blob, len, &plain, &plainlen) != 0)
        return -1;
    int ok = plainlen == strlen (KEK_CHECK_PLAIN) && memcmp (plain, KEK_CHECK_PLAIN, plainlen) == 0;
    OPENSSL_clear_free (plain, plainlen);
    return ok ? 0 : -1;
}

static s_rc_t
s_store_kek_check (const kek_t *kek, db_t *db)
{
    unsigned char *blob = NULL;
    size_t len = 0;
    if (kek_wrap (kek, KEK_CHECK_AAD, strlen (KEK_CHECK_AAD), (const unsigned char *)KEK_CHECK_PLAIN,
                  strlen (KEK_CHECK_PLAIN), &blob, &len) != 0) {
        s_fail ("cannot encrypt the key-encryption key check");
        return S_FAILED;
    }
    db_status_t st = keys_store_kek_check_put (db, blob, len);
    OPENSSL_free (blob);
    if (st != DB_OK) {
        s_fail ("cannot store the key-encryption key check");
        return S_FAILED;
    }
    return S_OK;
}

//  Loads and decrypts every published key into ring. have_check says whether
//  the KEK was already proven by the stored check: if it was not (a database
//  from before the check, or a check row deleted), a key that does not
//  decrypt means a wrong KEK; if it was, it means a tampered or corrupt row.
static s_rc_t
s_load (keys_app_t *self, db_t *db, int have_check)
{
    keys_row_t *rows = NULL;
    size_t nrows = 0;
    if (keys_store_load_published (db, &rows, &nrows) != DB_OK) {
        s_fail ("cannot read keys.signing_keys");
        return S_FAILED;
    }
    s_rc_t rc = S_OK;
    for (size_t i = 0; i < nrows && rc == S_OK; i++) {
        keys_row_t *row = &rows[i];
        EVP_PKEY *pkey =
            keyring_unwrap (self->kek, row->kid, row->alg, row->private_enc, row->private_enc_len);
        if (!pkey) {
            if (have_check) {
                fprintf (stderr,
                         "keys-svc: stored key %s (%s) does not decrypt under its own kid and algorithm: "
                         "the row is corrupt or was tampered with\n",
                         row->kid, jws_alg_name (row->alg));
                rc = S_FAILED;
            } else {
                s_fail (KEYS_MSG_KEK_WRONG);
                rc = S_WRONG_KEK;
            }
        } else if (keyring_add (self->ring, row->kid, row->alg, row->state, &pkey) != 0) {
            fprintf (stderr, "keys-svc: stored key %s cannot be used (see the log)\n", row->kid);
            rc = S_FAILED;
        }
    }
    keys_store_rows_free (&rows, nrows);
    return rc;
}

//  First start (or an algorithm with no active key): a new active key.
static s_rc_t
s_generate (keys_app_t *self, db_t *db, jws_alg_t alg)
{
    const char *name = jws_alg_name (alg);
    char kid[KEYRING_KID_MAX];
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    json_t *jwk = NULL;
    s_rc_t rc = S_FAILED;
    EVP_PKEY *pkey = keyring_generate (alg);
    if (!pkey || keyring_thumbprint (pkey, alg, kid) != 0 ||
        keyring_wrap (self->kek, kid, alg, pkey, &blob, &bloblen) != 0) {
        fprintf (stderr, "keys-svc: cannot generate a %s key\n", name);
        goto done;
    }
    jwk = jws_public_jwk (pkey, alg, kid);
    if (!jwk || keys_store_insert (db, kid, alg, KEY_STATE_ACTIVE, jwk, blob, bloblen) != DB_OK) {
        fprintf (stderr, "keys-svc: cannot store the new %s key\n", name);
        goto done;
    }
    if (keyring_add (self->ring, kid, alg, KEY_STATE_ACTIVE, &pkey) != 0) {
        fprintf (stderr, "keys-svc: the new %s key cannot be used (see the log)\n", name);
        goto done;
    }
    log_info ("generated %s signing key %s (active)", name, kid);
    rc = S_OK;
done:
    json_decref (jwk);
    OPENSSL_free (blob);
    EVP_PKEY_free (pkey);
    return rc;
}

//  The whole bootstrap, inside the transaction that holds the lock.
static s_rc_t
s_bootstrap (keys_app_t *self, db_t *db)
{
    if (keys_store_lock (db) != DB_OK) {
        s_fail ("cannot take the key bootstrap lock");
        return S_FAILED;
    }
    unsigned char *check = NULL;
    size_t checklen = 0;
    db_status_t st = keys_store_kek_check_get (db, &check, &checklen);
    if (st != DB_OK && st != DB_NOT_FOUND) {
        s_fail ("cannot read keys.kek_check");
        return S_FAILED;
    }
    int have_check = st == DB_OK;
    int matches = have_check && s_kek_check_matches (self->kek, check, checklen) == 0;
    free (check);
    if (have_check && !matches) {
        s_fail (KEYS_MSG_KEK_WRONG);
        return S_WRONG_KEK;
    }
    s_rc_t rc = s_load (self, db, have_check);
    if (rc == S_OK && !have_check)
        rc = s_store_kek_check (self->kek, db);
    for (size_t i = 0; i < keyring_nalgs && rc == S_OK; i++)
        if (!keyring_has_active (self->ring, keyring_algs[i]))
            rc = s_generate (self, db, keyring_algs[i]);
    return rc;
}

keys_app_t *
keys_app_new (const config_t *cfg, db_t *db, int *exit_code)
{
    *exit_code = 1;
    keys_app_t *self = calloc (1, sizeof *self);
    if (!self) {
        s_fail ("out of memory");
        return NULL;
    }
    self->kek = kek_new (cfg->kek);
    if (!self->kek) {
        s_fail (KEYS_MSG_KEK_MALFORMED);
        *exit_code = 2;
        keys_app_destroy (&self);
        return NULL;
    }
    self->ring = keyring_new ();
    if (!self->ring || keys_store_prepare (db) != 0) {
        s_fail ("cannot prepare the keys store");
        keys_app_destroy (&self);
        return NULL;
    }
    if (keys_store_begin (db) != DB_OK) {
        s_fail ("cannot begin the key bootstrap transaction");
        keys_app_destroy (&self);
        return NULL;
    }
    s_rc_t rc = s_bootstrap (self, db);
    if (rc != S_OK) {
        //  Nothing of a failed start is kept: no KEK check stored under a
        //  wrong KEK, no key without its siblings.
        keys_store_rollback (db);
        *exit_code = (int)rc;
        keys_app_destroy (&self);
        return NULL;
    }
    if (keys_store_commit (db) != DB_OK) {
        s_fail ("cannot commit the key bootstrap transaction");
        keys_app_destroy (&self);
        return NULL;
    }
    if (keyring_seal (self->ring) != 0) {
        s_fail ("a signing key failed its self-test (see the log)");
        keys_app_destroy (&self);
        return NULL;
    }
    log_info ("%zu signing keys published", keyring_published (self->ring));
    *exit_code = 0;
    return self;
}

void
keys_app_destroy (keys_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    keys_app_t *self = *self_p;
    keyring_destroy (&self->ring);
    kek_destroy (&self->kek);
    free (self);
    *self_p = NULL;
}

const keyring_t *
keys_app_keyring (const keys_app_t *self)
{
    return self->ring;
}
