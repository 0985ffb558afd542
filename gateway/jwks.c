/*  jwks - the gateway's JWKS cache and GET /jwks. See jwks.h.
 *
 *  Locking: one mutex guards the current snapshot and the refresh state; it
 *  is never held during a bus call or while writing to a client. A snapshot
 *  is immutable once published, so a request keeps a reference to it and
 *  writes its bytes with no lock held. */
#include "jwks.h"
#include "cors.h"
#include "ops.h"

#include "log.h"
#include "metrics.h"
#include "routes.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  After a failed refresh, while a stale snapshot can be served, the next
//  attempt waits this long: a keys-svc that is down is not asked by every
//  request.
#define JWKS_RETRY_MS 1000
//  How long a request with nothing to serve waits for another thread's
//  refresh, beyond the op's own deadline.
#define JWKS_WAIT_MARGIN_MS 500

struct _jwks_snap_t {
    atomic_int refs;
    char *bytes;
    size_t len;
    json_t *algs;
    int64_t fetched_ms; //  monotonic
};

struct _jwks_cache_t {
    int64_t max_age_ms;
    pthread_mutex_t lock;
    pthread_cond_t refreshed; //  signalled when a refresh ends (CLOCK_MONOTONIC)
    jwks_snap_t *snap;        //  NULL until the first successful fetch
    int refreshing;
    unsigned generation; //  refreshes ended so far
    int64_t retry_at_ms;
    bus_error_t last_error;
};

jwks_cache_t *
jwks_cache_new (int max_age)
{
    jwks_cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_age_ms = (int64_t)(max_age > 0 ? max_age : 0) * 1000;
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    if (pthread_mutex_init (&self->lock, NULL) || pthread_cond_init (&self->refreshed, &attr)) {
        pthread_condattr_destroy (&attr);
        free (self);
        return NULL;
    }
    pthread_condattr_destroy (&attr);
    return self;
}

static void
s_snap_free (jwks_snap_t *snap)
{
    free (snap->bytes);
    json_decref (snap->algs);
    free (snap);
}

void
jwks_snap_release (jwks_snap_t **snap_p)
{
    if (snap_p && *snap_p) {
        if (atomic_fetch_sub (&(*snap_p)->refs, 1) == 1)
            s_snap_free (*snap_p);
        *snap_p = NULL;
    }
}

