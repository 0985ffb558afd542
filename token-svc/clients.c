/*  clients - token.client_add, client_list, client_get, client_remove,
 *  client_rotate_secret, and what the other families need of a client.
 *
 *  A confidential client's secret is generated here (256 bits, RFC 6749
 *  §2.3.1, RFC 9700 §2.5), returned once, and stored only as
 *  HMAC-SHA256(OSTIARY_CLIENT_SECRET_KEY, secret): a stolen table does not
 *  give the secrets, and without the key not even an offline guess. */
#include "clients.h"

#include "admin_scope.h"
#include "client_cache.h"
#include "jws.h"
#include "log.h"
#include "secure.h"
#include "service.h"
#include "token_ops.h"
#include "token_settings.h"
#include "token_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CLIENT_SECRET_BYTES 32
#define CLIENT_ID_BYTES 16
#define REDIRECT_URI_MAX 2048

//  The descriptions that cross the bus: fixed, and within the characters
//  RFC 6749 §5.2 allows in error_description (no quote, no backslash).
#define DESC_CLIENT_ID "client_id must be 1 to 64 characters among A-Z a-z 0-9 . _ ~ -"
#define DESC_AT_LIFETIME_MAX                                                                                 \
    "access_token_lifetime must be at most OSTIARY_KEYS_TOKEN_LIFETIME_MAX, the longest lifetime keys-svc "  \
    "signs"
#define DESC_ID_LIFETIME_MAX                                                                                 \
    "id_token_lifetime must be at most OSTIARY_KEYS_TOKEN_LIFETIME_MAX, the longest lifetime keys-svc signs"
#define DESC_TYPE "type must be confidential or public"
#define DESC_REDIRECTS "redirect_uris must be a list of 1 to 16 distinct URIs"
#define DESC_REDIRECT_ABS                                                                                    \
    "every redirect URI must be absolute, printable ASCII without spaces, at most 2048 bytes"
#define DESC_REDIRECT_FRAGMENT "a redirect URI must not contain a fragment"
#define DESC_REDIRECT_SCHEME                                                                                 \
    "a redirect URI must use https, http, or (public clients only) a private-use scheme such as "            \
    "com.example.app"
#define DESC_REDIRECT_AUTHORITY "an http or https redirect URI needs a host and no user information"
#define DESC_REDIRECT_HTTP "http redirect URIs are only allowed for loopback hosts in production mode"
#define DESC_GRANTS                                                                                          \
    "grant_types must be distinct values among authorization_code, refresh_token, client_credentials"
#define DESC_GRANT_PUBLIC "a public client cannot use the client_credentials grant"
#define DESC_RESPONSES "response_types must be [code] with the authorization_code grant, and empty without it"
#define DESC_SCOPES                                                                                          \
    "scopes must be distinct values among openid, profile, email, address, phone, offline_access"
#define DESC_METHOD                                                                                          \
    "token_endpoint_auth_method must be client_secret_basic or client_secret_post for a confidential "       \
    "client, none "                                                                                          \
    "for a public one"
#define DESC_ALG "id_token_signed_response_alg must be RS256, ES256 or EdDSA"
#define DESC_AT_ALG "access_token_alg must be RS256, ES256 or EdDSA"
#define DESC_PKCE "require_pkce must be true for a public client"
#define DESC_ORIGINS "allowed_web_origins must be a list of distinct origins"
#define DESC_ORIGIN                                                                                          \
    "a web origin must be http or https, a lower-case host and a port only when not the default, with no "   \
    "path, no trailing slash and no wildcard"
#define DESC_ORIGIN_HTTP "http web origins are only allowed for loopback hosts in production mode"
#define DESC_LOGOUT_URIS "post_logout_redirect_uris must be a list of distinct URIs"
#define DESC_BACKCHANNEL_URI "backchannel_logout_uri must be an absolute http or https URI without fragment"
#define DESC_BACKCHANNEL_SESSION "backchannel_logout_session_required needs a backchannel_logout_uri"
#define DESC_FRONTCHANNEL_URI "frontchannel_logout_uri must be an absolute http or https URI without fragment"
#define DESC_FRONTCHANNEL_SESSION "frontchannel_logout_session_required needs a frontchannel_logout_uri"
#define DESC_DUPLICATE "client_id already exists"
#define DESC_ADMIN_SCOPE "only the admin client (OSTIARY_ADMIN_CLIENT_ID) may register the admin scope"
#define DESC_NOT_FOUND "no such client"
#define DESC_PUBLIC_SECRET "a public client has no secret"
#define DESC_BAD_ID "client_id is malformed"
#define DESC_INTERNAL "internal error"
#define DESC_CONFLICT "the client changed since that version: read it again"
#define DESC_UNSET                                                                                           \
    "unset must name distinct members among access_token_alg, require_pkce, backchannel_logout_uri, "        \
    "frontchannel_logout_uri, "                                                                              \
    "access_token_lifetime, id_token_lifetime, refresh_grace, refresh_grace_uses, none also given a value"

//  The one description that is not the caller's fault (compared by address).
static const char s_desc_internal[] = DESC_INTERNAL;

static const char *const s_grants[] = {"authorization_code", "refresh_token", "client_credentials"};

//  ------------------------------------------------------------- helpers

int
clients_pkce_required (db_t *db, const token_client_t *client)
{
    if (client->is_public)
        return 1;
    return client->require_pkce >= 0 ? client->require_pkce
                                     : token_settings_get (db, SETTING_PKCE_REQUIRED) != 0;
}

const char *
clients_access_token_alg (const token_app_t *app, const token_client_t *client)
{
    return client->access_token_alg[0] ? client->access_token_alg : jws_alg_name (app->access_token_alg);
}

