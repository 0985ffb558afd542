/*  discovery - GET /.well-known/openid-configuration (OpenID Connect
 *  Discovery 1.0 §3) and GET /.well-known/oauth-authorization-server
 *  (RFC 8414 §2, §3): the same document at both.
 *
 *  Every URL is built from OSTIARY_ISSUER and nothing else: Host and
 *  X-Forwarded-* are never read (ARCHITECTURE.md), so a client cannot make
 *  us advertise its own endpoints. The document lists exactly what the code
 *  does: an endpoint, grant, scope or claim appears here when its route and
 *  its service exist (tests/e2e/test_discovery.py checks it against
 *  behaviour). */
#include "cors.h"
#include "i18n.h"
#include "jwks.h"
#include "log.h"
#include "routes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Claims we release (common/claims.def).
static const char *const s_claims[] = {
#define CLAIM(name, scope) name,
#include "claims.def"
#undef CLAIM
};

static json_t *
s_strings (const char *const *list, size_t count)
{
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (array, json_string (list[i]));
    return array;
}

#define S_STRINGS(...)                                                                                       \
    s_strings ((const char *const[]){__VA_ARGS__},                                                           \
               sizeof ((const char *const[]){__VA_ARGS__}) / sizeof (const char *))

//  issuer + path, with no doubled slash when the issuer ends in '/'.
static json_t *
s_url (const char *issuer, const char *path)
{
    size_t len = strlen (issuer);
    while (len > 0 && issuer[len - 1] == '/')
        len--;
    char url[2048];
    int n = snprintf (url, sizeof url, "%.*s%s", (int)len, issuer, path);
    if (n < 0 || (size_t)n >= sizeof url)
        return NULL;
    return json_string (url);
}

//  The rendered document, per process. Everything in it is fixed
//  at start-up except the signing algorithms, so it is rendered again only
//  when those change; every other request copies the bytes.
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *s_cached_algs;
static char *s_cached_doc;
static size_t s_cached_len;

//  A copy of the cached document when it was rendered for algs, else NULL.
static char *
s_cached (const json_t *algs, size_t *len)
{
    char *copy = NULL;
    pthread_mutex_lock (&s_lock);
    if (s_cached_doc && json_equal (s_cached_algs, (json_t *)algs)) {
        copy = malloc (s_cached_len);
        if (copy) {
            memcpy (copy, s_cached_doc, s_cached_len);
            *len = s_cached_len;
        }
    }
    pthread_mutex_unlock (&s_lock);
    return copy;
}

//  Keeps text (len bytes) as the document of algs.
static void
s_keep (const json_t *algs, const char *text, size_t len)
{
    json_t *algs_copy = json_deep_copy (algs);
    char *doc = malloc (len);
    if (!algs_copy || !doc) {
        json_decref (algs_copy);
        free (doc);
        return;
    }
    memcpy (doc, text, len);
    pthread_mutex_lock (&s_lock);
    json_decref (s_cached_algs);
    free (s_cached_doc);
    s_cached_algs = algs_copy;
    s_cached_doc = doc;
    s_cached_len = len;
    pthread_mutex_unlock (&s_lock);
}

