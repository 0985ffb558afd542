/*  keys_janitor - the periodic step of the key lifecycle, run by the
 *  control thread of every keys-svc replica every KEYS_TICK_MS; the
 *  lifecycle lock lets one replica at a time act, and each step reads the
 *  keys again under it, so the steps are idempotent:
 *    - a retiring key whose retire_after passed is retired (private part
 *      destroyed);
 *    - a next key whose activate_after passed becomes active, and the
 *      active key it replaces becomes retiring until every token it signed
 *      has expired (retire_after = now + token lifetime max + slack);
 *    - an algorithm with no active key gets one (promoting its next key
 *      early, or a new key) so signing never stops;
 *    - automatic rotation: when an active key has signed for the rotation
 *      period minus the publish delay, a next key is created, so that it
 *      takes over exactly when the period ends;
 *    - an algorithm removed from OSTIARY_KEYS_ALGS: its active key retires
 *      on the usual schedule and a pending key is discarded;
 *    - once every OSTIARY_JANITOR_INTERVAL, audit events older than
 *      OSTIARY_AUDIT_RETENTION_DAYS are deleted in batches (any replica:
 *      deleting what another deleted changes nothing). */
#ifndef OST_KEYS_JANITOR_H
#define OST_KEYS_JANITOR_H

#include "db.h"
#include "keys_app.h"

#include <stdint.h>

typedef struct {
    int64_t quiet_until_ms; //  rate limit of the "stale KEK" complaint
    int64_t audit_next_ms;  //  when audit events past their retention are deleted next
} keys_janitor_t;

//  One step. 1 when it changed something, 0 when there was nothing to do
//  (or another replica holds the lock), -1 on a database failure (logged
//  by the store; the transaction is rolled back and the next tick retries).
int keys_janitor_step (keys_janitor_t *self, keys_app_t *app, db_t *db);

#endif
