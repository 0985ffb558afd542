/*  keys_lifecycle - the state machine of signing keys and the admin
 *  decisions (rotate, retire, rewrap). See keys_lifecycle.h. */
#include "keys_lifecycle.h"
#include "metrics.h"

#include "keys_store.h"
#include "log.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The edges of the lifecycle (ARCHITECTURE.md, "Keys").
static const struct {
    key_state_t from;
    key_state_t to;
} s_edges[] = {
    //  Planned: a key signs only after it was published long enough ...
    {KEY_STATE_NEXT, KEY_STATE_ACTIVE},
    //  ... stays published while the tokens it signed may be valid ...
    {KEY_STATE_ACTIVE, KEY_STATE_RETIRING},
    //  ... and leaves the JWKS when the last of them has expired.
    {KEY_STATE_RETIRING, KEY_STATE_RETIRED},
    //  A pending key that never signed can go at any time.
    {KEY_STATE_NEXT, KEY_STATE_RETIRED},
    //  Emergency rotation of a compromised key: out at once.
    {KEY_STATE_ACTIVE, KEY_STATE_RETIRED},
};

int
keys_lifecycle_allowed (key_state_t from, key_state_t to)
{
    for (size_t i = 0; i < sizeof s_edges / sizeof s_edges[0]; i++)
        if (s_edges[i].from == from && s_edges[i].to == to)
            return 1;
    return 0;
}

db_status_t
keys_lifecycle_set_state (db_t *db, const char *kid, jws_alg_t alg, key_state_t from, key_state_t to,
                          long retire_after_s, int *changed)
{
    *changed = 0;
    if (!keys_lifecycle_allowed (from, to)) {
        log_error ("refused lifecycle move of %s key %s: %s -> %s is not a transition", jws_alg_name (alg),
                   kid, key_state_name (from), key_state_name (to));
        return DB_ERROR;
    }
    db_status_t st = keys_store_set_state (db, kid, from, to, retire_after_s, changed);
    //  A pending key promoted: the janitor's scheduled rotation.
    if (st == DB_OK && *changed && to == KEY_STATE_ACTIVE)
        metrics_inc (METRIC_KEY_ROTATIONS, METRICS_L (jws_alg_name (alg), "schedule"));
    if (st == DB_OK && *changed)
        log_info ("%s key %s: %s -> %s%s", jws_alg_name (alg), kid, key_state_name (from),
                  key_state_name (to), to == KEY_STATE_RETIRED ? " (private part destroyed)" : "");
    return st;
}

long
keys_lifecycle_retire_delay (const keys_settings_t *settings)
{
    //  Every token the key signed expires within token_lifetime_max of its
    //  signature; a replica may still sign with it for up to one tick after
    //  the move (KEYS_SLACK_S covers that).
    return settings->token_lifetime_max + KEYS_SLACK_S;
}

int
keys_lifecycle_begin (db_t *db, int try_only)
{
    if (db_begin (db) != DB_OK)
        return -1;
    db_status_t st;
    int got = 1;
    if (try_only)
        st = keys_store_try_lock (db, &got);
    else
        st = keys_store_lock (db);
    if (st != DB_OK || !got) {
        db_rollback (db);
        return st == DB_OK ? 1 : -1;
    }
    return 0;
}

static void s_err (keys_err_t *err, ost_err_t code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_err (keys_err_t *err, ost_err_t code, const char *fmt, ...)
{
    err->err = code;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err->description, sizeof err->description, fmt, ap);
    va_end (ap);
}

//  Ends the transaction: COMMIT when ok, else ROLLBACK. Returns ok && committed.
static int
s_end (db_t *db, int ok, keys_err_t *err)
{
    if (!ok) {
        db_rollback (db);
        return 0;
    }
    if (db_commit (db) != DB_OK) {
        s_err (err, OST_ERR_TEMPORARILY_UNAVAILABLE,
               "the database did not commit the change; nothing changed");
        return 0;
    }
    return 1;
}

