/*  tokens - token.exchange: the token endpoint (RFC 6749 §3.2, §4.1.3,
 *  §5.1, §5.2; RFC 7636 §4.5, §4.6; OpenID Connect Core §3.1.3): the
 *  authorization_code grant here, and the dispatch to refresh.c
 *  (refresh_token) and client_credentials.c. Signing is grants.c's.
 *
 *  The code is read, both tokens are signed, and then one statement consumes
 *  the code and records the access token's jti (no transaction
 *  stays open across the keys.sign call): the client gets tokens if and
 *  only if that statement used the code up, and a replay (which waits on
 *  the row lock, or comes later, and finds the code consumed) always finds
 *  the jti to revoke. */
#include "clients.h"
#include "grants.h"
#include "log.h"
#include "metrics.h"
#include "pkce.h"
#include "secure.h"
#include "service.h"
#include "token_app.h"
#include "token_ops.h"
#include "token_store.h"
#include "token_util.h"

#include <stdlib.h>
#include <string.h>

#define REDIRECT_URI_MAX 2048
//  Our codes are 32 random bytes in base64url: 43 characters.
#define CODE_LEN 43
//  RFC 7636 §4.1: code_verifier is 43 to 128 unreserved characters.
#define VERIFIER_MIN 43
#define VERIFIER_MAX 128

#define DESC_BAD_CODE "the authorization code is invalid, expired or used"
#define DESC_INTERNAL "internal error"
#define DESC_DEADLINE "the request deadline passed"

//  ------------------------------------------------------------- authorization_code

