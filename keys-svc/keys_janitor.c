/*  keys_janitor - promotions, retirements and scheduled rotation. */
#include "keys_janitor.h"
#include "metrics.h"

#include "keys_lifecycle.h"
#include "keys_store.h"
#include "log.h"

#include <czmq.h>
#include <stdlib.h>

//  How often a replica that cannot create keys (stale KEK) says so.
#define STALE_KEK_LOG_MS 60000

typedef enum { NEED_NOTHING = 0, NEED_NEXT, NEED_ACTIVE } s_need_t;

//  The next and active key of alg among rows.
static void
s_find (keys_life_t *rows, size_t n, jws_alg_t alg, keys_life_t **next, keys_life_t **active)
{
    *next = *active = NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i].alg == alg)
            *(rows[i].state == KEY_STATE_NEXT ? next : active) = &rows[i];
}

//  The key alg needs created, if any: an active one when it has neither an
//  active nor a pending key (only a hand-edited table gets there: signing
//  must not stop), a next one when the active key's period is nearly over.
//  Scheduled rotation publishes the successor publish_delay before the
//  period ends, so that it signs from exactly then on.
static s_need_t
s_need (const keys_settings_t *settings, jws_alg_t alg, keys_life_t *rows, size_t n)
{
    if (!(settings->algs & (1u << alg)))
        return NEED_NOTHING;
    keys_life_t *next, *active;
    s_find (rows, n, alg, &next, &active);
    if (next)
        return NEED_NOTHING;
    if (!active)
        return NEED_ACTIVE;
    if (settings->rotate_days > 0 &&
        active->active_for >= (double)(settings->rotate_days * 86400L - settings->publish_delay))
        return NEED_NEXT;
    return NEED_NOTHING;
}

//  One move; -1 when it failed or the key was not where we read it.
static int
s_move (db_t *db, const keys_life_t *key, key_state_t to, long retire_after_s, int *changes)
{
    int changed = 0;
    if (keys_lifecycle_set_state (db, key->kid, key->alg, key->state, to, retire_after_s, &changed) !=
            DB_OK ||
        !changed)
        return -1;
    (*changes)++;
    return 0;
}

//  The moves of one algorithm.
static int
s_moves (db_t *db, const keys_settings_t *settings, jws_alg_t alg, keys_life_t *rows, size_t n, int *changes)
{
    long retire_delay = keys_lifecycle_retire_delay (settings);
    keys_life_t *next, *active;
    s_find (rows, n, alg, &next, &active);
    //  The age of the signing key, for the "rotation overdue" alert
    //  (deploy/prometheus/); no series for an algorithm without an active
    //  key (withdrawn from OSTIARY_KEYS_ALGS), which is never overdue.
    if (active)
        metrics_set (METRIC_KEY_ACTIVE_SINCE, METRICS_L (jws_alg_name (alg)),
                     (double)time (NULL) - active->active_for);
    else
        metrics_clear (METRIC_KEY_ACTIVE_SINCE, METRICS_L (jws_alg_name (alg)));
    metrics_set (METRIC_KEY_ROTATE_INTERVAL, NULL, (double)settings->rotate_days * 86400.0);
    if (!(settings->algs & (1u << alg))) {
        //  Withdrawn algorithm: no new tokens, but those it signed still
        //  verify until they expire.
        if (next && s_move (db, next, KEY_STATE_RETIRED, 0, changes) != 0)
            return -1;
        if (active) {
            log_info ("janitor: %s is no longer in OSTIARY_KEYS_ALGS: key %s stops signing",
                      jws_alg_name (alg), active->kid);
            if (s_move (db, active, KEY_STATE_RETIRING, retire_delay, changes) != 0)
                return -1;
        }
        return 0;
    }
    //  A key signs only after it has been published for the publish delay
    //  (ARCHITECTURE.md, "Keys"): activate_after was set from it when the
    //  key was stored. Without an active key, a pending one cannot wait.
    //  The old key leaves the signing role in the same transaction, so no
    //  replica ever reads two signing keys of one algorithm, or none.
    if (next && (next->wait <= 0 || !active)) {
        if (!active)
            log_warn ("janitor: no active %s key: promoting the pending key early", jws_alg_name (alg));
        if (active && s_move (db, active, KEY_STATE_RETIRING, retire_delay, changes) != 0)
            return -1;
        return s_move (db, next, KEY_STATE_ACTIVE, 0, changes);
    }
    return 0;
}