json_t *
clients_view (db_t *db, const token_client_t *c)
{
    json_t *view = json_pack ("{s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:s, s:s, s:b, s:b, s:I}", "client_id",
                              c->client_id, "name", c->name, "type", c->is_public ? "public" : "confidential",
                              "redirect_uris", c->redirect_uris, "grant_types", c->grant_types,
                              "response_types", c->response_types, "scopes", c->scopes,
                              "token_endpoint_auth_method", c->auth_method, "id_token_signed_response_alg",
                              c->id_token_alg, "require_pkce", clients_pkce_required (db, c), "first_party",
                              c->first_party, "created_at", (json_int_t)c->created_at);
    //  Refresh and introspection settings.
    if (view && json_object_update_new (
                    view, json_pack ("{s:b, s:b, s:i, s:i}", "always_refresh", c->always_refresh,
                                     "resource_server", c->resource_server, "refresh_grace",
                                     c->refresh_grace_s, "refresh_grace_uses", c->refresh_grace_uses))) {
        json_decref (view);
        view = NULL;
    }
    if (view && (json_object_set (view, "allowed_web_origins", c->web_origins) ||
                 json_object_set (view, "post_logout_redirect_uris", c->post_logout_uris) ||
                 json_object_set_new (view, "backchannel_logout_session_required",
                                      json_boolean (c->backchannel_session_required)) ||
                 json_object_set_new (view, "refresh_bound_to_session", json_boolean (c->refresh_bound)) ||
                 json_object_set_new (view, "frontchannel_logout_session_required",
                                      json_boolean (c->frontchannel_session_required)))) {
        json_decref (view);
        view = NULL;
    }
    if (view && (json_object_set_new (view, "disabled", json_boolean (c->disabled)) ||
                 json_object_set_new (view, "version", json_integer (c->version)))) {
        json_decref (view);
        view = NULL;
    }
    if (view && (c->is_public || c->require_pkce >= 0) &&
        json_object_set_new (view, "require_pkce_own", json_boolean (c->is_public || c->require_pkce))) {
        json_decref (view);
        view = NULL;
    }
    if (view && ((c->access_token_ttl > 0 &&
                  json_object_set_new (view, "access_token_lifetime", json_integer (c->access_token_ttl))) ||
                 (c->id_token_ttl > 0 &&
                  json_object_set_new (view, "id_token_lifetime", json_integer (c->id_token_ttl))) ||
                 (c->has_prev_secret && json_object_set_new (view, "previous_secret_expires_at",
                                                             json_integer (c->prev_secret_expires))))) {
        json_decref (view);
        view = NULL;
    }
    if (view && c->backchannel_uri &&
        json_object_set_new (view, "backchannel_logout_uri", json_string (c->backchannel_uri))) {
        json_decref (view);
        view = NULL;
    }
    if (view && c->frontchannel_uri &&
        json_object_set_new (view, "frontchannel_logout_uri", json_string (c->frontchannel_uri))) {
        json_decref (view);
        view = NULL;
    }
    //  Only a client that chose its access-token algorithm shows
    //  one; the others follow OSTIARY_ACCESS_TOKEN_ALG, whatever it becomes.
    if (view && c->access_token_alg[0] &&
        json_object_set_new (view, "access_token_alg", json_string (c->access_token_alg))) {
        json_decref (view);
        view = NULL;
    }
    return view;
}

//  HMAC-SHA256 of a secret under the server key. 0 ok, -1 failure.
static int
s_secret_hash (const token_app_t *app, const char *secret, unsigned char out[TOKEN_HASH_LEN])
{
    return token_app_hmac (app, TOKEN_APP_SECRET_KEY, secret, strlen (secret), out);
}

long
clients_access_token_ttl (const token_app_t *app, const token_client_t *client)
{
    return client->access_token_ttl > 0 ? client->access_token_ttl : app->access_token_ttl;
}

long
clients_id_token_ttl (const token_app_t *app, const token_client_t *client)
{
    return client->id_token_ttl > 0 ? client->id_token_ttl : app->id_token_ttl;
}

int
clients_secret_matches (const token_app_t *app, const token_client_t *client, const char *secret)
{
    unsigned char hash[TOKEN_HASH_LEN];
    if (s_secret_hash (app, secret ? secret : "", hash))
        return 0;
    //  Both hashes are compared every time, so the time taken does not tell
    //  whether an overlap is running.
    int equal = secure_equal (hash, sizeof hash, client->secret_hash, sizeof client->secret_hash);
    int previous =
        secure_equal (hash, sizeof hash, client->prev_secret_hash, sizeof client->prev_secret_hash);
    secure_wipe (hash, sizeof hash);
    //  The previous secret of a rotation with an overlap, until its end
    //  (the row says so when read; a cached copy checks the clock).
    previous = previous && client->has_prev_secret && (int64_t)time (NULL) < client->prev_secret_expires;
    return (equal || previous) && secret && client->has_secret && !client->is_public;
}

//  A new secret and its hash. The secret is freed with secure_free_str.
static char *
s_new_secret (const token_app_t *app, unsigned char hash[TOKEN_HASH_LEN])
{
    char *secret = secure_token (CLIENT_SECRET_BYTES);
    if (secret && s_secret_hash (app, secret, hash))
        secure_free_str (&secret);
    return secret;
}

static int
s_client_id_valid (const char *id)
{
    size_t n = strlen (id);
    if (n < 1 || n > TOKEN_CLIENT_ID_MAX)
        return 0;
    //  RFC 3986 unreserved characters: safe in URLs, forms and the Basic
    //  header (RFC 6749 §2.3.1 form-encodes the id, but a ':' would still
    //  confuse clients that do not).
    return strspn (id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-") == n;
}

//  RFC 8252 §7.3, §8.3: loopback hosts: 127.0.0.0/8, [::1], localhost.
static int
s_loopback (const char *host, size_t len)
{
    if ((len == 9 && strncasecmp (host, "localhost", 9) == 0) ||
        (len == 5 && strncmp (host, "[::1]", 5) == 0))
        return 1;
    if (len < 7 || len > 15 || strncmp (host, "127.", 4) != 0)
        return 0;
    int dots = 0, digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (host[i] == '.') {
            if (digits == 0)
                return 0;
            dots++;
            digits = 0;
        } else if (host[i] >= '0' && host[i] <= '9' && ++digits <= 3)
            continue;
        else
            return 0;
    }
    return dots == 3 && digits > 0;
}