//  RFC 7636 §4.1: code_verifier = 43*128unreserved.
static int
s_verifier_valid (const char *v)
{
    size_t n = strlen (v);
    return n >= VERIFIER_MIN && n <= VERIFIER_MAX &&
           strspn (v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == n;
}

//  RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge,
//  compared in constant time.
static int
s_pkce_matches (const char *verifier, const char *challenge)
{
    char computed[PKCE_CHALLENGE_SIZE];
    int equal = pkce_s256 (verifier, computed) == 0 && secure_streq (computed, challenge);
    secure_wipe (computed, sizeof computed);
    return equal;
}

//  The checks of RFC 6749 §4.1.3 on a code. NULL when the request is the
//  one the code was issued for, else the invalid_grant description.
//  Expiry is not checked here: a replay of an expired code still revokes.
static const char *
s_code_problem (const token_client_t *client, const token_code_t *c, const char *redirect_uri,
                const char *verifier)
{
    //  "ensure that the authorization code was issued to the authenticated
    //  confidential client, or if the client is public, ensure that the code
    //  was issued to client_id in the request"
    if (strcmp (c->client_id, client->client_id) != 0)
        return DESC_BAD_CODE;
    //  "ensure that the redirect_uri parameter is present if the
    //  redirect_uri parameter was included in the initial authorization
    //  request ..., and if included ensure that their values are identical."
    //  A loopback redirect URI (RFC 8252 §7.3) was stored with the port the
    //  authorization request used, so the exchange must name that port.
    if ((c->redirect_uri_sent && !redirect_uri) ||
        (redirect_uri && strcmp (redirect_uri, c->redirect_uri) != 0))
        return "redirect_uri does not match the authorization request";
    //  RFC 7636 §4.6; RFC 9700 §2.1.1: a code bound to a challenge needs its
    //  verifier, and a verifier for a code without a challenge is refused
    //  (no PKCE downgrade).
    if (c->code_challenge && !verifier)
        return "code_verifier is missing";
    if (!c->code_challenge && verifier)
        return "code_verifier was sent but the authorization request had no code_challenge";
    if (c->code_challenge && !s_pkce_matches (verifier, c->code_challenge))
        return "code_verifier does not match the code_challenge";
    return NULL;
}

//  Signs the access token (RFC 9068) and the ID token (OpenID Connect Core
//  §2, §3.1.3.6) of a code. 0 with *at, *idt, *jti set; -1 after failing req.
static int
s_mint (bus_req_t *req, const token_client_t *client, const token_code_t *c, const char *scope, int64_t now,
        char **at, char **idt, char **jti)
{
    grants_subject_t who = {c->sub, c->sid, c->auth_time, c->amr, c->nonce, c->acr, c->claims};
    return grants_sign_tokens (req, client, c->sub, scope, c->auth_time, &who, now, at, jti, idt);
}

//  A refresh token starts a family at the code exchange when the
//  client may use the refresh_token grant and the user granted
//  offline_access (OpenID Connect Core §11), or the client is configured to
//  always get one. 1 when one is due.
static int
s_family_due (const token_client_t *client, const token_code_t *c)
{
    return tu_has (client->grant_types, "refresh_token") &&
           (tu_has (c->scopes, "offline_access") || client->always_refresh);
}

//  Answers a code that was not there to consume: unknown, or consumed
//  before. RFC 6749 §4.1.2, §10.5 and RFC 9700 §4.5: a replay revokes what
//  the first exchange issued, but only a replay that is the request the code
//  was issued for (rightful is 1: the authenticated client it was issued to,
//  its redirect_uri and its PKCE verifier). Anyone else who saw a code must
//  not be able to end the login it started.
static int
s_not_consumable (bus_req_t *req, const token_client_t *client, const unsigned char hash[TOKEN_HASH_LEN],
                  int rightful)
{
    service_thread_t *thread = req->thread_state;
    int consumed = 0, revoked = 0;
    //  Past its deadline the request's client may have sent it again and
    //  consumed the code with that retry: no proof of a replay.
    if (bus_req_expired (req))
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
    if (rightful) {
        //  One transaction: the code's access token, and the family it
        //  started with every access token that family issued.
        db_status_t st = db_begin (thread->db);
        if (st == DB_OK)
            st = token_store_code_replayed (thread->db, hash, client->client_id,
                                            BUS_IN (req, token_exchange)->client_ip, &consumed, &revoked);
        if (st == DB_OK)
            st = db_commit (thread->db);
        if (st != DB_OK) {
            db_rollback (thread->db);
            return tu_db_fail (req, st);
        }
    }
    if (consumed)
        log_warn ("authorization code replayed (presented by client %s): %d access token(s) revoked",
                  client->client_id, revoked);
    return tu_fail (req, OST_ERR_INVALID_GRANT, DESC_BAD_CODE);
}

static int
s_authorization_code (bus_req_t *req, const json_t *form, const token_client_t *client, json_t **result)
{
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    db_t *db = thread->db;
    const char *code = NULL, *redirect_uri = NULL, *verifier = NULL;
    tu_get_t got = tu_string (form, "code", 256, &code);
    if (got == TU_ABSENT)
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "code is missing");
    //  Anything that is not the shape of our codes cannot be one.
    if (got == TU_BAD || strlen (code) != CODE_LEN)
        return tu_fail (req, OST_ERR_INVALID_GRANT, DESC_BAD_CODE);
    if (tu_string (form, "redirect_uri", REDIRECT_URI_MAX, &redirect_uri) == TU_BAD)
        return tu_fail (req, OST_ERR_INVALID_GRANT, "redirect_uri does not match the authorization request");
    got = tu_string (form, "code_verifier", VERIFIER_MAX, &verifier);
    if (got == TU_BAD || (got == TU_OK && !s_verifier_valid (verifier)))
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "code_verifier is malformed");
    unsigned char hash[TOKEN_HASH_LEN];
    tu_sha256 (code, hash);
    if (bus_req_expired (req))
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);

    //  The code is read without a lock, the tokens are signed, and
    //  then one statement consumes the code, records the access token's jti
    //  and starts the refresh family (token_code_redeem): no transaction
    //  stays open across the keys.sign call, and the client gets tokens if
    //  and only if that statement consumed the code. A racer that consumed
    //  it between our read and our statement makes this request a replay.
    token_code_t c;
    int consumed = 0;
    db_status_t st = token_store_code_get (db, hash, &c, &consumed);
    if (st == DB_NOT_FOUND) {
        token_code_clear (&c);
        return tu_fail (req, OST_ERR_INVALID_GRANT, DESC_BAD_CODE);
    }
    if (st != DB_OK)
        return tu_db_fail (req, st);
    const char *problem = s_code_problem (client, &c, redirect_uri, verifier);
    if (consumed) {
        token_code_clear (&c);
        return s_not_consumable (req, client, hash, !problem);
    }
    if (problem || c.expired) {
        //  A request that fails validation changes nothing: the code stays
        //  usable by the request it was issued for (a verifier is 256 bits
        //  that nobody guesses in the code's lifetime, and the client_id and
        //  redirect URI are no secrets that a failed try should protect).
        token_code_clear (&c);
        return tu_fail (req, OST_ERR_INVALID_GRANT, problem ? problem : DESC_BAD_CODE);
    }

    int64_t now = tu_now ();
    char *scope = tu_scope_join (c.scopes);
    char *at = NULL, *idt = NULL, *jti = NULL;
    char *refresh = NULL;
    unsigned char refresh_hash[TOKEN_HASH_LEN];
    int64_t family_id = 0;
    int redeemed = 0;
    int rc = scope ? s_mint (req, client, &c, scope, now, &at, &idt, &jti)
                   : tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    if (rc == 0 && s_family_due (client, &c)) {
        refresh = secure_token (GRANTS_REFRESH_BYTES);
        if (refresh)
            tu_sha256 (refresh, refresh_hash);
        else
            rc = tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    }
    //  Past the deadline the client has its answer (deadline_exceeded)
    //  already; the code must stay usable.
    if (rc == 0 && bus_req_expired (req))
        rc = tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
    if (rc == 0 &&
        (st = token_store_code_redeem (db, hash, jti, now + clients_access_token_ttl (app, client),
                                       refresh ? refresh_hash : NULL, &redeemed, &family_id)) != DB_OK)
        rc = tu_db_fail (req, st);
    if (rc == 0 && !redeemed)
        //  Consumed by a racer since our read: a replay by the rightful
        //  request (validated above; the tokens signed here are never
        //  delivered).
        rc = s_not_consumable (req, client, hash, 1);
    if (rc == 0) {
        //  RFC 6749 §5.1; OpenID Connect Core §3.1.3.3.
        *result =
            json_pack ("{s:s, s:s, s:I, s:s, s:s}", "access_token", at, "token_type", "Bearer", "expires_in",
                       (json_int_t)clients_access_token_ttl (app, client), "id_token", idt, "scope", scope);
        //  RFC 6749 §5.1: refresh_token, when one was issued.
        if (*result && refresh && json_object_set_new (*result, "refresh_token", json_string (refresh))) {
            json_decref (*result);
            *result = NULL;
        }
        if (!*result)
            rc = tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        else
            log_info ("tokens issued to client %s", client->client_id);
    }
    secure_wipe (refresh_hash, sizeof refresh_hash);
    secure_free_str (&refresh);
    secure_free_str (&at);
    secure_free_str (&idt);
    free (jti);
    free (scope);
    token_code_clear (&c);
    return rc;
}

