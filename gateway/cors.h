/*  cors - Cross-Origin Resource Sharing (the Fetch standard's CORS protocol)
 *  for browser applications: which origin may read which answer.
 *
 *  Discovery and /jwks are public documents: any origin may read them
 *  (Access-Control-Allow-Origin: *). The token, revocation, introspection
 *  and userinfo endpoints answer only the origins a client registered
 *  (allowed_web_origins): /token, /revoke and /introspect an origin of the
 *  client the request names, /userinfo an origin of the access token's
 *  client (any registered origin for an error, so that the application
 *  can read why it was refused). A preflight (OPTIONS) carries no client,
 *  so it is allowed for an origin some client registered; the request that
 *  follows is then checked against its own client. Credentials (cookies)
 *  are never allowed: Access-Control-Allow-Credentials is never sent.
 *
 *  The registered origins come from token.web_origins, kept for
 *  OSTIARY_CORS_CACHE_TTL seconds and asked only by requests that carry an
 *  Origin header, so a token request costs no extra bus round trip while
 *  the cache is fresh. */
#ifndef OST_GW_CORS_H
#define OST_GW_CORS_H

#include "http.h"

//  The cache of registered origins, fresh for ttl seconds (0: every request
//  that needs it asks). NULL when out of memory.
cors_t *cors_new (int ttl);
void cors_destroy (cors_t **self_p);

//  A public document: Access-Control-Allow-Origin: * on req's answer.
void cors_allow_any (gw_req_t *req);
//  An endpoint for registered origins: Vary: Origin on req's answer, and
//  Access-Control-Allow-Origin with the request's Origin when client_id
//  registered it (client_id NULL: when any client did). 1 when allowed, 0
//  when not (or the request has no Origin).
int cors_allow_client (gw_req_t *req, const char *client_id);
//  OPTIONS on a path of the CORS table (routes.c points them here): the
//  preflight answer, 204 with Allow, and the Access-Control-Allow-* headers
//  when the origin may call the endpoint.
int cors_preflight (gw_req_t *req);

#endif
