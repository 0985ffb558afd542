/*  keys_lifecycle - the key state machine and the decisions that drive it.
 *
 *    next ──► active ──► retiring ──► retired
 *      └──────────┴────────────────────►┘      (discard / emergency)
 *
 *  Every move goes through keys_lifecycle_set_state: it refuses a move that
 *  is not an edge above, and runs one guarded UPDATE ... WHERE state = from
 *  whose row count decides. Every decision (planned or emergency rotation,
 *  retire, rewrap, the janitor's promotions and retirements) runs in one
 *  transaction under the lifecycle advisory lock, reading the keys again
 *  after taking it, so several keys-svc replicas never rotate twice: the
 *  second one to ask finds the first one's key. Times come from the
 *  database (now()); see docs/keys.md for the timing rule. */
#ifndef OST_KEYS_LIFECYCLE_H
#define OST_KEYS_LIFECYCLE_H

#include "db.h"
#include "kek.h"
#include "keyring.h"
#include "keys_app.h"
#include "ost.h"
#include "proto.h"

#include <jansson.h>

//  An admin command's failure: a code of proto/errors.def and a sentence we
//  wrote (never SQL or OpenSSL text, never a secret).
typedef struct {
    ost_err_t err;
    char description[256];
} keys_err_t;

//  1 when from → to is an edge of the lifecycle.
int keys_lifecycle_allowed (key_state_t from, key_state_t to);
//  The one transition function. Inside a transaction that holds the
//  lifecycle lock: moves kid from `from` to `to` if it is still in `from`.
//  retire_after_s is used when `to` is retiring. DB_OK with *changed 0 or 1;
//  DB_ERROR for a move that is not an edge of the lifecycle (logged).
db_status_t keys_lifecycle_set_state (db_t *db, const char *kid, jws_alg_t alg, key_state_t from,
                                      key_state_t to, long retire_after_s, int *changed);

//  Seconds a retiring key stays published after it stopped signing.
long keys_lifecycle_retire_delay (const keys_settings_t *settings);

//  rotate: for every algorithm of the mask algs (bits 1u << alg), a planned
//  rotation creates a next key unless one is pending (then it reports that
//  one: asking twice creates one key); an emergency rotation (now) retires
//  the active key and any pending one at once and makes a new key active.
//  0 with *result, -1 with *err.
int keys_lifecycle_rotate (keys_app_t *app, db_t *db, unsigned algs, int now, json_t **result,
                           keys_err_t *err);
//  retire: a next key is discarded, a retiring key leaves the JWKS now; an
//  active key is refused (rotate replaces it), a retired one is reported.
int keys_lifecycle_retire (keys_app_t *app, db_t *db, const char *kid, json_t **result, keys_err_t *err);
//  rewrap: every stored private key and the KEK check are wrapped again
//  under *new_kek in one transaction; on success this process keeps using
//  *new_kek (taken, NULLed), on failure nothing changed.
int keys_lifecycle_rewrap (keys_app_t *app, db_t *db, kek_t **new_kek_p, json_t **result, keys_err_t *err);

//  Helpers for the janitor and the commands above.
//  BEGIN and the lifecycle lock (waiting, or trying only when try_only);
//  0 held, 1 another replica holds it (try_only), -1 failure (rolled back).
int keys_lifecycle_begin (db_t *db, int try_only);

#endif