static int
s_begin (db_t *db, keys_err_t *err)
{
    if (keys_lifecycle_begin (db, 0) != 0) {
        s_err (err, OST_ERR_TEMPORARILY_UNAVAILABLE,
               "the key lifecycle lock or the database is not available now; try again");
        return -1;
    }
    return 0;
}

//  The next and active key of alg among rows (NULL when none).
static void
s_find (keys_life_t *rows, size_t n, jws_alg_t alg, keys_life_t **next, keys_life_t **active)
{
    *next = NULL;
    *active = NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i].alg == alg) {
            if (rows[i].state == KEY_STATE_NEXT)
                *next = &rows[i];
            else if (rows[i].state == KEY_STATE_ACTIVE)
                *active = &rows[i];
        }
}

//  A new key needs the KEK the keys are stored under: after another replica
//  re-wrapped them, this one must be restarted before it creates any.
static int
s_kek_ok (keys_app_t *app, db_t *db, keys_err_t *err)
{
    int current = keys_app_kek_current (app, db);
    if (current == 1)
        return 1;
    if (current == 0)
        s_err (err, OST_ERR_SERVER_ERROR,
               "this keys-svc's OSTIARY_KEK is not the key-encryption key the keys are stored under (they "
               "were re-wrapped): restart it with the new key-encryption key");
    else
        s_err (err, OST_ERR_TEMPORARILY_UNAVAILABLE, "cannot read the key-encryption key check; try again");
    return 0;
}

//  One guarded move inside a decision; a key that is not where we read it
//  (under the lock, only a hand-edited row can do that) fails the decision.
static int
s_move (db_t *db, const char *kid, jws_alg_t alg, key_state_t from, key_state_t to, long retire_after_s,
        keys_err_t *err)
{
    int changed = 0;
    db_status_t st = keys_lifecycle_set_state (db, kid, alg, from, to, retire_after_s, &changed);
    if (st != DB_OK) {
        s_err (err, st == DB_UNAVAILABLE ? OST_ERR_TEMPORARILY_UNAVAILABLE : OST_ERR_SERVER_ERROR,
               "the key could not be moved from %s to %s; nothing changed", key_state_name (from),
               key_state_name (to));
        return -1;
    }
    if (!changed) {
        s_err (err, OST_ERR_SERVER_ERROR,
               "key %s was changed by someone else meanwhile; nothing changed; try again", kid);
        return -1;
    }
    return 0;
}

