/*  action - action tokens and keyed hashes of one-time secrets. */
#include "action.h"

#include "b64url.h"
#include "flow_store.h"
#include "secure.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <string.h>

int
action_mac (const unsigned char key[FLOW_KEY_BYTES], const char *label, const char *data,
            unsigned char out[FLOW_HASH_BYTES])
{
    //  RFC 2104 HMAC with SHA-256; the label and a NUL separate the uses of
    //  the flow key so that a hash of one kind never verifies as another.
    EVP_MAC *mac = EVP_MAC_fetch (NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new (mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string ("digest", (char *)"SHA256", 0), OSSL_PARAM_END};
    size_t outl = 0;
    int ok = ctx && EVP_MAC_init (ctx, key, FLOW_KEY_BYTES, params) &&
             EVP_MAC_update (ctx, (const unsigned char *)label, strlen (label) + 1) &&
             EVP_MAC_update (ctx, (const unsigned char *)data, strlen (data)) &&
             EVP_MAC_final (ctx, out, &outl, FLOW_HASH_BYTES) && outl == FLOW_HASH_BYTES;
    EVP_MAC_CTX_free (ctx);
    EVP_MAC_free (mac);
    return ok ? 0 : -1;
}

int
action_token_hash (const flow_app_t *app, const char *token, unsigned char hash[FLOW_HASH_BYTES])
{
    unsigned char raw[FLOW_HANDLE_BYTES + 1];
    if (!token || strlen (token) != FLOW_HANDLE_CHARS ||
        b64url_decode (token, FLOW_HANDLE_CHARS, raw, sizeof raw) != FLOW_HANDLE_BYTES)
        return -1;
    secure_wipe (raw, sizeof raw);
    return action_mac (app->flow_key, "action", token, hash);
}

db_status_t
action_token_mint (db_t *db, const flow_app_t *app, const char *purpose, int64_t execution_id,
                   const char *node, char **token, int64_t *expires_at)
{
    *token = secure_token (FLOW_HANDLE_BYTES);
    unsigned char hash[FLOW_HASH_BYTES];
    if (!*token || action_mac (app->flow_key, "action", *token, hash) != 0) {
        secure_free_str (token);
        return DB_ERROR;
    }
    db_status_t st =
        flow_store_action_insert (db, hash, purpose, execution_id, node, app->action_ttl, expires_at);
    if (st != DB_OK)
        secure_free_str (token);
    return st;
}