//  Checks one redirect URI for registration. NULL when acceptable, else the
//  description of the problem. RFC 6749 §3.1.2: absolute, no fragment;
//  RFC 9700 §2.1 and §4.1.1: exact matching later, https (http only for
//  loopback in production); RFC 8252 §7.1: private-use schemes for native
//  (public) clients.
static const char *
s_redirect_uri_problem (const token_app_t *app, const char *uri, int is_public)
{
    size_t len = strlen (uri);
    if (len == 0 || len > REDIRECT_URI_MAX || !tu_printable (uri, 0))
        return DESC_REDIRECT_ABS;
    if (strchr (uri, '#'))
        return DESC_REDIRECT_FRAGMENT;
    //  RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
    size_t slen = strspn (uri, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.");
    if (slen == 0 || uri[slen] != ':' || !((uri[0] | 0x20) >= 'a' && (uri[0] | 0x20) <= 'z'))
        return DESC_REDIRECT_ABS;
    int https = slen == 5 && strncasecmp (uri, "https", 5) == 0;
    int http = slen == 4 && strncasecmp (uri, "http", 4) == 0;
    if (!https && !http) {
        if (!is_public || !memchr (uri, '.', slen) || uri[slen + 1] == '\0')
            return DESC_REDIRECT_SCHEME;
        return NULL;
    }
    const char *rest = uri + slen + 1;
    if (strncmp (rest, "//", 2) != 0)
        return DESC_REDIRECT_AUTHORITY;
    const char *authority = rest + 2;
    size_t alen = strcspn (authority, "/?");
    if (alen == 0 || memchr (authority, '@', alen))
        return DESC_REDIRECT_AUTHORITY;
    //  The host is the authority without its port (an IPv6 literal keeps its brackets).
    size_t hlen = alen;
    if (authority[0] == '[') {
        const char *close = memchr (authority, ']', alen);
        if (!close)
            return DESC_REDIRECT_AUTHORITY;
        hlen = (size_t)(close - authority) + 1;
        if (hlen < alen && authority[hlen] != ':')
            return DESC_REDIRECT_AUTHORITY;
    } else {
        const char *colon = memchr (authority, ':', alen);
        if (colon)
            hlen = (size_t)(colon - authority);
    }
    if (hlen == 0)
        return DESC_REDIRECT_AUTHORITY;
    if (http && app->production && !s_loopback (authority, hlen))
        return DESC_REDIRECT_HTTP;
    return NULL;
}

//  Checks one web origin for registration. NULL when acceptable, else the
//  description of the problem. RFC 6454 §6.2: a browser serializes an
//  origin as scheme "://" host [":" port], lower case, the port only when it
//  is not the scheme's default; the Fetch standard compares the Origin header
//  with Access-Control-Allow-Origin byte for byte. So only that exact form is
//  registered: anything else (a path, a trailing slash, upper case, a
//  default port, a wildcard, "null") could never match, or would widen what
//  matches.
static const char *
s_web_origin_problem (const token_app_t *app, const char *origin)
{
    int https = strncmp (origin, "https://", 8) == 0;
    int http = strncmp (origin, "http://", 7) == 0;
    if (!https && !http)
        return DESC_ORIGIN;
    const char *host = origin + (https ? 8 : 7);
    size_t hlen;
    if (host[0] == '[') {
        //  An IPv6 literal: hex digits and colons (browsers serialize it
        //  compressed and in lower case).
        hlen = 1 + strspn (host + 1, "0123456789abcdef:");
        if (host[hlen] != ']' || hlen < 3)
            return DESC_ORIGIN;
        hlen++;
    } else {
        hlen = strspn (host, "abcdefghijklmnopqrstuvwxyz0123456789-.");
        if (hlen == 0 || host[0] == '.' || host[0] == '-' || host[hlen - 1] == '.' || strstr (host, ".."))
            return DESC_ORIGIN;
    }
    const char *port = host + hlen;
    if (*port == ':') {
        size_t digits = strspn (port + 1, "0123456789");
        long value = digits >= 1 && digits <= 5 && port[1] != '0' ? strtol (port + 1, NULL, 10) : 0;
        if (value < 1 || value > 65535 || port[1 + digits] != '\0' || (https && value == 443) ||
            (http && value == 80))
            return DESC_ORIGIN;
    } else if (*port != '\0')
        return DESC_ORIGIN;
    if (http && app->production && !s_loopback (host, hlen))
        return DESC_ORIGIN_HTTP;
    return NULL;
}

//  A copy of an optional list (already within its bounds: proto/ops.def) that
//  must hold distinct strings. TU_ABSENT leaves *out NULL; TU_OK gives a new
//  array; TU_BAD for a repeated value.
static tu_get_t
s_string_list (const json_t *v, json_t **out)
{
    *out = NULL;
    if (!v)
        return TU_ABSENT;
    json_t *list = json_array ();
    size_t i;
    const json_t *item;
    json_array_foreach (v, i, item)
    {
        if (!list || tu_has (list, json_string_value (item))) {
            json_decref (list);
            return TU_BAD;
        }
        json_array_append (list, (json_t *)item);
    }
    *out = list;
    return TU_OK;
}

//  1 when name is RS256, ES256 or EdDSA, spelt exactly.
static int
s_alg_valid (const char *name)
{
    //  OpenID Connect Core §15.1: RS256 must be supported; "none" never is.
    jws_alg_t parsed = jws_alg_parse (name);
    return parsed != JWS_ALG_NONE && strcmp (jws_alg_name (parsed), name) == 0;
}

//  Validates a token.client_add request into *c. NULL when it is
//  acceptable, else the description of the first problem. Types, lengths
//  and the members allowed are proto/ops.def's; the rules here are the
//  registration's.
static const char *
s_parse_client (const token_app_t *app, const token_client_add_in_t *in, token_client_t *c)
{
    memset (c, 0, sizeof *c);
    if (in->client_id && !s_client_id_valid (in->client_id))
        return DESC_CLIENT_ID;
    if (in->client_id)
        snprintf (c->client_id, sizeof c->client_id, "%s", in->client_id);
    else {
        //  base64url of 128 random bits, drawn again while it starts with
        //  '-' or '_' (one in 32): an id starting with '-' reads as an option
        //  on command lines (`ostiaryctl clients show -XH...` failed).
        char *id = NULL;
        for (int tries = 0; tries < 64 && !id; tries++) {
            id = secure_token (CLIENT_ID_BYTES);
            if (!id)
                return s_desc_internal;
            if (id[0] == '-' || id[0] == '_')
                secure_free_str (&id);
        }
        if (!id)
            return s_desc_internal;
        snprintf (c->client_id, sizeof c->client_id, "%s", id);
        secure_free_str (&id);
    }

    c->name = strdup (in->name ? in->name : c->client_id);
    if (!c->name)
        return s_desc_internal;

    if (in->type && strcmp (in->type, "public") != 0 && strcmp (in->type, "confidential") != 0)
        return DESC_TYPE;
    c->is_public = in->type && strcmp (in->type, "public") == 0;

    const char *method = in->token_endpoint_auth_method ? in->token_endpoint_auth_method
                         : c->is_public                 ? "none"
                                                        : "client_secret_basic";
    //  RFC 6749 §2.1, §2.3.1: a public client cannot keep a secret, so it
    //  authenticates with nothing; a confidential one with its secret.
    if (c->is_public
            ? strcmp (method, "none") != 0
            : strcmp (method, "client_secret_basic") != 0 && strcmp (method, "client_secret_post") != 0)
        return DESC_METHOD;
    snprintf (c->auth_method, sizeof c->auth_method, "%s", method);

    if (s_string_list (in->grant_types, &c->grant_types) == TU_BAD)
        return DESC_GRANTS;
    if (!c->grant_types)
        c->grant_types = json_pack ("[s]", "authorization_code");
    if (!c->grant_types || json_array_size (c->grant_types) == 0)
        return DESC_GRANTS;
    size_t i;
    json_t *item;
    json_array_foreach (c->grant_types, i, item)
    {
        int known = 0;
        for (size_t k = 0; k < sizeof s_grants / sizeof s_grants[0]; k++)
            known |= strcmp (json_string_value (item), s_grants[k]) == 0;
        if (!known)
            return DESC_GRANTS;
    }
    //  RFC 6749 §4.4: the client credentials grant is for confidential clients only.
    if (c->is_public && tu_has (c->grant_types, "client_credentials"))
        return DESC_GRANT_PUBLIC;
    int code_flow = tu_has (c->grant_types, "authorization_code");

    //  OpenID Connect Dynamic Client Registration §2: response_types and
    //  grant_types must agree (code ⇔ authorization_code).
    if (s_string_list (in->response_types, &c->response_types) == TU_BAD)
        return DESC_RESPONSES;
    if (!c->response_types)
        c->response_types = code_flow ? json_pack ("[s]", "code") : json_array ();
    if (!c->response_types)
        return s_desc_internal;
    if (code_flow ? json_array_size (c->response_types) != 1 || !tu_has (c->response_types, "code")
                  : json_array_size (c->response_types) != 0)
        return DESC_RESPONSES;

    if (s_string_list (in->redirect_uris, &c->redirect_uris) == TU_BAD)
        return DESC_REDIRECTS;
    if (!c->redirect_uris)
        c->redirect_uris = json_array ();
    if (!c->redirect_uris)
        return s_desc_internal;
    //  RFC 9700 §2.1: clients of the code flow register their redirect URIs.
    if (code_flow && json_array_size (c->redirect_uris) == 0)
        return DESC_REDIRECTS;
    json_array_foreach (c->redirect_uris, i, item)
    {
        const char *problem = s_redirect_uri_problem (app, json_string_value (item), c->is_public);
        if (problem)
            return problem;
    }

    if (s_string_list (in->allowed_web_origins, &c->web_origins) == TU_BAD)
        return DESC_ORIGINS;
    if (!c->web_origins)
        c->web_origins = json_array ();
    if (!c->web_origins)
        return s_desc_internal;
    json_array_foreach (c->web_origins, i, item)
    {
        const char *problem = s_web_origin_problem (app, json_string_value (item));
        if (problem)
            return problem;
    }

    //  RP-Initiated Logout 1.0 §3.1: registered like redirect URIs, matched
    //  exactly at /logout.
    if (s_string_list (in->post_logout_redirect_uris, &c->post_logout_uris) == TU_BAD)
        return DESC_LOGOUT_URIS;
    if (!c->post_logout_uris)
        c->post_logout_uris = json_array ();
    if (!c->post_logout_uris)
        return s_desc_internal;
    json_array_foreach (c->post_logout_uris, i, item)
    {
        const char *problem = s_redirect_uri_problem (app, json_string_value (item), c->is_public);
        if (problem)
            return problem;
    }
    //  Back-Channel Logout 1.0 §2.2: an absolute http(s) URI, no fragment
    //  (a private-use scheme cannot be POSTed to). Where it may point is
    //  decided at delivery, by flow-svc's webhook rules.
    if (in->backchannel_logout_uri) {
        if (s_redirect_uri_problem (app, in->backchannel_logout_uri, 0) ||
            strncasecmp (in->backchannel_logout_uri, "http", 4) != 0)
            return DESC_BACKCHANNEL_URI;
        c->backchannel_uri = strdup (in->backchannel_logout_uri);
        if (!c->backchannel_uri)
            return s_desc_internal;
    }
    if (in->has_backchannel_logout_session_required && in->backchannel_logout_session_required &&
        !c->backchannel_uri)
        return DESC_BACKCHANNEL_SESSION;
    c->backchannel_session_required = in->backchannel_logout_session_required;
    //  Front-Channel Logout 1.0 §2: an absolute http(s) URI the logged-out
    //  page frames, with no fragment; its query is kept (iss and sid are
    //  added to it). The browser, not Ostiary, fetches it: it may be on any
    //  address the user's browser reaches.
    if (in->frontchannel_logout_uri) {
        if (s_redirect_uri_problem (app, in->frontchannel_logout_uri, 0) ||
            strncasecmp (in->frontchannel_logout_uri, "http", 4) != 0)
            return DESC_FRONTCHANNEL_URI;
        c->frontchannel_uri = strdup (in->frontchannel_logout_uri);
        if (!c->frontchannel_uri)
            return s_desc_internal;
    }
    if (in->has_frontchannel_logout_session_required && in->frontchannel_logout_session_required &&
        !c->frontchannel_uri)
        return DESC_FRONTCHANNEL_SESSION;
    c->frontchannel_session_required = in->frontchannel_logout_session_required;
    c->refresh_bound = in->refresh_bound_to_session;

    if (s_string_list (in->scopes, &c->scopes) == TU_BAD)
        return DESC_SCOPES;
    if (!c->scopes)
        c->scopes = json_pack ("[s]", "openid");
    if (!c->scopes)
        return s_desc_internal;
    json_array_foreach (c->scopes, i, item)
    {
        if (!tu_scope_known (json_string_value (item)))
            return DESC_SCOPES;
    }
    if (tu_has (c->scopes, ADMIN_SCOPE) && !admin_scope_client (app, c->client_id))
        return DESC_ADMIN_SCOPE;

    const char *alg = in->id_token_signed_response_alg ? in->id_token_signed_response_alg : "RS256";
    if (!s_alg_valid (alg))
        return DESC_ALG;
    snprintf (c->id_token_alg, sizeof c->id_token_alg, "%s", alg);

    //  The algorithm of this client's access tokens (RFC 9068 §2.1: any
    //  asymmetric JWS algorithm; the resource server verifies it through
    //  the JWKS by kid). Absent: the server's default.
    if (in->access_token_alg) {
        if (!s_alg_valid (in->access_token_alg))
            return DESC_AT_ALG;
        snprintf (c->access_token_alg, sizeof c->access_token_alg, "%s", in->access_token_alg);
    }

    //  RFC 9700 §2.1.1: public clients MUST use PKCE; it cannot be turned off.
    if (in->has_require_pkce && c->is_public && !in->require_pkce)
        return DESC_PKCE;
    c->require_pkce = c->is_public ? 1 : in->has_require_pkce ? in->require_pkce : -1;
    c->first_party = in->first_party;
    c->always_refresh = in->always_refresh;
    c->resource_server = in->resource_server;
    //  The retry window of refresh rotation (token-svc/refresh.c):
    //  OSTIARY_REFRESH_GRACE unless the client names one; three retries by
    //  default (each replaces the unused successor, so more retries do not
    //  widen what a thief can do).
    int64_t grace = in->has_refresh_grace ? in->refresh_grace : (int64_t)app->refresh_grace_default;
    c->refresh_grace_s = (int)grace;
    c->refresh_grace_uses = in->has_refresh_grace_uses ? (int)in->refresh_grace_uses : grace > 0 ? 3 : 0;
    return NULL;
}

//  ------------------------------------------------------------- client authentication

#define SECRET_MAX 512
#define DESC_CLIENT "client authentication failed"

//  RFC 6749 §2.3.1, §3.2.1: authenticates the client of a token request
//  with exactly one method, the one it registered. Every failure is
//  invalid_client with one description (no hint whether the id or the
//  secret was wrong). 0 with *client loaded, -1 after failing req.
int
clients_authenticate (bus_req_t *req, const json_t *form, const json_t *basic, token_client_t *client)
{
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    memset (client, 0, sizeof *client);
    const char *form_id = NULL, *form_secret = NULL, *id = NULL, *secret = NULL;
    tu_get_t got_id = tu_string (form, "client_id", TOKEN_CLIENT_ID_MAX, &form_id);
    tu_get_t got_secret = tu_string (form, "client_secret", SECRET_MAX, &form_secret);
    const char *method;
    if (basic) {
        //  RFC 6749 §2.3: "The client MUST NOT use more than one
        //  authentication method in each request."
        if (got_secret != TU_ABSENT)
            return tu_fail (req, OST_ERR_INVALID_REQUEST, "use exactly one client authentication method");
        if (tu_string (basic, "client_id", TOKEN_CLIENT_ID_MAX, &id) != TU_OK ||
            tu_string (basic, "client_secret", SECRET_MAX, &secret) != TU_OK)
            return tu_fail (req, OST_ERR_INVALID_CLIENT, DESC_CLIENT);
        if (got_id == TU_BAD || (got_id == TU_OK && strcmp (form_id, id) != 0))
            return tu_fail (req, OST_ERR_INVALID_REQUEST,
                            "client_id does not match the Authorization header");
        method = "client_secret_basic";
    } else if (got_secret != TU_ABSENT) {
        if (got_secret == TU_BAD || got_id != TU_OK)
            return tu_fail (req, OST_ERR_INVALID_CLIENT, DESC_CLIENT);
        id = form_id;
        secret = form_secret;
        method = "client_secret_post";
    } else if (got_id == TU_OK) {
        //  RFC 6749 §4.1.3, RFC 7636: a public client names itself and proves
        //  possession of the code with its code_verifier.
        id = form_id;
        method = "none";
    } else
        //  RFC 6749 §5.2: "no client authentication included".
        return tu_fail (req, OST_ERR_INVALID_CLIENT, DESC_CLIENT);

    //  A client seen within OSTIARY_CLIENT_CACHE_MS costs no SQL.
    db_status_t st = DB_NOT_FOUND;
    if (*id && client_cache_get (app->clients, id, client))
        st = DB_OK;
    else if (*id && (st = token_store_client_get (thread->db, id, client)) == DB_OK)
        client_cache_put (app->clients, client);
    if (st != DB_OK && st != DB_NOT_FOUND)
        return tu_db_fail (req, st);
    //  The secret check runs for unknown clients too (against an empty
    //  record), so the time taken does not tell whether the id exists.
    int secret_ok = clients_secret_matches (app, client, secret);
    int ok = st == DB_OK && !client->disabled && strcmp (client->auth_method, method) == 0 &&
             (strcmp (method, "none") == 0 ? client->is_public : secret_ok);
    if (!ok) {
        log_info ("client authentication failed (%s, method %s)",
                  st == DB_OK ? "known client" : "unknown client", method);
        token_client_clear (client);
        return tu_fail (req, OST_ERR_INVALID_CLIENT, DESC_CLIENT);
    }
    return 0;
}

//  ------------------------------------------------------------- handlers

//  The audit event of an operator's change to client id (after it is
//  stored: a change whose event could not be written is logged so).
static void
s_audit (bus_req_t *req, audit_event_t event, const char *id)
{
    service_thread_t *thread = req->thread_state;
    if (token_store_audit (thread->db, &(audit_record_t){.event = event,
                                                         .outcome = AUDIT_SUCCESS,
                                                         .actor = req->actor ? req->actor : "admin",
                                                         .subject = id,
                                                         .client_id = id}) != DB_OK)
        log_error ("the %s audit event of client %s was not written", audit_event_name (event), id);
}

int
token_op_client_add (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_client_add_in_t *in = BUS_IN (req, token_client_add);
    OST_UNUSED (body);
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    token_client_t c;
    const char *problem = s_parse_client (app, in, &c);
    if (problem) {
        token_client_clear (&c);
        return tu_fail (req, problem == s_desc_internal ? OST_ERR_SERVER_ERROR : OST_ERR_INVALID_REQUEST,
                        problem);
    }
    char *secret = NULL;
    if (!c.is_public) {
        secret = s_new_secret (app, c.secret_hash);
        if (!secret) {
            token_client_clear (&c);
            return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        }
        c.has_secret = 1;
    }
    if (bus_req_expired (req)) {
        secure_free_str (&secret);
        token_client_clear (&c);
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, "the request deadline passed");
    }
    db_status_t st = token_store_client_insert (thread->db, &c);
    char id[TOKEN_CLIENT_ID_MAX + 1];
    memcpy (id, c.client_id, sizeof id);
    token_client_clear (&c);
    if (st == DB_CONFLICT) {
        secure_free_str (&secret);
        return tu_fail (req, OST_ERR_INVALID_REQUEST, DESC_DUPLICATE);
    }
    if (st == DB_OK)
        st = token_store_client_get (thread->db, id, &c);
    if (st != DB_OK) {
        secure_free_str (&secret);
        return tu_db_fail (req, st);
    }
    json_t *view = clients_view (thread->db, &c);
    token_client_clear (&c);
    *result = view ? json_pack ("{s:o}", "client", view) : NULL;
    //  The secret is shown this once; only its keyed hash stays.
    if (*result && secret)
        json_object_set_new (*result, "client_secret", json_string (secret));
    secure_free_str (&secret);
    if (!*result)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    log_info ("client %s registered", id);
    s_audit (req, AUDIT_EV_client_add, id);
    return 0;
}