static int
s_rotate_one (keys_app_t *app, db_t *db, jws_alg_t alg, int now, keys_life_t *rows, size_t n,
              keys_new_t **fresh_p, json_t *out, keys_err_t *err)
{
    const keys_settings_t *settings = keys_app_settings (app);
    const char *name = jws_alg_name (alg);
    keys_life_t *next, *active;
    s_find (rows, n, alg, &next, &active);
    json_t *item = NULL;
    if (!now && next) {
        //  Idempotent: a rotation is pending already (asked twice, or by
        //  two replicas at once); report it rather than make another.
        item = json_pack ("{s:s, s:s, s:s, s:b, s:I}", "alg", name, "kid", next->kid, "state", "next",
                          "created", 0, "activate_in", (json_int_t)(next->wait > 0 ? next->wait + 0.999 : 0));
    } else {
        //  Made before the lock was taken; only if a pending key vanished
        //  meanwhile (retired by hand) is one made now.
        if (!*fresh_p)
            *fresh_p = keys_app_key_new (app, alg);
        if (!*fresh_p) {
            s_err (err, OST_ERR_SERVER_ERROR, "cannot generate a new %s key; nothing changed", name);
            return -1;
        }
        if (!s_kek_ok (app, db, err))
            return -1;
        const char *kid = keys_new_kid (*fresh_p);
        if (!now) {
            if (keys_app_key_store (app, db, *fresh_p, KEY_STATE_NEXT, settings->publish_delay) != 0) {
                s_err (err, OST_ERR_SERVER_ERROR, "cannot store the new %s key; nothing changed", name);
                return -1;
            }
            item = json_pack ("{s:s, s:s, s:s, s:b, s:I, s:s?}", "alg", name, "kid", kid, "state", "next",
                              "created", 1, "activate_in", (json_int_t)settings->publish_delay, "replaces",
                              active ? active->kid : NULL);
        } else {
            //  Emergency (a compromised key): the active key leaves the JWKS
            //  now and its private part is destroyed; a pending key goes too
            //  (the new key replaces it), and the new key signs at once.
            if (next && s_move (db, next->kid, alg, KEY_STATE_NEXT, KEY_STATE_RETIRED, 0, err) != 0)
                return -1;
            if (active && s_move (db, active->kid, alg, KEY_STATE_ACTIVE, KEY_STATE_RETIRED, 0, err) != 0)
                return -1;
            if (keys_app_key_store (app, db, *fresh_p, KEY_STATE_ACTIVE, 0) != 0) {
                s_err (err, OST_ERR_SERVER_ERROR, "cannot store the new %s key; nothing changed", name);
                return -1;
            }
            metrics_inc (METRIC_KEY_ROTATIONS, METRICS_L (jws_alg_name (alg), "command"));
            log_warn ("emergency rotation of %s: key %s signs now; %s%s retired at once", name, kid,
                      active ? active->kid : "no active key", next ? " and the pending key" : "");
            item = json_pack ("{s:s, s:s, s:s, s:b, s:s?, s:s?}", "alg", name, "kid", kid, "state", "active",
                              "created", 1, "retired", active ? active->kid : NULL, "discarded",
                              next ? next->kid : NULL);
        }
    }
    if (!item || json_array_append_new (out, item) != 0) {
        s_err (err, OST_ERR_SERVER_ERROR, "out of memory");
        return -1;
    }
    return 0;
}

int
keys_lifecycle_rotate (keys_app_t *app, db_t *db, unsigned algs, int now, json_t **result, keys_err_t *err)
{
    *result = NULL;
    //  New keys are generated before the transaction (see keys_store.c on
    //  clock_timestamp()): a first look without the lock says which
    //  algorithms need one; the decision is taken again under the lock.
    keys_new_t *fresh[sizeof (unsigned) * 8] = {NULL};
    keys_life_t *rows = NULL;
    size_t n = 0;
    if (keys_store_life (db, &rows, &n) != DB_OK) {
        s_err (err, OST_ERR_TEMPORARILY_UNAVAILABLE, "cannot read the keys; nothing changed");
        return -1;
    }
    int ok = 1;
    for (size_t i = 0; ok && i < keyring_nalgs; i++) {
        jws_alg_t alg = keyring_algs[i];
        keys_life_t *next, *active;
        s_find (rows, n, alg, &next, &active);
        if ((algs & (1u << alg)) && (now || !next) && !(fresh[alg] = keys_app_key_new (app, alg))) {
            s_err (err, OST_ERR_SERVER_ERROR, "cannot generate a new %s key; nothing changed",
                   jws_alg_name (alg));
            ok = 0;
        }
    }
    free (rows);
    rows = NULL;
    json_t *keys = NULL;
    if (ok && s_begin (db, err) != 0)
        ok = 0;
    else if (ok) {
        keys = json_array ();
        if (!keys) {
            s_err (err, OST_ERR_SERVER_ERROR, "out of memory");
            ok = 0;
        } else if (keys_store_life (db, &rows, &n) != DB_OK) {
            s_err (err, OST_ERR_TEMPORARILY_UNAVAILABLE, "cannot read the keys; nothing changed");
            ok = 0;
        }
        for (size_t i = 0; ok && i < keyring_nalgs; i++)
            if (algs & (1u << keyring_algs[i]))
                ok = s_rotate_one (app, db, keyring_algs[i], now, rows, n, &fresh[keyring_algs[i]], keys,
                                   err) == 0;
        free (rows);
        ok = s_end (db, ok, err);
    }
    for (size_t i = 0; i < sizeof fresh / sizeof fresh[0]; i++)
        keys_new_destroy (&fresh[i]);
    if (!ok) {
        json_decref (keys);
        return -1;
    }
    const keys_settings_t *settings = keys_app_settings (app);
    char warning[512] = "";
    if (now)
        //  What an emergency rotation costs, said every time it is asked for.
        snprintf (
            warning, sizeof warning,
            "emergency rotation: tokens signed by the retired keys no longer verify anywhere; relying "
            "parties that cached the JWKS (the gateway keeps it up to %ld s, clients as long as it lets "
            "them) reject tokens of the new keys until they fetch /jwks again",
            settings->jwks_max_age);
    *result = json_pack ("{s:o, s:b, s:s?}", "keys", keys, "emergency", now, "warning", now ? warning : NULL);
    if (!*result) {
        s_err (err, OST_ERR_SERVER_ERROR, "out of memory");
        return -1;
    }
    return 0;
}

