/*  refresh - grant_type=refresh_token (RFC 6749 §6; RFC 9700 §4.14.2;
 *  OpenID Connect Core §12): rotation with family-wide reuse detection.
 *
 *  A family is what descends from one code exchange (tokens.c starts it).
 *  Every refresh rotates: the presented token is consumed by one conditional
 *  UPDATE and its successor inserted, in one statement. Presenting a
 *  consumed token again is reuse: the whole family is revoked (its refresh
 *  tokens and every access token it issued) and an audit row records it,
 *  all in the database, so a restart forgets nothing.
 *
 *  Ordering. Rotation, revocation (revoke.c), reuse detection and client
 *  removal all update the family row first, so they are serialized per
 *  family: a revoke that wins makes the rotation's family_touch match no
 *  row; a rotation that wins commits its new jti before the revoke copies
 *  the family's jtis into revoked_jtis. After both, nothing is active.
 *
 *  Signing happens before the transaction, from an unlocked read: no row
 *  lock is held across the keys.sign bus call, and a failed signing
 *  changes nothing (the presented token stays usable: the family is never
 *  lost to a keys-svc outage). The transaction then re-checks everything
 *  under the lock; tokens signed for a request that loses the race are
 *  never delivered and their jti never recorded, which is harmless.
 *
 *  Successors. A token's successor is derived from it:
 *  base64url(HMAC-SHA256(refresh_key, token)), 256 bits that nobody can
 *  compute without the server key and the token itself; the n-th retry's
 *  successor is the HMAC of the token and n. Only hashes are stored: no
 *  token is kept in a recoverable form.
 *
 *  Retries (per client window refresh_grace, default OSTIARY_REFRESH_GRACE
 *  = 60 s, and refresh_grace_uses retries). A reply can be lost after the
 *  rotation committed (a process killed, a connection cut, a 503 that came
 *  too late). The client then presents the same token again, as the
 *  Retry-After invites it to. Within the window after its consumption, at
 *  most refresh_grace_uses times, and only while its successor has never
 *  been used, that retry is answered as the first try was: a fresh access
 *  token and a fresh successor, which replaces the unused one. The replaced
 *  successor stops working, and presenting it later is reuse: it was never
 *  delivered to a client that retried, so whoever holds it got it from the
 *  first reply. Audited as refresh_retry_replayed.
 *  Trade-off (RFC 9700 §4.14.2): within the window a stolen token that was
 *  just rotated can be exchanged once more without tripping reuse detection.
 *  The thief's successor replaces the client's, and the client's next
 *  refresh is then a detected reuse that revokes the family: the theft is
 *  found one rotation later instead of at once. A window of 0 turns retries
 *  off (every second presentation revokes the family). */
#include "admin_scope.h"
#include "b64url.h"
#include "clients.h"
#include "grants.h"
#include "log.h"
#include "metrics.h"
#include "secure.h"
#include "service.h"
#include "token_app.h"
#include "token_store.h"
#include "token_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define SCOPE_MAX 1024
#define DESC_BAD_REFRESH "the refresh token is invalid, expired or revoked"
#define DESC_INTERNAL "internal error"
#define DESC_DEADLINE "the request deadline passed"

//  The successor of token (retry 0: the rotation; n > 0: the n-th retry's)
//  and its hash.
static int
s_successor (const token_app_t *app, const char *token, int retry, char out[GRANTS_REFRESH_LEN + 1],
             unsigned char hash[TOKEN_HASH_LEN])
{
    unsigned char mac[32];
    char input[GRANTS_REFRESH_LEN + 16];
    int n = retry ? snprintf (input, sizeof input, "%s#%d", token, retry)
                  : snprintf (input, sizeof input, "%s", token);
    if (n < 0 || (size_t)n >= sizeof input ||
        token_app_hmac (app, TOKEN_APP_REFRESH_KEY, input, (size_t)n, mac)) {
        secure_wipe (input, sizeof input);
        return -1;
    }
    secure_wipe (input, sizeof input);
    b64url_encode (mac, sizeof mac, out);
    secure_wipe (mac, sizeof mac);
    tu_sha256 (out, hash);
    return 0;
}

