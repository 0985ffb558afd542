/*  token_app - what every token-svc handler shares: the settings it runs
 *  with (read once at start-up, validated there), the key that protects
 *  client secrets, and the process's cache of the public JWKS. Immutable
 *  after start-up except the JWKS cache, which locks itself. */
#ifndef TOKEN_APP_H
#define TOKEN_APP_H

#include "config.h"
#include "jws.h"
#include "ost.h"
#include "token_jwks.h"

#include <stddef.h>

#define TOKEN_SECRET_KEY_LEN 32

typedef struct {
    char *issuer;           //  OSTIARY_ISSUER, exactly as configured
    char *access_token_aud; //  the audience of our access tokens: issuer + "/userinfo"
    int production;         //  OSTIARY_MODE=production
    unsigned char secret_key[TOKEN_SECRET_KEY_LEN]; //  HMAC key of client secrets
    long code_ttl;
    long access_token_ttl;
    long id_token_ttl;
    //  OSTIARY_KEYS_TOKEN_LIFETIME_MAX: keys-svc signs no token that lives
    //  longer, so no client's lifetime may be longer.
    long token_lifetime_max;
    long logout_token_ttl; //  OSTIARY_BACKCHANNEL_LOGOUT_TTL
    long request_ttl;
    //  OSTIARY_ADMIN_CLIENT_ID: the client that may hold the admin scope
    //  ("" when none may).
    char *admin_client_id;
    jws_alg_t access_token_alg;
    long refresh_max_lifetime;
    long refresh_idle_timeout;
    long refresh_grace_default;
    //  Key that derives a refresh token's successor from it (refresh.c).
    unsigned char refresh_key[TOKEN_SECRET_KEY_LEN];
    //  HMAC-SHA256 contexts keyed with secret_key and refresh_key, set up
    //  once and copied per use (token_app_hmac): never used directly.
    struct evp_mac_ctx_st *secret_mac;
    struct evp_mac_ctx_st *refresh_mac;
    struct _token_janitor_t *janitor;
    token_jwks_t *jwks;
    //  Registrations of authenticating clients (client_cache.h).
    struct _client_cache_t *clients;
} token_app_t;

//  Validates the settings token-svc needs beyond config.def's own checks.
//  NULL (after a message on stderr) when one is unusable.
token_app_t *token_app_new (const config_t *cfg);
void token_app_destroy (token_app_t **self_p);

typedef enum { TOKEN_APP_SECRET_KEY, TOKEN_APP_REFRESH_KEY } token_app_key_t;
//  HMAC-SHA256 of len bytes under secret_key or refresh_key into out. Safe
//  from any thread (each call works on its own copy of the keyed context,
//  which saves fetching and keying HMAC per call). 0 ok, -1 failure.
OST_WUR int token_app_hmac (const token_app_t *self, token_app_key_t key, const void *data, size_t len,
                            unsigned char out[32]);

#endif
