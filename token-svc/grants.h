/*  grants - what the grants of token.exchange share: signing through
 *  keys-svc, the access token (RFC 9068) and the ID token (OpenID Connect
 *  Core §2), and the entry points of the grants in their own files
 *  (tokens.c: authorization_code; refresh.c; client_credentials.c). */
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
    const json_t *amr; //  array (may be empty)
    const char *nonce; //  NULL: none (always on refresh, OpenID Connect Core §12.2)
} grants_subject_t;

//  Asks keys-svc to sign claims (it frames the header: alg, kid, typ).
//  *jws (free()). -1 after failing req.
int grants_sign (bus_req_t *req, const json_t *claims, const char *alg, const char *typ, char **jws);
//  A signed access token for sub and client_id with scope; auth_time <= 0
//  leaves that claim out. *at (secure_free_str), *jti (free()).
int grants_access_token (bus_req_t *req, const char *sub, const char *client_id, const char *scope,
                         int64_t auth_time, int64_t now, char **at, char **jti);
//  A signed ID token for client with the at_hash of at. *idt (secure_free_str).
int grants_id_token (bus_req_t *req, const token_client_t *client, const grants_subject_t *who,
                     const char *at, int64_t now, char **idt);

//  refresh.c: grant_type=refresh_token (RFC 6749 §6).
int grants_refresh (bus_req_t *req, const json_t *form, const token_client_t *client, const char *client_ip,
                    json_t **result);
//  client_credentials.c: grant_type=client_credentials (RFC 6749 §4.4).
int grants_client_credentials (bus_req_t *req, const json_t *form, const token_client_t *client,
                               json_t **result);

#endif