int
token_op_client_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    token_client_t *list = NULL;
    size_t n = 0;
    db_status_t st = token_store_client_list (thread->db, &list, &n);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    json_t *clients = json_array ();
    for (size_t i = 0; i < n; i++) {
        if (clients && json_array_append_new (clients, clients_view (thread->db, &list[i]))) {
            json_decref (clients);
            clients = NULL;
        }
        token_client_clear (&list[i]);
    }
    free (list);
    *result = clients ? json_pack ("{s:o}", "clients", clients) : NULL;
    if (!*result)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    return 0;
}

//  Every registered web origin with its client, for the gateway's CORS
//  cache (gateway/cors.c).
int
token_op_web_origins (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    token_client_t *list = NULL;
    size_t n = 0;
    db_status_t st = token_store_client_list (thread->db, &list, &n);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    json_t *origins = json_array ();
    for (size_t i = 0; i < n; i++) {
        size_t k;
        const json_t *origin;
        json_array_foreach (list[i].web_origins, k, origin)
        {
            if (origins && json_array_append_new (origins, json_pack ("{s:O, s:s}", "origin", origin,
                                                                      "client_id", list[i].client_id))) {
                json_decref (origins);
                origins = NULL;
            }
        }
        token_client_clear (&list[i]);
    }
    free (list);
    *result = origins ? json_pack ("{s:o}", "origins", origins) : NULL;
    if (!*result)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    return 0;
}