int
discovery_get (gw_req_t *req)
{
    //  A public document: any origin may read it (cors.h).
    cors_allow_any (req);
    int max_age = 0;
    bus_error_t error;
    jwks_snap_t *snap = jwks_cache_get (req->gw->jwks, req, &max_age, &error);
    if (!snap)
        return http_send_bus_error (req, &error);
    //  Discovery §3: id_token_signing_alg_values_supported is REQUIRED; we
    //  advertise exactly the algorithms of the keys that can sign now.
    json_t *algs = json_deep_copy (jwks_snap_algs (snap));
    jwks_snap_release (&snap);
    if (!algs || json_array_size (algs) == 0) {
        json_decref (algs);
        log_warn ("discovery: the key set has no signing key");
        return http_send_error (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "no signing key is available");
    }
    //  The document names the signing algorithms of the cached key set, so
    //  it is cacheable exactly as long as that key set.
    char cache_control[64];
    snprintf (cache_control, sizeof cache_control, "public, max-age=%d", max_age);
    size_t len = 0;
    char *cached = s_cached (algs, &len);
    if (cached) {
        json_decref (algs);
        int rc = http_send (req, 200, "application/json", cache_control, NULL, 0, cached, len);
        free (cached);
        return rc;
    }
    json_t *algs_seen = json_incref (algs);
    const char *issuer = req->gw->cfg->issuer;
    json_t *doc = json_object ();
    json_object_set_new (doc, "issuer", json_string (issuer));
    json_object_set_new (doc, "authorization_endpoint", s_url (issuer, "/authorize"));
    json_object_set_new (doc, "token_endpoint", s_url (issuer, "/token"));
    json_object_set_new (doc, "userinfo_endpoint", s_url (issuer, "/userinfo"));
    //  RFC 8414 §2: revocation (RFC 7009) and introspection (RFC 7662)
    //  authenticate clients exactly as the token endpoint does (token.c).
    json_object_set_new (doc, "revocation_endpoint", s_url (issuer, "/revoke"));
    json_object_set_new (doc, "introspection_endpoint", s_url (issuer, "/introspect"));
    json_object_set_new (doc, "jwks_uri", s_url (issuer, "/jwks"));
    //  RP-Initiated Logout 1.0 §2.1 (logout.c).
    json_object_set_new (doc, "end_session_endpoint", s_url (issuer, "/logout"));
    //  Back-Channel Logout 1.0 §2.1: logout tokens go to every client of an
    //  ended session that registered a backchannel_logout_uri, and always
    //  carry sid (flow-svc/sessions.c, token-svc/logout.c).
    json_object_set_new (doc, "backchannel_logout_supported", json_true ());
    json_object_set_new (doc, "backchannel_logout_session_supported", json_true ());
    //  Front-Channel Logout 1.0 §3: the page after a logout frames the
    //  frontchannel_logout_uri of every client of the ended session, with
    //  iss and sid when the client asked for them (logout.c,
    //  token.frontchannel_frames).
    json_object_set_new (doc, "frontchannel_logout_supported", json_true ());
    json_object_set_new (doc, "frontchannel_logout_session_supported", json_true ());
    json_object_set_new (doc, "response_types_supported", S_STRINGS ("code"));
    json_object_set_new (doc, "response_modes_supported", S_STRINGS ("query", "fragment", "form_post"));
    json_object_set_new (doc, "grant_types_supported",
                         S_STRINGS ("authorization_code", "refresh_token", "client_credentials"));
    json_object_set_new (doc, "subject_types_supported", S_STRINGS ("public"));
    json_object_set_new (doc, "id_token_signing_alg_values_supported", algs);
    json_object_set_new (doc, "token_endpoint_auth_methods_supported",
                         S_STRINGS ("client_secret_basic", "client_secret_post", "none"));
    json_object_set_new (doc, "revocation_endpoint_auth_methods_supported",
                         S_STRINGS ("client_secret_basic", "client_secret_post", "none"));
    //  RFC 7662 §2.1: introspection requires an authenticated client, so a
    //  public client ("none") cannot introspect.
    json_object_set_new (doc, "introspection_endpoint_auth_methods_supported",
                         S_STRINGS ("client_secret_basic", "client_secret_post"));
    //  RFC 7636 §4.2: only S256; "plain" is never accepted.
    json_object_set_new (doc, "code_challenge_methods_supported", S_STRINGS ("S256"));
    json_object_set_new (doc, "scopes_supported",
                         S_STRINGS ("openid", "profile", "email", "address", "phone", "offline_access"));
    json_object_set_new (doc, "claims_supported", s_strings (s_claims, sizeof s_claims / sizeof s_claims[0]));
    //  OpenID Connect Core §3.1.2.1 prompt values, each with its behaviour
    //  (authorize.c, login.c); RFC 8414 lists the field for OAuth too.
    json_object_set_new (doc, "prompt_values_supported",
                         S_STRINGS ("none", "login", "consent", "select_account"));
    //  Discovery §3 ui_locales_supported: the catalogues the pages have.
    json_t *locales = json_array ();
    for (size_t i = 0; locales && i < i18n_count (req->gw->i18n); i++)
        json_array_append_new (locales, json_string (i18n_lang (req->gw->i18n, i)));
    json_object_set_new (doc, "ui_locales_supported", locales);
    json_object_set_new (doc, "claims_parameter_supported", json_true ());
    //  OpenID Connect Core §2: the acr values token-svc assigns (acr.def).
    json_t *acrs = json_array ();
#define ACR(name, level, amr) json_array_append_new (acrs, json_string (name));
#include "acr.def"
#undef ACR
    json_object_set_new (doc, "acr_values_supported", acrs);
    //  RFC 9207 §3: we send iss with every authorization response.
    json_object_set_new (doc, "authorization_response_iss_parameter_supported", json_true ());
    //  OpenID Connect Core §6.1: request objects by value, unsigned only
    //  (token-svc/authorize.c); never by reference.
    json_object_set_new (doc, "request_parameter_supported", json_true ());
    json_object_set_new (doc, "request_object_signing_alg_values_supported", S_STRINGS ("none"));
    json_object_set_new (doc, "request_uri_parameter_supported", json_false ());

    char *text = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    if (!text) {
        json_decref (algs_seen);
        log_error ("cannot serialize the discovery document");
        return http_send_error (req, OST_ERR_SERVER_ERROR, "internal error");
    }
    s_keep (algs_seen, text, strlen (text));
    json_decref (algs_seen);
    int rc = http_send (req, 200, "application/json", cache_control, NULL, 0, text, strlen (text));
    free (text);
    return rc;
}