int
keys_lifecycle_retire (keys_app_t *app, db_t *db, const char *kid, json_t **result, keys_err_t *err)
{
    OST_UNUSED (app);
    *result = NULL;
    if (s_begin (db, err) != 0)
        return -1;
    keys_life_t key;
    db_status_t st = keys_store_key (db, kid, &key);
    int ok = 0;
    char warning[256] = "";
    key_state_t from = key.state;
    if (st == DB_NOT_FOUND)
        s_err (err, OST_ERR_NOT_FOUND, "no key has kid %s", kid);
    else if (st != DB_OK)
        s_err (err, OST_ERR_TEMPORARILY_UNAVAILABLE, "cannot read the key; nothing changed");
    else if (key.state == KEY_STATE_ACTIVE)
        s_err (
            err, OST_ERR_INVALID_REQUEST,
            "key %s is the active %s key: `rotate --alg %s` replaces it on schedule, `rotate --alg %s --now` "
            "at once",
            kid, jws_alg_name (key.alg), jws_alg_name (key.alg), jws_alg_name (key.alg));
    else if (key.state == KEY_STATE_RETIRED)
        ok = 1;
    else {
        ok = s_move (db, kid, key.alg, key.state, KEY_STATE_RETIRED, 0, err) == 0;
        if (ok && key.state == KEY_STATE_RETIRING && key.wait > 0)
            snprintf (warning, sizeof warning,
                      "retired %.0f s before its retire-after: tokens it signed that have not expired yet no "
                      "longer verify",
                      key.wait);
    }
    if (!s_end (db, ok, err))
        return -1;
    *result = json_pack ("{s:s, s:s, s:s, s:s, s:b, s:s?}", "kid", kid, "alg", jws_alg_name (key.alg), "from",
                         key_state_name (from), "state", "retired", "changed", from != KEY_STATE_RETIRED,
                         "warning", *warning ? warning : NULL);
    if (!*result) {
        s_err (err, OST_ERR_SERVER_ERROR, "out of memory");
        return -1;
    }
    return 0;
}

