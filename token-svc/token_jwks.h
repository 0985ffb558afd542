/*  token_jwks - token-svc's cache of the public JWKS (keys.jwks over the
 *  bus) and the verification of the JWTs Ostiary signed (ID token hints,
 *  access tokens). Shared by the worker threads: one mutex guards the key
 *  list, never held during a bus call. */
#ifndef TOKEN_JWKS_H
#define TOKEN_JWKS_H

#include "bus_client.h"
#include "jws.h"
#include "ost.h"

#include <stdint.h>

typedef struct _token_jwks_t token_jwks_t;

//  A cache that keeps the JWKS for max_age_s seconds (0: fetch every time).
token_jwks_t *token_jwks_new (int max_age_s);
void token_jwks_destroy (token_jwks_t **self_p);

typedef enum {
    TOKEN_JWT_OK = 0,
    TOKEN_JWT_INVALID,     //  malformed, unknown kid, bad signature, disallowed typ
    TOKEN_JWT_UNAVAILABLE, //  the JWKS could not be fetched
} token_jwt_status_t;

//  Parses compact (at most JWS_MAX_COMPACT bytes) and verifies its signature
//  with the JWKS key its header names (kid), under that key's algorithm. The
//  JWKS is fetched when the cache is stale, and again (at most once a second)
//  when the kid is unknown, over bus, within timeout_ms. typ, when not NULL,
//  is the header typ the token must carry (compared case-insensitively, with
//  or without the "application/" prefix, RFC 7515 §4.1.9); forbid_typ, when
//  not NULL, one it must not carry. On TOKEN_JWT_OK *parts holds the token.
token_jwt_status_t token_jwt_verify (token_jwks_t *self, bus_client_t *bus, int timeout_ms,
                                     const char *compact, const char *typ, const char *forbid_typ,
                                     jws_parts_t **parts);

#endif