//  id when it is a well-formed client_id, else NULL after failing req.
static const char *
s_client_id (bus_req_t *req, const char *id)
{
    if (!s_client_id_valid (id)) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_BAD_ID);
        return NULL;
    }
    return id;
}

int
token_op_client_get (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_client_get_in_t *in = BUS_IN (req, token_client_get);
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    const char *id = s_client_id (req, in->client_id);
    if (!id)
        return -1;
    token_client_t c;
    db_status_t st = token_store_client_get (thread->db, id, &c);
    if (st == DB_NOT_FOUND)
        return tu_fail (req, OST_ERR_NOT_FOUND, DESC_NOT_FOUND);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    json_t *view = clients_view (thread->db, &c);
    token_client_clear (&c);
    *result = view ? json_pack ("{s:o}", "client", view) : NULL;
    if (!*result)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    return 0;
}

int
token_op_client_remove (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_client_remove_in_t *in = BUS_IN (req, token_client_remove);
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    const char *id = s_client_id (req, in->client_id);
    if (!id)
        return -1;
    if (bus_req_expired (req))
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, "the request deadline passed");
    //  The client's requests, codes, consents and refresh families go with
    //  it (ON DELETE CASCADE): nothing can be exchanged for it afterwards;
    //  the access tokens its families issued are revoked first.
    int removed = 0;
    db_status_t st = token_store_client_remove (thread->db, id, &removed);
    //  This process stops authenticating it now (client_cache.h).
    client_cache_forget (((const token_app_t *)req->app)->clients, id);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    if (!removed)
        return tu_fail (req, OST_ERR_NOT_FOUND, DESC_NOT_FOUND);
    log_info ("client %s removed", id);
    s_audit (req, AUDIT_EV_client_remove, id);
    *result = json_pack ("{s:b}", "removed", 1);
    return 0;
}