void
jwks_cache_destroy (jwks_cache_t **self_p)
{
    if (self_p && *self_p) {
        jwks_cache_t *self = *self_p;
        jwks_snap_release (&self->snap);
        pthread_cond_destroy (&self->refreshed);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

const char *
jwks_snap_bytes (const jwks_snap_t *snap, size_t *len)
{
    *len = snap->len;
    return snap->bytes;
}

const json_t *
jwks_snap_algs (const jwks_snap_t *snap)
{
    return snap->algs;
}

//  Builds a snapshot of keys-svc's answer, which the bus client has checked
//  against keys.jwks's table (proto/ops.def): every key a public JWK, with
//  no private member (RFC 7517 §9.2: the jwk shape lists public members
//  only), and signing_algs the algorithms that can sign now. NULL on
//  allocation failure.
static jwks_snap_t *
s_snap_from (const json_t *jwks)
{
    keys_jwks_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (keys_jwks_out_unpack (jwks, &out, why, sizeof why) != 0) {
        log_error ("jwks: keys.jwks did not answer a public key set: %s", why);
        return NULL;
    }
    const json_t *keys = out.keys;
    //  Discovery advertises what can sign: next and retiring keys are
    //  published but sign nothing.
    json_t *algs = json_copy ((json_t *)out.signing_algs);
    //  RFC 7517 §5: the set served is {"keys": [...]} only; keys-svc's
    //  other members are for us.
    json_t *served = json_pack ("{s:O}", "keys", keys);
    jwks_snap_t *snap = calloc (1, sizeof *snap);
    char *bytes = served ? json_dumps (served, JSON_COMPACT) : NULL;
    json_decref (served);
    if (!snap || !bytes || !algs) {
        free (snap);
        free (bytes);
        json_decref (algs);
        return NULL;
    }
    atomic_init (&snap->refs, 1);
    snap->bytes = bytes;
    snap->len = strlen (bytes);
    snap->algs = algs;
    snap->fetched_ms = zclock_mono ();
    return snap;
}

//  Asks keys-svc through the bus pool (http_bus_call). Called with no lock held.
static jwks_snap_t *
s_fetch (gw_req_t *req, bus_error_t *error)
{
    json_t *result = NULL;
    if (http_bus_call (req, "keys.jwks", NULL, &result, error)) {
        log_warn ("jwks: keys.jwks failed: %s", error->code);
        return NULL;
    }
    jwks_snap_t *snap = s_snap_from (result);
    json_decref (result);
    if (!snap)
        bus_error_set (error, OST_ERR_SERVER_ERROR, "the key set could not be read");
    return snap;
}

static jwks_snap_t *
s_take (jwks_snap_t *snap)
{
    atomic_fetch_add (&snap->refs, 1);
    return snap;
}

static int
s_fresh_for (const jwks_cache_t *self, const jwks_snap_t *snap, int64_t now)
{
    int64_t left = self->max_age_ms - (now - snap->fetched_ms);
    return left > 0 ? (int)(left / 1000) : 0;
}

jwks_snap_t *
jwks_cache_get (jwks_cache_t *self, gw_req_t *req, int *max_age, bus_error_t *error)
{
    jwks_snap_t *snap = NULL;
    pthread_mutex_lock (&self->lock);
    while (!snap) {
        int64_t now = zclock_mono ();
        if (self->snap && now - self->snap->fetched_ms < self->max_age_ms) {
            snap = s_take (self->snap);
            break;
        }
        if (!self->refreshing && (!self->snap || now >= self->retry_at_ms)) {
            //  This thread refreshes; the others serve the stale snapshot,
            //  or wait for this one when there is none.
            self->refreshing = 1;
            pthread_mutex_unlock (&self->lock);
            bus_error_t fetch_error;
            jwks_snap_t *fresh = s_fetch (req, &fetch_error);
            metrics_inc (METRIC_GW_JWKS_REFRESH, METRICS_L (fresh ? "ok" : "error"));
            pthread_mutex_lock (&self->lock);
            self->refreshing = 0;
            self->generation++;
            if (fresh) {
                jwks_snap_release (&self->snap);
                self->snap = fresh;
                snap = s_take (fresh);
            } else {
                self->last_error = fetch_error;
                self->retry_at_ms = zclock_mono () + JWKS_RETRY_MS;
                if (self->snap) {
                    log_warn ("jwks: serving the key set fetched %lld s ago",
                              (long long)((zclock_mono () - self->snap->fetched_ms) / 1000));
                    snap = s_take (self->snap);
                } else
                    *error = fetch_error;
            }
            pthread_cond_broadcast (&self->refreshed);
            if (!snap)
                break;
            continue;
        }
        if (self->snap) {
            //  Stale, and being refreshed (or keys-svc just failed): serve
            //  what we have.
            snap = s_take (self->snap);
            break;
        }
        //  Nothing to serve and another thread is fetching: wait for it, as
        //  long as its call may take.
        unsigned generation = self->generation;
        const op_def_t *op = proto_op ("keys.jwks");
        int64_t until = now + (op ? op->timeout_ms : 2000) + JWKS_WAIT_MARGIN_MS;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
        int timed_out = 0;
        while (self->refreshing && self->generation == generation && !timed_out)
            timed_out = pthread_cond_timedwait (&self->refreshed, &self->lock, &ts) != 0;
        if (self->snap)
            continue;
        if (timed_out)
            bus_error_set (error, OST_ERR_DEADLINE_EXCEEDED, "the key set is still being fetched");
        else
            *error = self->last_error;
        break;
    }
    if (snap)
        *max_age = s_fresh_for (self, snap, zclock_mono ());
    pthread_mutex_unlock (&self->lock);
    return snap;
}

int
jwks_get (gw_req_t *req)
{
    //  A public document: any origin may read it (cors.h).
    cors_allow_any (req);
    int max_age = 0;
    bus_error_t error;
    jwks_snap_t *snap = jwks_cache_get (req->gw->jwks, req, &max_age, &error);
    if (!snap)
        return http_send_bus_error (req, &error);
    //  ARCHITECTURE.md: a key signs only once it has been published for the
    //  cache lifetime. Clients may keep this copy only as long as the
    //  gateway itself will, so that gateway and client caches together never
    //  hide a new key for longer than OSTIARY_JWKS_MAX_AGE.
    char cache_control[64];
    snprintf (cache_control, sizeof cache_control, "public, max-age=%d", max_age);
    size_t len;
    const char *bytes = jwks_snap_bytes (snap, &len);
    int rc = http_send (req, 200, "application/jwk-set+json", cache_control, NULL, 0, bytes, len);
    jwks_snap_release (&snap);
    return rc;
}