//  Revokes a family for reason in its own transaction; with an audit row
//  when event is not NULL.
static db_status_t
s_revoke_family (db_t *db, const token_refresh_t *r, const char *reason, const audit_event_t *event,
                 const char *client_ip)
{
    int n = 0;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = token_store_family_revoke (db, r->family_id, reason, &n);
    if (st == DB_OK && event)
        st = token_store_audit_family (db, *event, AUDIT_REFUSED, r->client_id, r->sub, r->family_id,
                                       client_ip);
    if (st == DB_OK)
        st = db_commit (db);
    if (st != DB_OK)
        db_rollback (db);
    return st;
}

//  RFC 9700 §4.14.2: "If a refresh token is compromised and subsequently
//  used by both the attacker and the legitimate client, one of them will
//  present an invalidated refresh token, which will inform the
//  authorization server of the breach" — revoke the whole family.
static int
s_reuse (bus_req_t *req, const token_refresh_t *r, const char *client_ip)
{
    service_thread_t *thread = req->thread_state;
    //  Past its deadline a request has been answered (or will be) without
    //  its result, and its client may have sent it again: what it read is
    //  no proof of reuse (its own retry may have consumed the token). It
    //  writes nothing.
    if (bus_req_expired (req))
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
    db_status_t st = s_revoke_family (thread->db, r, "refresh_reuse",
                                      &(audit_event_t){AUDIT_EV_refresh_token_reuse}, client_ip);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    metrics_inc (METRIC_REFRESH_REUSE, NULL);
    log_warn ("refresh token reuse: family %lld of client %s revoked", (long long)r->family_id, r->client_id);
    return tu_fail (req, OST_ERR_INVALID_GRANT, DESC_BAD_REFRESH);
}

//  The token response of a refresh. NULL on allocation failure.
static json_t *
s_response (long ttl, const char *at, const char *idt, const char *refresh, const char *scope)
{
    json_t *out = json_pack ("{s:s, s:s, s:I, s:s, s:s}", "access_token", at, "token_type", "Bearer",
                             "expires_in", (json_int_t)ttl, "refresh_token", refresh, "scope", scope);
    if (out && idt && json_object_set_new (out, "id_token", json_string (idt))) {
        json_decref (out);
        out = NULL;
    }
    return out;
}

