/*  keys_app - start-up of keys-svc (settings, KEK check, loading,
 *  generation) and the keyring snapshots the worker threads sign from. */
#include "keys_app.h"

#include "kek.h"
#include "keys_store.h"
#include "log.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  The KEK check: a known plaintext wrapped under the KEK at first start.
//  If it does not unwrap, the configured KEK is not the one the keys were
//  stored under, and we stop before touching a key (AES-GCM tells us so
//  reliably; we never decrypt to garbage).
#define KEK_CHECK_AAD "ostiary-kek-check"
#define KEK_CHECK_PLAIN "ostiary-kek-check-v1"

struct _keys_snap_t {
    atomic_int refs;
    keyring_t *ring;
    int64_t generation;
};

struct _keys_app_t {
    const config_t *cfg;
    keys_settings_t settings;
    char replica[128];
    //  Start-up, then the control thread only (see keys_app.h).
    kek_t *kek;
    //  Guards the snap pointer only; never held while signing.
    pthread_mutex_t lock;
    keys_snap_t *snap;
};

typedef enum { S_OK = 0, S_WRONG_KEK = 2, S_FAILED = 1 } s_rc_t;

static void
s_fail (const char *message)
{
    fprintf (stderr, "keys-svc: %s\n", message);
}

//  ---------------------------------------------------------------- settings

//  OSTIARY_KEYS_ALGS: comma-separated algorithm names, each one of ours.
static int
s_parse_algs (const char *text, unsigned *algs)
{
    *algs = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn (p, ", ");
        char name[16];
        if (len >= sizeof name)
            return -1;
        memcpy (name, p, len);
        name[len] = '\0';
        jws_alg_t alg = jws_alg_parse (name);
        //  RFC 7515 §4.1.1: alg names are case-sensitive.
        if (alg == JWS_ALG_NONE || strcmp (jws_alg_name (alg), name) != 0)
            return -1;
        *algs |= 1u << alg;
        p += len;
    }
    return *algs ? 0 : -1;
}

static int
s_settings (const config_t *cfg, keys_settings_t *settings)
{
    int rc = 0;
    settings->jwks_max_age = cfg->jwks_max_age;
    settings->token_lifetime_max = cfg->keys_token_lifetime_max;
    settings->rotate_days = cfg->keys_rotate_days;
    if (s_parse_algs (cfg->keys_algs, &settings->algs) != 0) {
        s_fail ("OSTIARY_KEYS_ALGS must list algorithms among RS256, ES256, EdDSA, comma-separated");
        rc = -1;
    }
    //  OpenID Connect Discovery 1.0 §3: id_token_signing_alg_values_supported
    //  MUST include RS256, so an RS256 key must always be able to sign.
    else if (!(settings->algs & (1u << JWS_ALG_RS256))) {
        s_fail ("OSTIARY_KEYS_ALGS must include RS256 (OpenID Connect requires it)");
        rc = -1;
    }
    //  The timing rule (docs/keys.md): a key signs only once every cache
    //  that may hold the JWKS has had time to refetch it. The gateway caches
    //  it for OSTIARY_JWKS_MAX_AGE and tells clients to keep it no longer
    //  than the rest of that time, so max-age + our slack is the floor; the
    //  default doubles max-age for caches that do not count down (a proxy
    //  that ignores Age, a client that keeps the full max-age).
    long floor = cfg->jwks_max_age + KEYS_SLACK_S;
    if (cfg->keys_publish_delay == 0)
        settings->publish_delay = 2 * cfg->jwks_max_age + KEYS_SLACK_S;
    else if (cfg->keys_publish_delay < floor) {
        fprintf (stderr,
                 "keys-svc: OSTIARY_KEYS_PUBLISH_DELAY must be at least OSTIARY_JWKS_MAX_AGE + %d = %ld "
                 "seconds: a key must not sign before every JWKS cache has seen it\n",
                 KEYS_SLACK_S, floor);
        rc = -1;
    } else
        settings->publish_delay = cfg->keys_publish_delay;
    //  Automatic rotation creates the successor publish_delay before the
    //  period ends; a period shorter than that would rotate without pause.
    if (cfg->keys_rotate_days > 0 && cfg->keys_rotate_days * 86400L <= settings->publish_delay) {
        s_fail ("OSTIARY_KEYS_ROTATE_DAYS must be longer than OSTIARY_KEYS_PUBLISH_DELAY");
        rc = -1;
    }
    return rc;
}

//  ---------------------------------------------------------------- snapshots

static keys_snap_t *
s_snap_new (keyring_t **ring_p, int64_t generation)
{
    keys_snap_t *snap = calloc (1, sizeof *snap);
    if (!snap) {
        keyring_destroy (ring_p);
        return NULL;
    }
    atomic_init (&snap->refs, 1);
    snap->ring = *ring_p;
    *ring_p = NULL;
    snap->generation = generation;
    return snap;
}