//  The members of token.client_update that unset may name.
static const char *const s_unsettable[] = {
    "access_token_alg",      "require_pkce",      "backchannel_logout_uri", "frontchannel_logout_uri",
    "access_token_lifetime", "id_token_lifetime", "refresh_grace",          "refresh_grace_uses"};

//  The stored registration c as a token.client_add request: what an update
//  starts from, so that the merged result passes the same rules. NULL when
//  out of memory.
static json_t *
s_as_add_request (const token_client_t *c)
{
    json_t *add = json_pack (
        "{s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:s, s:s, s:b, s:b, s:b, s:i, s:i, s:O, s:O, s:b, s:b}",
        "client_id", c->client_id, "name", c->name, "type", c->is_public ? "public" : "confidential",
        "redirect_uris", c->redirect_uris, "grant_types", c->grant_types, "response_types", c->response_types,
        "scopes", c->scopes, "token_endpoint_auth_method", c->auth_method, "id_token_signed_response_alg",
        c->id_token_alg, "first_party", c->first_party, "always_refresh", c->always_refresh,
        "resource_server", c->resource_server, "refresh_grace", c->refresh_grace_s, "refresh_grace_uses",
        c->refresh_grace_uses, "allowed_web_origins", c->web_origins, "post_logout_redirect_uris",
        c->post_logout_uris, "backchannel_logout_session_required", c->backchannel_session_required,
        "refresh_bound_to_session", c->refresh_bound);
    if (add && json_object_set_new (add, "frontchannel_logout_session_required",
                                    json_boolean (c->frontchannel_session_required)))
        goto fail;
    if (add && c->frontchannel_uri &&
        json_object_set_new (add, "frontchannel_logout_uri", json_string (c->frontchannel_uri)))
        goto fail;
    if (add && c->require_pkce >= 0 &&
        json_object_set_new (add, "require_pkce", json_boolean (c->require_pkce)))
        goto fail;
    if (add && c->access_token_alg[0] &&
        json_object_set_new (add, "access_token_alg", json_string (c->access_token_alg)))
        goto fail;
    if (add && c->backchannel_uri &&
        json_object_set_new (add, "backchannel_logout_uri", json_string (c->backchannel_uri)))
        goto fail;
    return add;
fail:
    json_decref (add);
    return NULL;
}

