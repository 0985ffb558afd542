/*  client_credentials - grant_type=client_credentials (RFC 6749 §4.4): a
 *  confidential client obtains an access token for itself. No refresh
 *  token (§4.4.3: "A refresh token SHOULD NOT be included") and no ID
 *  token (no user authenticated). */
#include "clients.h"
#include "grants.h"
#include "log.h"
#include "secure.h"
#include "token_app.h"
#include "token_util.h"

#include <stdlib.h>
#include <string.h>

#define SCOPE_MAX 1024

//  Scopes that only mean something when a user authenticated.
static int
s_user_scope (const char *scope)
{
    return strcmp (scope, "openid") == 0 || strcmp (scope, "offline_access") == 0 ||
           strcmp (scope, "admin") == 0;
}

int
grants_client_credentials (bus_req_t *req, const json_t *form, const token_client_t *client, json_t **result)
{
    const token_app_t *app = req->app;
    //  RFC 6749 §4.4: "The client credentials grant type MUST only be used
    //  by confidential clients" (client registration refuses it for public
    //  ones; this guards older rows).
    if (client->is_public)
        return tu_fail (req, OST_ERR_UNAUTHORIZED_CLIENT, "a public client cannot use client_credentials");
    const char *scope = NULL;
    json_t *granted = NULL;
    tu_get_t got = tu_string (form, "scope", SCOPE_MAX, &scope);
    if (got == TU_BAD)
        return tu_fail (req, OST_ERR_INVALID_SCOPE, "the scope is malformed");
    if (got == TU_OK) {
        //  RFC 6749 §4.4.2, §3.3: a requested scope outside the client's
        //  allowed set → invalid_scope (§5.2).
        granted = tu_scope_parse (scope);
        if (!granted)
            return tu_fail (req, OST_ERR_INVALID_SCOPE, "the scope is malformed");
        size_t i;
        json_t *v;
        json_array_foreach (granted, i, v)
        {
            if (s_user_scope (json_string_value (v)) || !tu_has (client->scopes, json_string_value (v))) {
                json_decref (granted);
                return tu_fail (req, OST_ERR_INVALID_SCOPE, "the scope exceeds what the client may request");
            }
        }
    } else {
        //  RFC 6749 §3.3: without a scope, a pre-defined default: the
        //  client's allowed scopes minus those that need a user.
        granted = json_array ();
        size_t i;
        json_t *v;
        json_array_foreach (client->scopes, i, v)
        {
            if (granted && !s_user_scope (json_string_value (v)))
                json_array_append (granted, v);
        }
    }
    char *joined = granted ? tu_scope_join (granted) : NULL;
    json_decref (granted);
    if (!joined)
        return tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
    //  RFC 9068 §2.2: sub is the client itself when no user is involved.
    char *at = NULL, *jti = NULL, *idt = NULL;
    int64_t now = tu_now ();
    int rc = grants_sign_tokens (req, client, client->client_id, joined, 0, NULL, now, &at, &jti, &idt);
    if (!rc) {
        //  RFC 6749 §5.1; §4.4.3.
        *result = json_pack ("{s:s, s:s, s:I}", "access_token", at, "token_type", "Bearer", "expires_in",
                             (json_int_t)clients_access_token_ttl (app, client));
        if (*result && *joined && json_object_set_new (*result, "scope", json_string (joined))) {
            json_decref (*result);
            *result = NULL;
        }
        if (!*result)
            rc = tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
        else
            log_info ("client_credentials: token issued to client %s", client->client_id);
    }
    secure_free_str (&at);
    free (jti);
    free (joined);
    return rc;
}