int
keys_lifecycle_rewrap (keys_app_t *app, db_t *db, kek_t **new_kek_p, json_t **result, keys_err_t *err)
{
    *result = NULL;
    const kek_t *old = keys_app_kek (app);
    const kek_t *new_kek = *new_kek_p;
    if (s_begin (db, err) != 0)
        return -1;
    keys_row_t *rows = NULL;
    size_t n = 0;
    size_t done = 0;
    unsigned char *stored = NULL; //  malloc (keys_store)
    size_t storedlen = 0;
    unsigned char *check = NULL; //  OPENSSL_malloc (kek_wrap)
    size_t checklen = 0;
    int ok = 0;
    int current = keys_app_kek_current (app, db);
    if (current != 1) {
        if (current == 0)
            s_err (err, OST_ERR_SERVER_ERROR,
                   "this keys-svc's OSTIARY_KEK is not the one the keys are stored under: run rewrap on a "
                   "replica started with the current key-encryption key");
        else
            s_err (err, OST_ERR_TEMPORARILY_UNAVAILABLE,
                   "cannot read the key-encryption key check; try again");
        goto done;
    }
    if (keys_store_kek_check_get (db, &stored, &storedlen) != DB_OK) {
        s_err (err, OST_ERR_TEMPORARILY_UNAVAILABLE, "cannot read the key-encryption key check; try again");
        goto done;
    }
    //  The same KEK again would "succeed" while protecting nothing new.
    int same = keys_app_kek_matches (new_kek, stored, storedlen);
    free (stored);
    stored = NULL;
    if (same) {
        s_err (err, OST_ERR_INVALID_REQUEST, "the new key-encryption key is the current one");
        goto done;
    }
    if (keys_store_load_private_for_update (db, &rows, &n) != DB_OK) {
        s_err (err, OST_ERR_TEMPORARILY_UNAVAILABLE, "cannot read the stored keys; nothing changed");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        keys_row_t *row = &rows[i];
        //  The plaintext key lives only inside this EVP_PKEY (freed, and so
        //  cleared, by EVP_PKEY_free) and inside keyring_wrap, which wipes
        //  its DER copy.
        EVP_PKEY *pkey = keyring_unwrap (old, row->kid, row->alg, row->private_enc, row->private_enc_len);
        unsigned char *blob = NULL;
        size_t bloblen = 0;
        int changed = 0;
        if (!pkey) {
            log_error ("rewrap: stored key %s does not decrypt under the current KEK", row->kid);
            s_err (err, OST_ERR_SERVER_ERROR, "stored key %s does not decrypt; nothing was re-wrapped",
                   row->kid);
            goto done;
        }
        int wrapped = keyring_wrap (new_kek, row->kid, row->alg, pkey, &blob, &bloblen) == 0;
        EVP_PKEY_free (pkey);
        db_status_t st = wrapped ? keys_store_replace_private (db, row->kid, row->private_enc,
                                                               row->private_enc_len, blob, bloblen, &changed)
                                 : DB_ERROR;
        OPENSSL_free (blob);
        if (st != DB_OK || !changed) {
            s_err (err, OST_ERR_SERVER_ERROR, "key %s could not be re-wrapped; nothing was re-wrapped",
                   row->kid);
            goto done;
        }
        done++;
    }
    if (keys_app_kek_check_blob (new_kek, &check, &checklen) != 0 ||
        keys_store_kek_check_replace (db, check, checklen) != DB_OK) {
        s_err (err, OST_ERR_SERVER_ERROR,
               "the key-encryption key check could not be replaced; nothing changed");
        goto done;
    }
    ok = 1;
done:
    keys_store_rows_free (&rows, n);
    free (stored);
    OPENSSL_free (check);
    if (!s_end (db, ok, err))
        return -1;
    //  From now on the stored keys open under the new KEK only: this process
    //  switches to it; every other replica must be restarted with it.
    keys_app_set_kek (app, new_kek_p);
    log_warn ("rewrap: %zu private keys and the KEK check are now wrapped under the new key-encryption key; "
              "restart every keys-svc with it as OSTIARY_KEK",
              done);
    *result = json_pack ("{s:I, s:s}", "rewrapped", (json_int_t)done, "next_step",
                         "restart every keys-svc replica with OSTIARY_KEK set to the new key-encryption key; "
                         "the old one no longer opens the stored keys");
    if (!*result) {
        s_err (err, OST_ERR_SERVER_ERROR, "out of memory");
        return -1;
    }
    return 0;
}