//  Phase 1, in one transaction: retirements and promotions. 1 changed, 0
//  nothing (or another replica is at work), -1 failed.
static int
s_move_phase (keys_app_t *app, db_t *db)
{
    int held = keys_lifecycle_begin (db, 1);
    if (held != 0)
        return held == 1 ? 0 : -1;
    const keys_settings_t *settings = keys_app_settings (app);
    int changes = 0;
    int ok = 1;
    keys_life_t *due = NULL, *rows = NULL;
    size_t ndue = 0, n = 0;
    //  RFC 7517 §5 leaves the set's contents to us; we keep a key there
    //  until the last token it signed has expired (retire_after), then drop
    //  it and destroy its private part.
    if (keys_store_due_retiring (db, &due, &ndue) != DB_OK)
        ok = 0;
    for (size_t i = 0; ok && i < ndue; i++)
        ok = s_move (db, &due[i], KEY_STATE_RETIRED, 0, &changes) == 0;
    if (ok && keys_store_life (db, &rows, &n) != DB_OK)
        ok = 0;
    for (size_t i = 0; ok && i < keyring_nalgs; i++)
        ok = s_moves (db, settings, keyring_algs[i], rows, n, &changes) == 0;
    free (due);
    free (rows);
    if (!ok || changes == 0) {
        //  Nothing to keep (a failed step is retried on the next tick).
        db_rollback (db);
        return ok ? 0 : -1;
    }
    return db_commit (db) == DB_OK ? 1 : -1;
}

//  Phase 2: a key that an algorithm needs. It is generated first, then
//  stored in a short transaction that checks again, under the lock, that it
//  is still needed (another replica may have made it meanwhile).
static int
s_create_phase (keys_janitor_t *self, keys_app_t *app, db_t *db, jws_alg_t alg, s_need_t need)
{
    const keys_settings_t *settings = keys_app_settings (app);
    keys_life_t *rows = NULL;
    size_t n = 0;
    keys_new_t *key = keys_app_key_new (app, alg);
    if (!key)
        return -1;
    int held = keys_lifecycle_begin (db, 1);
    if (held != 0) {
        keys_new_destroy (&key);
        return held == 1 ? 0 : -1;
    }
    int rc = -1;
    int current = 0;
    if (keys_store_life (db, &rows, &n) == DB_OK) {
        if (s_need (settings, alg, rows, n) != need)
            rc = 0;
        else if ((current = keys_app_kek_current (app, db)) != 1) {
            //  A stale replica leaves the creation to one that has the
            //  current KEK (a key wrapped under ours could not be opened).
            if (current == 0 && zclock_mono () >= self->quiet_until_ms) {
                log_error (
                    "janitor: cannot create keys: this replica's OSTIARY_KEK is not the one the keys are "
                    "stored under (they were re-wrapped); restart it with the new key-encryption key");
                self->quiet_until_ms = zclock_mono () + STALE_KEK_LOG_MS;
            }
            rc = current == 0 ? 0 : -1;
        } else {
            if (need == NEED_NEXT)
                log_info ("janitor: %s: scheduled rotation", jws_alg_name (alg));
            else
                log_warn ("janitor: no %s key can sign: creating an active one", jws_alg_name (alg));
            if (keys_app_key_store (app, db, key, need == NEED_NEXT ? KEY_STATE_NEXT : KEY_STATE_ACTIVE,
                                    settings->publish_delay) == 0)
                rc = 1;
        }
    }
    free (rows);
    keys_new_destroy (&key);
    if (rc != 1) {
        db_rollback (db);
        return rc;
    }
    return db_commit (db) == DB_OK ? 1 : -1;
}

//  Batches of audit events deleted per round at most: a backlog is worked
//  off over a few rounds rather than in one long burst.
#define AUDIT_BATCHES_MAX 20

//  Audit events past their retention, once per janitor interval.
static int
s_audit_phase (keys_janitor_t *self, keys_app_t *app, db_t *db)
{
    const config_t *cfg = keys_app_config (app);
    int64_t now = zclock_time ();
    if (now < self->audit_next_ms)
        return 0;
    self->audit_next_ms = now + cfg->janitor_interval * 1000L;
    long total = 0;
    for (int i = 0; i < AUDIT_BATCHES_MAX; i++) {
        int deleted = 0;
        if (keys_store_audit_purge (db, cfg->audit_retention_days, cfg->janitor_batch, &deleted) != DB_OK)
            return -1;
        total += deleted;
        if (deleted < cfg->janitor_batch)
            break;
    }
    if (total > 0)
        log_info ("janitor: %ld audit event(s) past their retention deleted", total);
    return total > 0;
}

int
keys_janitor_step (keys_janitor_t *self, keys_app_t *app, db_t *db)
{
    if (s_audit_phase (self, app, db) < 0)
        return -1;
    int rc = s_move_phase (app, db);
    keys_life_t *rows = NULL;
    size_t n = 0;
    //  A first look without the lock: most ticks need no key.
    if (rc >= 0 && keys_store_life (db, &rows, &n) != DB_OK)
        rc = -1;
    for (size_t i = 0; rc >= 0 && i < keyring_nalgs; i++) {
        s_need_t need = s_need (keys_app_settings (app), keyring_algs[i], rows, n);
        if (need != NEED_NOTHING) {
            int created = s_create_phase (self, app, db, keyring_algs[i], need);
            rc = created < 0 ? -1 : (rc || created);
        }
    }
    free (rows);
    return rc;
}
