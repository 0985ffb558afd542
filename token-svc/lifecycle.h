/*  lifecycle - what revocation (revoke.c, RFC 7009) and introspection
 *  (introspect.c, RFC 7662) share: reading the presented token and telling
 *  which of our kinds it is. The hint (token_type_hint) only orders the
 *  tries: it is honoured but never trusted (RFC 7009 §2.1, RFC 7662 §2.1). */
#ifndef TOKEN_LIFECYCLE_H
#define TOKEN_LIFECYCLE_H

#include "bus_worker.h"
#include "jws.h"
#include "token_store.h"

#include <jansson.h>

//  The presented token: form.token (missing → invalid_request) and whether
//  the refresh kind should be tried first. 0 ok (*token NULL when it is too
//  long or malformed to be any of ours), -1 after failing req.
int lifecycle_token (bus_req_t *req, const json_t *form, const char **token, int *refresh_first);

//  An access token we signed: signature with a key of our JWKS, typ
//  at+jwt, our iss, string jti, sub and client_id, integer exp and iat.
//  1 with *parts (jws_parts_destroy), 0 when it is not such a token, -1
//  after failing req (the JWKS could not be fetched: temporarily_unavailable).
int lifecycle_access_token (bus_req_t *req, const char *token, jws_parts_t **parts);

//  A refresh token: 1 with *r loaded (token_refresh_clear), 0 when it is not
//  one of ours, -1 after failing req.
int lifecycle_refresh_token (bus_req_t *req, const char *token, token_refresh_t *r);

#endif