void
keys_snap_release (keys_snap_t **snap_p)
{
    if (!snap_p || !*snap_p)
        return;
    keys_snap_t *snap = *snap_p;
    *snap_p = NULL;
    if (atomic_fetch_sub (&snap->refs, 1) == 1) {
        keyring_destroy (&snap->ring);
        free (snap);
    }
}

keys_snap_t *
keys_app_snapshot (keys_app_t *self)
{
    pthread_mutex_lock (&self->lock);
    keys_snap_t *snap = self->snap;
    if (snap)
        atomic_fetch_add (&snap->refs, 1);
    pthread_mutex_unlock (&self->lock);
    return snap;
}

const keyring_t *
keys_snap_ring (const keys_snap_t *snap)
{
    return snap->ring;
}

int64_t
keys_snap_generation (const keys_snap_t *snap)
{
    return snap->generation;
}

//  Publishes snap as the current one; the previous one goes when its last
//  reader releases it.
static void
s_swap (keys_app_t *self, keys_snap_t *snap)
{
    pthread_mutex_lock (&self->lock);
    keys_snap_t *old = self->snap;
    self->snap = snap;
    pthread_mutex_unlock (&self->lock);
    keys_snap_release (&old);
}

//  ---------------------------------------------------------------- KEK

int
keys_app_kek_check_blob (const kek_t *kek, unsigned char **blob, size_t *len)
{
    return kek_wrap (kek, KEK_CHECK_AAD, strlen (KEK_CHECK_AAD), (const unsigned char *)KEK_CHECK_PLAIN,
                     strlen (KEK_CHECK_PLAIN), blob, len);
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

int
keys_app_kek_matches (const kek_t *kek, const unsigned char *blob, size_t len)
{
    return s_kek_check_matches (kek, blob, len) == 0;
}

static s_rc_t
s_store_kek_check (const kek_t *kek, db_t *db)
{
    unsigned char *blob = NULL;
    size_t len = 0;
    if (keys_app_kek_check_blob (kek, &blob, &len) != 0) {
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

int
keys_app_kek_current (keys_app_t *self, db_t *db)
{
    unsigned char *check = NULL;
    size_t len = 0;
    db_status_t st = keys_store_kek_check_get (db, &check, &len);
    if (st != DB_OK)
        return -1;
    int current = s_kek_check_matches (self->kek, check, len) == 0;
    free (check);
    return current;
}

const kek_t *
keys_app_kek (const keys_app_t *self)
{
    return self->kek;
}

void
keys_app_set_kek (keys_app_t *self, kek_t **kek_p)
{
    kek_destroy (&self->kek);
    self->kek = *kek_p;
    *kek_p = NULL;
}

//  ---------------------------------------------------------------- keys

struct _keys_new_t {
    char kid[KEYRING_KID_MAX];
    jws_alg_t alg;
    EVP_PKEY *pkey;
    unsigned char *blob; //  OPENSSL_malloc (kek_wrap)
    size_t bloblen;
    json_t *jwk;
};

void
keys_new_destroy (keys_new_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    keys_new_t *self = *self_p;
    EVP_PKEY_free (self->pkey);
    OPENSSL_free (self->blob);
    json_decref (self->jwk);
    free (self);
    *self_p = NULL;
}

keys_new_t *
keys_app_key_new (keys_app_t *self, jws_alg_t alg)
{
    keys_new_t *key = calloc (1, sizeof *key);
    if (!key)
        return NULL;
    key->alg = alg;
    key->pkey = keyring_generate (alg);
    if (!key->pkey || keyring_thumbprint (key->pkey, alg, key->kid) != 0 ||
        keyring_wrap (self->kek, key->kid, alg, key->pkey, &key->blob, &key->bloblen) != 0 ||
        !(key->jwk = jws_public_jwk (key->pkey, alg, key->kid))) {
        log_error ("cannot generate a %s key", jws_alg_name (alg) ? jws_alg_name (alg) : "?");
        keys_new_destroy (&key);
    }
    return key;
}

const char *
keys_new_kid (const keys_new_t *key)
{
    return key->kid;
}

jws_alg_t
keys_new_alg (const keys_new_t *key)
{
    return key->alg;
}

int
keys_app_key_store (keys_app_t *self, db_t *db, const keys_new_t *key, key_state_t state,
                    long activate_after_s)
{
    OST_UNUSED (self);
    db_status_t st = keys_store_insert (db, key->kid, key->alg, state, key->jwk, key->blob, key->bloblen,
                                        activate_after_s);
    if (st != DB_OK) {
        log_error ("cannot store the new %s key: %s", jws_alg_name (key->alg), db_status_name (st));
        return -1;
    }
    log_info ("generated %s signing key %s (%s)", jws_alg_name (key->alg), key->kid, key_state_name (state));
    json_t *details =
        json_pack ("{s:s, s:s}", "alg", jws_alg_name (key->alg), "state", key_state_name (state));
    st = details ? keys_store_audit (db, &(audit_record_t){.event = AUDIT_EV_key_generate,
                                                           .outcome = AUDIT_SUCCESS,
                                                           .actor = "system",
                                                           .subject = key->kid,
                                                           .details = details})
                 : DB_ERROR;
    json_decref (details);
    if (st != DB_OK) {
        log_error ("cannot record the new %s key: %s", jws_alg_name (key->alg), db_status_name (st));
        return -1;
    }
    return 0;
}

//  Start-up: generates and stores an active key and adds it to ring.
static int
s_create_active (keys_app_t *self, db_t *db, jws_alg_t alg, keyring_t *ring)
{
    keys_new_t *key = keys_app_key_new (self, alg);
    int rc = -1;
    if (key && keys_app_key_store (self, db, key, KEY_STATE_ACTIVE, 0) == 0)
        rc = keyring_add (ring, key->kid, alg, KEY_STATE_ACTIVE, &key->pkey);
    keys_new_destroy (&key);
    return rc;
}

//  Builds a keyring from the published rows. Keys that prev (may be NULL)
//  holds are reused; others are decrypted. strict: a key that does not
//  decrypt fails the whole load (start-up); otherwise it is left out.
static s_rc_t
s_load (keys_app_t *self, db_t *db, const keyring_t *prev, int strict, int have_check, keyring_t *ring)
{
    keys_row_t *rows = NULL;
    size_t nrows = 0;
    if (keys_store_load_published (db, &rows, &nrows) != DB_OK) {
        log_error ("cannot read keys.signing_keys");
        return S_FAILED;
    }
    s_rc_t rc = S_OK;
    for (size_t i = 0; i < nrows && rc == S_OK; i++) {
        keys_row_t *row = &rows[i];
        EVP_PKEY *pkey = keyring_pkey (prev, row->kid, row->alg);
        if (pkey && EVP_PKEY_up_ref (pkey) != 1)
            pkey = NULL;
        if (!pkey)
            pkey = keyring_unwrap (self->kek, row->kid, row->alg, row->private_enc, row->private_enc_len);
        if (!pkey) {
            if (!strict)
                //  Another replica re-wrapped the keys under a new KEK and
                //  created this one since: we cannot use it until restarted.
                log_error ("key %s (%s) does not decrypt under this replica's OSTIARY_KEK: restart it with "
                           "the key-encryption key the keys were re-wrapped under",
                           row->kid, jws_alg_name (row->alg));
            else if (have_check) {
                fprintf (stderr,
                         "keys-svc: stored key %s (%s) does not decrypt under its own kid and algorithm: "
                         "the row is corrupt or was tampered with\n",
                         row->kid, jws_alg_name (row->alg));
                rc = S_FAILED;
            } else {
                s_fail (KEYS_MSG_KEK_WRONG);
                rc = S_WRONG_KEK;
            }
        } else if (keyring_add (ring, row->kid, row->alg, row->state, &pkey) != 0) {
            log_error ("stored key %s cannot be used", row->kid);
            if (strict) {
                fprintf (stderr, "keys-svc: stored key %s cannot be used (see the log)\n", row->kid);
                rc = S_FAILED;
            }
        }
    }
    keys_store_rows_free (&rows, nrows);
    return rc;
}

//  The whole bootstrap, inside the transaction that holds the lock.
static s_rc_t
s_bootstrap (keys_app_t *self, db_t *db, keyring_t *ring, int64_t *generation)
{
    if (keys_store_lock (db) != DB_OK) {
        s_fail ("cannot take the key lifecycle lock");
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
    s_rc_t rc = s_load (self, db, NULL, 1, have_check, ring);
    if (rc == S_OK && !have_check)
        rc = s_store_kek_check (self->kek, db);
    //  First start, or an algorithm newly configured: an active key at once.
    //  No relying party can hold a token of an algorithm we never signed
    //  with, so there is nothing to wait for.
    for (size_t i = 0; i < keyring_nalgs && rc == S_OK; i++) {
        jws_alg_t alg = keyring_algs[i];
        if (!(self->settings.algs & (1u << alg)) || keyring_has_active (ring, alg))
            continue;
        if (s_create_active (self, db, alg, ring) != 0) {
            fprintf (stderr, "keys-svc: cannot create a %s key (see the log)\n", jws_alg_name (alg));
            rc = S_FAILED;
        }
    }
    //  Read under the lock, after our own inserts: no other replica can
    //  change the keys before we commit, so this generation is exactly the
    //  keyring we built.
    if (rc == S_OK && keys_store_generation (db, generation) != DB_OK) {
        s_fail ("cannot read keys.generation");
        rc = S_FAILED;
    }
    return rc;
}

static const char *
s_names (unsigned algs, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < keyring_nalgs; i++)
        if (algs & (1u << keyring_algs[i])) {
            size_t len = strlen (out);
            snprintf (out + len, size - len, "%s%s", len ? "," : "", jws_alg_name (keyring_algs[i]));
        }
    return out;
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
    self->cfg = cfg;
    if (pthread_mutex_init (&self->lock, NULL) != 0) {
        free (self);
        return NULL;
    }
    char host[64] = "?";
    if (gethostname (host, sizeof host) != 0)
        snprintf (host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    snprintf (self->replica, sizeof self->replica, "%s:%ld", host, (long)getpid ());
    if (s_settings (cfg, &self->settings) != 0) {
        *exit_code = 2;
        keys_app_destroy (&self);
        return NULL;
    }
    self->kek = kek_new (cfg->kek);
    if (!self->kek) {
        s_fail (KEYS_MSG_KEK_MALFORMED);
        *exit_code = 2;
        keys_app_destroy (&self);
        return NULL;
    }
    keyring_t *ring = keyring_new ();
    if (!ring || keys_store_prepare (db) != 0) {
        s_fail ("cannot prepare the keys store");
        keyring_destroy (&ring);
        keys_app_destroy (&self);
        return NULL;
    }
    if (db_begin (db) != DB_OK) {
        s_fail ("cannot begin the key bootstrap transaction");
        keyring_destroy (&ring);
        keys_app_destroy (&self);
        return NULL;
    }
    int64_t generation = 0;
    s_rc_t rc = s_bootstrap (self, db, ring, &generation);
    if (rc != S_OK) {
        //  Nothing of a failed start is kept: no KEK check stored under a
        //  wrong KEK, no key without its siblings.
        db_rollback (db);
        keyring_destroy (&ring);
        *exit_code = (int)rc;
        keys_app_destroy (&self);
        return NULL;
    }
    if (db_commit (db) != DB_OK) {
        s_fail ("cannot commit the key bootstrap transaction");
        keyring_destroy (&ring);
        keys_app_destroy (&self);
        return NULL;
    }
    if (keyring_seal (ring) != 0) {
        s_fail ("a signing key failed its self-test (see the log)");
        keyring_destroy (&ring);
        keys_app_destroy (&self);
        return NULL;
    }
    size_t published = keyring_published (ring);
    self->snap = s_snap_new (&ring, generation);
    if (!self->snap) {
        s_fail ("out of memory");
        keys_app_destroy (&self);
        return NULL;
    }
    char algs[64];
    log_info ("%zu signing keys published (generation %lld); keeping %s; publish delay %ld s, token lifetime "
              "max %ld s, rotation every %ld days",
              published, (long long)generation, s_names (self->settings.algs, algs, sizeof algs),
              self->settings.publish_delay, self->settings.token_lifetime_max, self->settings.rotate_days);
    *exit_code = 0;
    return self;
}

void
keys_app_destroy (keys_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    keys_app_t *self = *self_p;
    keys_snap_release (&self->snap);
    kek_destroy (&self->kek);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

const keys_settings_t *
keys_app_settings (const keys_app_t *self)
{
    return &self->settings;
}

const config_t *
keys_app_config (const keys_app_t *self)
{
    return self->cfg;
}

const char *
keys_app_replica (const keys_app_t *self)
{
    return self->replica;
}

int
keys_app_reload (keys_app_t *self, db_t *db, int force)
{
    int64_t generation = 0;
    if (keys_store_generation (db, &generation) != DB_OK)
        return -1;
    keys_snap_t *current = keys_app_snapshot (self);
    if (!force && current && generation == current->generation) {
        keys_snap_release (&current);
        return 0;
    }
    //  The generation was read before the keys: if they change meanwhile we
    //  load newer keys than it says, and the next look reloads once more.
    keyring_t *ring = keyring_new ();
    int rc = -1;
    if (ring && s_load (self, db, current ? current->ring : NULL, 0, 1, ring) == S_OK) {
        if (keyring_seal (ring) != 0)
            log_error ("a reloaded signing key failed its self-test; keeping generation %lld",
                       current ? (long long)current->generation : 0LL);
        else {
            size_t published = keyring_published (ring);
            json_t *algs = keyring_signing_algs (ring);
            char *names = algs ? json_dumps (algs, JSON_COMPACT) : NULL;
            keys_snap_t *snap = s_snap_new (&ring, generation);
            if (snap) {
                s_swap (self, snap);
                log_info ("keyring reloaded: generation %lld, %zu keys published, signing %s",
                          (long long)generation, published, names ? names : "?");
                rc = 1;
            }
            free (names);
            json_decref (algs);
        }
    }
    keyring_destroy (&ring);
    keys_snap_release (&current);
    return rc;
}