//  ------------------------------------------------------------- token.exchange

//  The grants token.exchange serves (RFC 6749 §4.1.3, §6, §4.4).
static const struct {
    const char *name;
} s_grants[] = {{"authorization_code"}, {"refresh_token"}, {"client_credentials"}};

int
token_op_exchange (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_exchange_in_t *in = BUS_IN (req, token_exchange);
    OST_UNUSED (body);
    const json_t *form = in->form;
    const char *grant_type = NULL;
    if (tu_string (form, "grant_type", 64, &grant_type) != TU_OK)
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "grant_type is missing");
    const char *client_ip = in->client_ip;

    token_client_t client;
    if (clients_authenticate (req, form, in->basic, &client))
        return -1;
    int rc;
    //  RFC 6749 §5.2: unsupported_grant_type for a grant we do not serve,
    //  unauthorized_client for one the client may not use.
    const char *grant = NULL;
    int retried = 0;
    for (size_t i = 0; i < sizeof s_grants / sizeof s_grants[0] && !grant; i++)
        if (strcmp (grant_type, s_grants[i].name) == 0)
            grant = s_grants[i].name;
    if (!grant)
        rc = tu_fail (req, OST_ERR_UNSUPPORTED_GRANT_TYPE, "the grant_type is not supported");
    else if (!tu_has (client.grant_types, grant))
        rc = tu_fail (req, OST_ERR_UNAUTHORIZED_CLIENT, "the client may not use this grant_type");
    else if (strcmp (grant, "authorization_code") == 0)
        rc = s_authorization_code (req, form, &client, result);
    else if (strcmp (grant, "refresh_token") == 0)
        rc = grants_refresh (req, form, &client, client_ip, result, &retried);
    else
        rc = grants_client_credentials (req, form, &client, result);
    if (rc == 0 && !retried) {
        //  The algorithm as a label: one of the names keys-svc signs with.
        const char *alg = clients_access_token_alg (req->app, &client);
        if (strcmp (alg, "RS256") != 0 && strcmp (alg, "ES256") != 0 && strcmp (alg, "EdDSA") != 0)
            alg = "other";
        metrics_inc (METRIC_TOKENS_ISSUED, METRICS_L (grant, alg));
    }
    token_client_clear (&client);
    return rc;
}