//  One attempt. *again is set when the token was consumed by a racer
//  between our read and our UPDATE: the caller reads again and decides
//  (reuse, or a retry) on what is there now.
static int
s_attempt (bus_req_t *req, const char *token, const unsigned char hash[TOKEN_HASH_LEN],
           const json_t *requested, const token_client_t *client, const char *client_ip, int last, int *again,
           json_t **result, int *retried)
{
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    db_t *db = thread->db;
    *again = 0;
    token_refresh_t r;
    db_status_t st =
        token_store_refresh_get (db, hash, app->refresh_max_lifetime, app->refresh_idle_timeout, &r);
    if (st == DB_NOT_FOUND)
        return tu_fail (req, OST_ERR_INVALID_GRANT, DESC_BAD_REFRESH);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    int rc = 0;
    //  RFC 6749 §6: "validate the refresh token and ensure that it was
    //  issued to the authenticated client". Another client's token: refused,
    //  and nothing changes (a client cannot revoke another's family).
    //  A disabled user's families were revoked by token.subject_revoke, and
    //  r.revoked also covers one that a code exchange racing it started:
    //  no round trip to flow-svc is needed to know the user is still active
    //  (a bus hop too many on every rotation).
    if (strcmp (r.client_id, client->client_id) != 0 || r.revoked || r.expired)
        rc = tu_fail (req, OST_ERR_INVALID_GRANT, DESC_BAD_REFRESH);
    else if (r.replaced || (r.consumed && !r.graceable))
        rc = s_reuse (req, &r, client_ip);
    if (rc) {
        token_refresh_clear (&r);
        return rc;
    }
    //  RFC 6749 §6: "The requested scope MUST NOT include any scope not
    //  originally granted by the resource owner"; narrowing is fine and
    //  applies to this access token only (the family keeps its grant).
    if (!tu_subset (requested ? requested : r.scopes, r.scopes)) {
        token_refresh_clear (&r);
        return tu_fail (req, OST_ERR_INVALID_SCOPE, "the scope exceeds what was granted");
    }
    //  The admin scope again only while the user holds the admin role
    //  (admin_scope.h): without it, this access token is narrowed.
    json_t *granted = json_deep_copy (requested ? requested : r.scopes);
    if (!granted || admin_scope_filter (req, client->client_id, r.sub, granted)) {
        json_decref (granted);
        token_refresh_clear (&r);
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    }

    char successor[GRANTS_REFRESH_LEN + 1];
    unsigned char successor_hash[TOKEN_HASH_LEN];
    char *scope = tu_scope_join (granted);
    char *at = NULL, *idt = NULL, *jti = NULL;
    int64_t now = tu_now ();
    if (!scope || s_successor (app, token, r.consumed ? r.retries + 1 : 0, successor, successor_hash))
        rc = tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    //  OpenID Connect Core §12.2: an ID token again when the family is an
    //  OpenID one, with the same iss, sub, aud, azp, auth_time and sid, a new
    //  iat, and no nonce; signed with the access token in one call.
    grants_subject_t who = {r.sub, r.sid, r.auth_time, r.amr, NULL, r.acr, r.claims};
    if (!rc)
        rc = grants_sign_tokens (req, client, r.sub, scope, r.auth_time,
                                 tu_has (granted, "openid") ? &who : NULL, now, &at, &jti, &idt);

    //  The decision, under the family's row lock. The common case
    //  (an unconsumed token) is one statement (token_store_refresh_rotate);
    //  a retry keeps its transaction.
    int live = 0, changed = 0, open = 0;
    if (!rc && !r.consumed) {
        //  Past the deadline the client has its answer (deadline_exceeded)
        //  already; the token must stay usable.
        if (bus_req_expired (req))
            rc = tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
        else if ((st = token_store_refresh_rotate (db, r.family_id, app->refresh_max_lifetime,
                                                   app->refresh_idle_timeout, hash, successor_hash, jti,
                                                   now + clients_access_token_ttl (app, client), &live,
                                                   &changed)) != DB_OK)
            rc = tu_db_fail (req, st);
        else if (!live)
            rc = tu_fail (req, OST_ERR_INVALID_GRANT, DESC_BAD_REFRESH);
        else if (!changed) {
            //  Consumed by a racer: read again and decide.
            if (!last)
                *again = 1;
            else
                rc = s_reuse (req, &r, client_ip);
        }
    } else if (!rc) {
        st = db_begin (db);
        open = st == DB_OK;
        if (st == DB_OK)
            st = token_store_family_touch (db, r.family_id, app->refresh_max_lifetime,
                                           app->refresh_idle_timeout, &live);
        //  Requests that present the same token at the same time converge on
        //  one successor instead of replacing each other's (successors are
        //  derived, so racers with the same inputs compute the same one):
        //  after losing the rotation race (last), the successor the winner
        //  gave is the rotation's own; after losing a retry race, the one
        //  this retry computed. Either is answered again while unused.
        if (st == DB_OK && live && last) {
            char first[GRANTS_REFRESH_LEN + 1];
            unsigned char first_hash[TOKEN_HASH_LEN];
            if (s_successor (app, token, 0, first, first_hash))
                rc = tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
            else if ((st = token_store_refresh_joined (db, hash, first_hash, &changed)) == DB_OK && changed)
                memcpy (successor, first, sizeof successor);
            secure_wipe (first, sizeof first);
            secure_wipe (first_hash, sizeof first_hash);
        }
        if (!rc && st == DB_OK && live && !changed)
            st = token_store_refresh_retry (db, hash, r.retries, successor_hash, &changed);
        if (!rc && st == DB_OK && live && !changed)
            st = token_store_refresh_joined (db, hash, successor_hash, &changed);
        if (!rc && st == DB_OK && live && changed)
            st = token_store_family_jti_insert (db, r.family_id, jti,
                                                now + clients_access_token_ttl (app, client));
        if (!rc && st == DB_OK && live && changed)
            st = token_store_audit_family (db, AUDIT_EV_refresh_retry_replayed, AUDIT_SUCCESS, r.client_id,
                                           r.sub, r.family_id, client_ip);
        if (!rc) {
            if (st != DB_OK)
                rc = tu_db_fail (req, st);
            else if (!live)
                rc = tu_fail (req, OST_ERR_INVALID_GRANT, DESC_BAD_REFRESH);
            else if (!changed) {
                //  The window or the allowance passed, or the successor was
                //  used or replaced by another presentation meanwhile.
                db_rollback (db);
                open = 0;
                rc = s_reuse (req, &r, client_ip);
            } else if (bus_req_expired (req))
                rc = tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
            else if ((st = db_commit (db)) != DB_OK)
                rc = tu_db_fail (req, st);
            else
                open = 0;
        }
        if (open)
            db_rollback (db);
    }
    if (!rc && !*again) {
        *result = s_response (clients_access_token_ttl (app, client), at, idt, successor, scope);
        if (!*result)
            rc = tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        else {
            //  A retry answers the rotation again: counted apart.
            *retried = r.consumed;
            metrics_inc (r.consumed ? METRIC_REFRESH_RETRIES : METRIC_REFRESH_ROTATIONS, NULL);
            log_info ("refresh: family %lld of client %s rotated%s", (long long)r.family_id,
                      client->client_id, r.consumed ? " (a retry of a consumed token)" : "");
        }
    }
    secure_wipe (successor, sizeof successor);
    secure_free_str (&at);
    secure_free_str (&idt);
    free (jti);
    free (scope);
    json_decref (granted);
    token_refresh_clear (&r);
    return rc;
}