//  The names of the members whose value differs between two views.
static json_t *
s_changed (const json_t *before, const json_t *after)
{
    json_t *names = json_array ();
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)after, key, value)
    {
        if (strcmp (key, "version") != 0 && !json_equal (value, json_object_get (before, key)))
            json_array_append_new (names, json_string (key));
    }
    json_object_foreach ((json_t *)before, key, value)
    {
        if (!json_object_get (after, key))
            json_array_append_new (names, json_string (key));
    }
    return names;
}

int
token_op_client_update (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_client_update_in_t *in = BUS_IN (req, token_client_update);
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    const char *id = s_client_id (req, in->client_id);
    if (!id)
        return -1;
    token_client_t old;
    db_status_t st = token_store_client_get (thread->db, id, &old);
    if (st == DB_NOT_FOUND)
        return tu_fail (req, OST_ERR_NOT_FOUND, DESC_NOT_FOUND);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    //  The stored version decides again in the UPDATE; this only spares
    //  the work of a request that is stale already.
    if (old.version != in->version) {
        token_client_clear (&old);
        return tu_fail (req, OST_ERR_CONFLICT, DESC_CONFLICT);
    }

    //  The stored registration, overlaid with the members given and without
    //  those unset, checked as a registration.
    json_t *merged = s_as_add_request (&old);
    const char *problem = merged ? NULL : s_desc_internal;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)body, key, value)
    {
        if (problem || json_is_null (value) || !strcmp (key, "client_id") || !strcmp (key, "version") ||
            !strcmp (key, "unset") || !strcmp (key, "disabled") || !strcmp (key, "access_token_lifetime") ||
            !strcmp (key, "id_token_lifetime"))
            continue;
        if (json_object_set (merged, key, value))
            problem = s_desc_internal;
    }
    int unset_at_ttl = 0, unset_id_ttl = 0;
    size_t i;
    json_t *item;
    json_array_foreach (in->unset, i, item)
    {
        const char *name = json_string_value (item);
        int known = 0;
        for (size_t k = 0; k < sizeof s_unsettable / sizeof s_unsettable[0]; k++)
            known |= strcmp (name, s_unsettable[k]) == 0;
        const json_t *given = json_object_get (body, name);
        if (!known || (given && !json_is_null (given)) ||
            json_array_size (in->unset) > sizeof s_unsettable / sizeof s_unsettable[0])
            problem = problem ? problem : DESC_UNSET;
        for (size_t k = 0; k < i; k++)
            if (!strcmp (name, json_string_value (json_array_get (in->unset, k))))
                problem = problem ? problem : DESC_UNSET;
        if (!problem)
            json_object_del (merged, name);
        unset_at_ttl |= strcmp (name, "access_token_lifetime") == 0;
        unset_id_ttl |= strcmp (name, "id_token_lifetime") == 0;
    }
    token_client_add_in_t add;
    char why[SCHEMA_WHY_MAX];
    if (!problem && schema_unpack (&schema_token_client_add_in, merged, &add, why, sizeof why) != 0)
        problem = s_desc_internal;
    token_client_t c;
    memset (&c, 0, sizeof c);
    if (!problem)
        problem = s_parse_client (app, &add, &c);
    json_decref (merged);
    if (problem) {
        token_client_clear (&c);
        token_client_clear (&old);
        return tu_fail (req, problem == s_desc_internal ? OST_ERR_SERVER_ERROR : OST_ERR_INVALID_REQUEST,
                        problem);
    }
    //  keys-svc refuses to sign a token that lives longer than
    //  OSTIARY_KEYS_TOKEN_LIFETIME_MAX: such a lifetime is refused here,
    //  not at every token endpoint request after.
    if ((in->has_access_token_lifetime && in->access_token_lifetime > app->token_lifetime_max) ||
        (in->has_id_token_lifetime && in->id_token_lifetime > app->token_lifetime_max)) {
        token_client_clear (&c);
        token_client_clear (&old);
        return tu_fail (req, OST_ERR_INVALID_REQUEST,
                        in->has_access_token_lifetime && in->access_token_lifetime > app->token_lifetime_max
                            ? DESC_AT_LIFETIME_MAX
                            : DESC_ID_LIFETIME_MAX);
    }
    c.created_at = old.created_at;
    c.disabled = in->has_disabled ? in->disabled : old.disabled;
    c.access_token_ttl = in->has_access_token_lifetime ? (int)in->access_token_lifetime
                         : unset_at_ttl                ? 0
                                                       : old.access_token_ttl;
    c.id_token_ttl = in->has_id_token_lifetime ? (int)in->id_token_lifetime
                     : unset_id_ttl            ? 0
                                               : old.id_token_ttl;
    //  The view shows the secret overlap, which an update keeps.
    c.has_secret = old.has_secret;
    c.has_prev_secret = old.has_prev_secret;
    c.prev_secret_expires = old.prev_secret_expires;
    c.version = old.version + 1;

    json_t *before = clients_view (thread->db, &old);
    json_t *after = clients_view (thread->db, &c);
    json_t *details = before && after ? json_pack ("{s:O, s:O, s:o}", "before", before, "after", after,
                                                   "changed", s_changed (before, after))
                                      : NULL;
    //  Disabling a client revokes what it holds (docs/token-lifecycle.md):
    //  enabling it again does not bring its tokens back.
    int revoke = c.disabled && !old.disabled;
    token_client_clear (&old);
    int changed = 0;
    if (!details)
        st = DB_ERROR;
    else if (bus_req_expired (req)) {
        json_decref (details);
        json_decref (before);
        json_decref (after);
        token_client_clear (&c);
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, "the request deadline passed");
    } else
        st = token_store_client_update (thread->db, &c, in->version, revoke,
                                        &(audit_record_t){.event = AUDIT_EV_client_update,
                                                          .outcome = AUDIT_SUCCESS,
                                                          .actor = req->actor ? req->actor : "admin",
                                                          .subject = id,
                                                          .client_id = id,
                                                          .details = details},
                                        &changed);
    token_client_clear (&c);
    json_decref (details);
    json_decref (before);
    //  This process authenticates it by the new registration now; other
    //  replicas within OSTIARY_CLIENT_CACHE_MS (client_cache.h).
    client_cache_forget (app->clients, id);
    if (st != DB_OK) {
        json_decref (after);
        return tu_db_fail (req, st);
    }
    if (!changed) {
        //  Another change came between the read and the UPDATE (or the
        //  client was removed): nothing was written.
        json_decref (after);
        token_client_t gone;
        st = token_store_client_get (thread->db, id, &gone);
        token_client_clear (&gone);
        if (st == DB_NOT_FOUND)
            return tu_fail (req, OST_ERR_NOT_FOUND, DESC_NOT_FOUND);
        return tu_fail (req, OST_ERR_CONFLICT, DESC_CONFLICT);
    }
    log_info ("client %s updated to version %lld", id, (long long)in->version + 1);
    *result = after ? json_pack ("{s:o}", "client", after) : NULL;
    if (!*result)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    return 0;
}

