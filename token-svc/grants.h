/*  grants - what the grants of token.exchange share: signing through
 *  keys-svc, the access token (RFC 9068) and the ID token (OpenID Connect
 *  Core §2) in grants.c, which every grant calls; and the entry points of
 *  the grants in their own files, which tokens.c (authorization_code and
 *  the dispatch of token.exchange) calls: refresh.c, client_credentials.c. */
#ifndef TOKEN_GRANTS_H
#define TOKEN_GRANTS_H

#include "bus_worker.h"
#include "token_store.h"

#include <jansson.h>
#include <stdint.h>

//  Refresh tokens are 256 random bits, base64url: 43 characters.
#define GRANTS_REFRESH_BYTES 32
#define GRANTS_REFRESH_LEN 43

//  Whose ID token it is.
typedef struct {
    const char *sub;
    const char *sid; //  NULL: none
    int64_t auth_time;
    const json_t *amr;    //  array (may be empty)
    const char *nonce;    //  NULL: none (always on refresh, OpenID Connect Core §12.2)
    const char *acr;      //  NULL: none
    const json_t *claims; //  the claims parameter, normalised (claims.h); NULL: none
} grants_subject_t;

//  The access token's claim that lists the claims the authorization
//  request's claims parameter asked of userinfo (OpenID Connect Core §5.5).
#define GRANTS_USERINFO_CLAIMS "userinfo_claims"

//  Signs an access token for sub, issued to client, with scope (RFC 9068),
//  and, when who is not NULL, the ID token that goes with it (OpenID Connect
//  Core §2, §3.1.3.6) — both in one keys.sign call: keys-svc signs the
//  access token first and binds the ID token to it with at_hash, so that a
//  code exchange or a refresh costs one bus round trip for signing, not two.
//  The claims the request asked in the ID token are fetched from flow-svc
//  (flow.user_claims) first, only when there are some.
//  auth_time <= 0 leaves that claim out of the access token. *at and *idt
//  (secure_free_str), *jti (free()). -1 after failing req.
int grants_sign_tokens (bus_req_t *req, const token_client_t *client, const char *sub, const char *scope,
                        int64_t auth_time, const grants_subject_t *who, int64_t now, char **at, char **jti,
                        char **idt);

//  One token of typ (JWT, at+jwt, logout+jwt) with claims, signed by
//  keys-svc with alg. *jws (secure_free_str). -1 after failing req.
int grants_sign_one (bus_req_t *req, const json_t *claims, const char *alg, const char *typ, char **jws);

//  refresh.c: grant_type=refresh_token (RFC 6749 §6). *retried is set to 1
//  when the answer is a retry's (the token presented again within its retry
//  window: the rotation answered again, not a new issuance), 0 otherwise.
int grants_refresh (bus_req_t *req, const json_t *form, const token_client_t *client, const char *client_ip,
                    json_t **result, int *retried);
//  client_credentials.c: grant_type=client_credentials (RFC 6749 §4.4).
int grants_client_credentials (bus_req_t *req, const json_t *form, const token_client_t *client,
                               json_t **result);

#endif
