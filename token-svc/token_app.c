/*  token_app - token-svc's shared settings. See token_app.h. */
#include "token_app.h"

#include "settings_table.h"

#include "b64url.h"
#include "client_cache.h"
#include "log.h"
#include "secure.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  How long the JWKS is cached at most, whatever OSTIARY_JWKS_MAX_AGE says:
//  a retired key leaves our cache quickly; a new kid triggers a refetch anyway.
#define TOKEN_JWKS_CACHE_MAX_S 60

//  An HMAC-SHA256 context keyed with key, ready for copies.
static EVP_MAC_CTX *
s_mac_new (const unsigned char key[TOKEN_SECRET_KEY_LEN])
{
    EVP_MAC *mac = EVP_MAC_fetch (NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new (mac) : NULL;
    EVP_MAC_free (mac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end ()};
    if (ctx && EVP_MAC_init (ctx, key, TOKEN_SECRET_KEY_LEN, params) != 1) {
        EVP_MAC_CTX_free (ctx);
        ctx = NULL;
    }
    return ctx;
}

int
token_app_hmac (const token_app_t *self, token_app_key_t key, const void *data, size_t len,
                unsigned char out[32])
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup (key == TOKEN_APP_SECRET_KEY ? self->secret_mac : self->refresh_mac);
    size_t outlen = 0;
    int ok = ctx && EVP_MAC_update (ctx, data, len) == 1 && EVP_MAC_final (ctx, out, &outlen, 32) == 1 &&
             outlen == 32;
    EVP_MAC_CTX_free (ctx);
    return ok ? 0 : -1;
}

token_app_t *
token_app_new (const config_t *cfg)
{
    token_app_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    //  OpenID Connect Discovery §4.3: the iss we put in tokens and responses
    //  is the configured issuer byte for byte (as discovery publishes it);
    //  only the URLs built from it drop a trailing slash.
    size_t ilen = strlen (cfg->issuer);
    while (ilen > 0 && cfg->issuer[ilen - 1] == '/')
        ilen--;
    if (ilen == 0 ||
        (strncmp (cfg->issuer, "https://", 8) != 0 && strncmp (cfg->issuer, "http://", 7) != 0) ||
        strpbrk (cfg->issuer, "?# ")) {
        fprintf (stderr,
                 "token-svc: OSTIARY_ISSUER must be an http or https URL without query or fragment\n");
        token_app_destroy (&self);
        return NULL;
    }
    self->issuer = strdup (cfg->issuer);
    self->admin_client_id = strdup (cfg->admin_client_id ? cfg->admin_client_id : "");
    if (!self->issuer || !self->admin_client_id ||
        asprintf (&self->access_token_aud, "%.*s/userinfo", (int)ilen, cfg->issuer) < 0) {
        self->access_token_aud = NULL;
        token_app_destroy (&self);
        return NULL;
    }
    if (strcmp (cfg->mode, "production") == 0)
        self->production = 1;
    else if (strcmp (cfg->mode, "development") != 0) {
        fprintf (stderr, "token-svc: OSTIARY_MODE must be development or production\n");
        token_app_destroy (&self);
        return NULL;
    }
    //  The HMAC key of client secrets: exactly 256 bits, base64url.
    const char *key = cfg->client_secret_key;
    if (b64url_decode (key, strlen (key), self->secret_key, sizeof self->secret_key) !=
        TOKEN_SECRET_KEY_LEN) {
        fprintf (stderr,
                 "token-svc: OSTIARY_CLIENT_SECRET_KEY must be 32 bytes, base64url without padding\n");
        token_app_destroy (&self);
        return NULL;
    }
    self->access_token_alg = jws_alg_parse (cfg->access_token_alg);
    if (self->access_token_alg == JWS_ALG_NONE) {
        fprintf (stderr, "token-svc: OSTIARY_ACCESS_TOKEN_ALG must be RS256, ES256 or EdDSA\n");
        token_app_destroy (&self);
        return NULL;
    }
    //  A key stays in the JWKS for OSTIARY_KEYS_TOKEN_LIFETIME_MAX after it
    //  stopped signing; a token living longer could outlive its key there.
    if (cfg->access_token_ttl > cfg->keys_token_lifetime_max ||
        cfg->id_token_ttl > cfg->keys_token_lifetime_max)
        log_warn ("token lifetimes exceed OSTIARY_KEYS_TOKEN_LIFETIME_MAX: tokens may outlive their key in "
                  "the JWKS");
    self->code_ttl = cfg->code_ttl;
    self->access_token_ttl = cfg->access_token_ttl;
    self->id_token_ttl = cfg->id_token_ttl;
    self->token_lifetime_max = cfg->keys_token_lifetime_max;
    self->logout_token_ttl = cfg->backchannel_logout_ttl;
    self->request_ttl = cfg->authz_request_ttl;
    //  OSTIARY_PKCE_REQUIRED and OSTIARY_CLOCK_SKEW are the defaults of the
    //  runtime settings pkce_required and clock_skew: what applies while
    //  none is stored.
    if (settings_set_default (SETTING_PKCE_REQUIRED, cfg->pkce_required) != 0)
        log_warn ("OSTIARY_PKCE_REQUIRED is out of the bounds of the setting pkce_required");
    if (settings_set_default (SETTING_CLOCK_SKEW, cfg->clock_skew) != 0)
        log_warn ("OSTIARY_CLOCK_SKEW is out of the bounds of the setting clock_skew");
    self->refresh_max_lifetime = cfg->refresh_max_lifetime;
    self->refresh_idle_timeout = cfg->refresh_idle_timeout;
    self->refresh_grace_default = cfg->refresh_grace_default;
    //  A key of its own for successors, derived from the server key (so a
    //  successor is never a client secret's hash of the same bytes).
    unsigned int klen = 0;
    static const char label[] = "ostiary refresh successor";
    if (!HMAC (EVP_sha256 (), self->secret_key, TOKEN_SECRET_KEY_LEN, (const unsigned char *)label,
               sizeof label - 1, self->refresh_key, &klen) ||
        klen != TOKEN_SECRET_KEY_LEN) {
        token_app_destroy (&self);
        return NULL;
    }
    self->secret_mac = s_mac_new (self->secret_key);
    self->refresh_mac = s_mac_new (self->refresh_key);
    if (!self->secret_mac || !self->refresh_mac) {
        token_app_destroy (&self);
        return NULL;
    }
    long cache = cfg->jwks_max_age < TOKEN_JWKS_CACHE_MAX_S ? cfg->jwks_max_age : TOKEN_JWKS_CACHE_MAX_S;
    self->jwks = token_jwks_new ((int)cache);
    self->clients = client_cache_new (cfg->client_cache_ms);
    if (!self->jwks || !self->clients) {
        token_app_destroy (&self);
        return NULL;
    }
    return self;
}

void
token_app_destroy (token_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    token_app_t *self = *self_p;
    free (self->issuer);
    free (self->admin_client_id);
    free (self->access_token_aud);
    token_jwks_destroy (&self->jwks);
    client_cache_destroy (&self->clients);
    EVP_MAC_CTX_free (self->secret_mac);
    EVP_MAC_CTX_free (self->refresh_mac);
    secure_wipe (self, sizeof *self);
    free (self);
    *self_p = NULL;
}