int
token_op_client_rotate_secret (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_client_rotate_secret_in_t *in = BUS_IN (req, token_client_rotate_secret);
    OST_UNUSED (body);
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    const char *id = s_client_id (req, in->client_id);
    if (!id)
        return -1;
    unsigned char hash[TOKEN_HASH_LEN];
    char *secret = s_new_secret (app, hash);
    if (!secret)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    if (bus_req_expired (req)) {
        secure_free_str (&secret);
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, "the request deadline passed");
    }
    //  One UPDATE guarded by type = 'confidential' (and the version, when
    //  given): without an overlap the old secret stops working the moment
    //  the new one is stored (on other replicas, within
    //  OSTIARY_CLIENT_CACHE_MS: client_cache.h); with one, both work until
    //  its end.
    long overlap = in->has_overlap_seconds ? (long)in->overlap_seconds : 0;
    int changed = 0;
    int64_t version = 0, prev_expires = 0;
    db_status_t st = token_store_client_set_secret (
        thread->db, id, hash, overlap, in->has_version ? in->version : 0, &changed, &version, &prev_expires);
    secure_wipe (hash, sizeof hash);
    client_cache_forget (app->clients, id);
    if (st != DB_OK || !changed) {
        secure_free_str (&secret);
        if (st != DB_OK)
            return tu_db_fail (req, st);
        token_client_t c;
        st = token_store_client_get (thread->db, id, &c);
        int is_public = c.is_public;
        token_client_clear (&c);
        if (st == DB_OK && is_public)
            return tu_fail (req, OST_ERR_INVALID_REQUEST, DESC_PUBLIC_SECRET);
        if (st == DB_OK)
            return tu_fail (req, OST_ERR_CONFLICT, DESC_CONFLICT);
        if (st == DB_NOT_FOUND)
            return tu_fail (req, OST_ERR_NOT_FOUND, DESC_NOT_FOUND);
        return tu_db_fail (req, st);
    }
    *result = json_pack ("{s:s, s:s, s:I}", "client_id", id, "client_secret", secret, "version",
                         (json_int_t)version);
    if (*result && prev_expires > 0)
        json_object_set_new (*result, "previous_secret_expires_at", json_integer (prev_expires));
    secure_free_str (&secret);
    if (!*result)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    log_info ("client %s: secret rotated (overlap %ld s)", id, overlap);
    json_t *details =
        json_pack ("{s:I, s:I}", "overlap_seconds", (json_int_t)overlap, "version", (json_int_t)version);
    service_thread_t *t = thread;
    if (token_store_audit (t->db, &(audit_record_t){.event = AUDIT_EV_client_rotate_secret,
                                                    .outcome = AUDIT_SUCCESS,
                                                    .actor = req->actor ? req->actor : "admin",
                                                    .subject = id,
                                                    .client_id = id,
                                                    .details = details}) != DB_OK)
        log_error ("the client_rotate_secret audit event of client %s was not written", id);
    json_decref (details);
    return 0;
}