int
grants_refresh (bus_req_t *req, const json_t *form, const token_client_t *client, const char *client_ip,
                json_t **result, int *retried)
{
    *retried = 0;
    const char *token = NULL, *scope = NULL;
    tu_get_t got = tu_string (form, "refresh_token", 256, &token);
    if (got == TU_ABSENT)
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "refresh_token is missing");
    //  Anything that is not the shape of our tokens cannot be one.
    if (got == TU_BAD || strlen (token) != GRANTS_REFRESH_LEN)
        return tu_fail (req, OST_ERR_INVALID_GRANT, DESC_BAD_REFRESH);
    json_t *requested = NULL;
    got = tu_string (form, "scope", SCOPE_MAX, &scope);
    if (got == TU_BAD || (got == TU_OK && !(requested = tu_scope_parse (scope))))
        return tu_fail (req, OST_ERR_INVALID_SCOPE, "the scope is malformed");
    unsigned char hash[TOKEN_HASH_LEN];
    tu_sha256 (token, hash);
    int again = 0, rc = 0;
    //  A second attempt only after losing a race for an unconsumed token:
    //  then the token is consumed, and a retry or reuse decides.
    for (int attempt = 0; attempt < 2; attempt++) {
        rc =
            s_attempt (req, token, hash, requested, client, client_ip, attempt == 1, &again, result, retried);
        if (!again)
            break;
    }
    secure_wipe (hash, sizeof hash);
    json_decref (requested);
    return rc;
}
