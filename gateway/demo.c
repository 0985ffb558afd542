/*  demo - a small relying party served by the gateway itself, in
 *  development mode only (OSTIARY_MODE=development), so that a newcomer can
 *  click through the whole OpenID Connect code flow:
 *    GET /demo           the page with "Log in with Ostiary"
 *    GET /demo/login     state, nonce and a PKCE verifier in an HttpOnly
 *                        cookie, then 302 to /authorize as the demo client
 *    GET /demo/callback  checks state and iss (RFC 9207), exchanges the code
 *                        on the bus (token.exchange, client_secret_basic),
 *                        verifies the ID token against the JWKS (signature,
 *                        iss, aud, exp, nonce: OpenID Connect Core §3.1.3.7)
 *                        and shows its claims and the userinfo answer.
 *  The gateway acts as the relying party's server side; it talks to
 *  token-svc and flow-svc over the bus as any other request would. In
 *  production mode these paths do not exist (404, as any unknown path). */
#include "form.h"
#include "jwks.h"
#include "jws.h"
#include "log.h"
#include "ops.h"
#include "pages.h"
#include "pkce.h"
#include "routes.h"
#include "secure.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  How long a login started at /demo may take.
#define DEMO_COOKIE_AGE 600
#define DEMO_SCOPE "openid profile email address phone"
#define DEMO_RANDOM_BYTES 32
//  Room for the client secret (a client secret is 43 characters).
#define DEMO_SECRET_MAX 256

static int
s_enabled (const gw_req_t *req)
{
    return strcmp (req->gw->cfg->mode, "development") == 0;
}

//  Production: the same answer as any path the route table does not know.
static int
s_not_found (gw_req_t *req)
{
    return pages_no_route (req, 404, NULL);
}

//  The demo client's secret, from OSTIARY_DEMO_CLIENT_SECRET or else the
//  first line of OSTIARY_DEMO_CLIENT_SECRET_FILE, read each time (ostiaryctl
//  clients seed-demo may write or rotate it after the start). 0 with the
//  secret in out (wipe it after use), -1 when there is none yet.
static int
s_secret (const config_t *cfg, char *out, size_t size)
{
    if (cfg->demo_client_secret[0]) {
        if (strlen (cfg->demo_client_secret) >= size)
            return -1;
        strcpy (out, cfg->demo_client_secret);
        return 0;
    }
    if (!cfg->demo_client_secret_file[0])
        return -1;
    FILE *file = fopen (cfg->demo_client_secret_file, "re");
    if (!file)
        return -1;
    int rc = fgets (out, (int)size, file) ? 0 : -1;
    fclose (file);
    if (rc == 0) {
        out[strcspn (out, "\r\n")] = '\0';
        if (!out[0])
            rc = -1;
    }
    return rc;
}

static int
s_configured (const gw_req_t *req)
{
    char secret[DEMO_SECRET_MAX];
    int rc = req->gw->cfg->demo_client_id[0] && s_secret (req->gw->cfg, secret, sizeof secret) == 0;
    secure_wipe (secret, sizeof secret);
    return rc;
}

int
demo_pending (const config_t *cfg)
{
    if (strcmp (cfg->mode, "development") != 0 || !cfg->demo_client_id[0] || cfg->demo_client_secret[0] ||
        !cfg->demo_client_secret_file[0])
        return 0;
    char secret[DEMO_SECRET_MAX];
    int rc = s_secret (cfg, secret, sizeof secret) != 0;
    secure_wipe (secret, sizeof secret);
    return rc;
}

//  The demo's pages speak the request's language too (Accept-Language):
//  every sentence is a catalogue message "demo.*", the relying party's own.
static void
s_head (html_t *body, gw_req_t *req, const char *title)
{
    html_raw (body, "<main class=\"wide\">\n<p class=\"brand\">");
    html_text (body, pages_msg (req, "demo.brand"));
    html_raw (body, "</p>\n<h1>");
    html_text (body, title);
    html_raw (body, "</h1>\n");
}

//  A refusal: the message of key, its placeholder name (or NULL) replaced
//  by value, and a way back to /demo.
static int
s_page_error (gw_req_t *req, const char *title_key, const char *key, const char *name, const char *value,
              pages_headers_t *headers)
{
    const char *title = pages_msg (req, title_key);
    html_t body;
    html_init (&body);
    s_head (&body, req, title);
    html_raw (&body, "<p class=\"error\" role=\"alert\">");
    html_text_with (&body, pages_msg (req, key), name, value ? value : "", "code");
    html_raw (&body, "</p>\n<p><a class=\"button\" href=\"");
    char url[2048];
    if (pages_url (req, "/demo", url, sizeof url) == 0)
        html_text (&body, url);
    html_raw (&body, "\">");
    html_text (&body, pages_msg (req, "flow.start_again"));
    html_raw (&body, "</a></p>\n</main>");
    pages_opts_t opts = {.headers = headers};
    int rc = pages_send (req, 400, title, &body, &opts);
    html_free (&body);
    return rc;
}

int
demo_page (gw_req_t *req)
{
    if (!s_enabled (req))
        return s_not_found (req);
    html_t body;
    html_init (&body);
    const char *title = pages_msg (req, "demo.title");
    s_head (&body, req, title);
    if (!s_configured (req)) {
        html_raw (&body, "<p class=\"error\">");
        html_text (&body, pages_msg (req, "demo.not_configured.how"));
        html_raw (&body, "</p>\n</main>");
    } else {
        html_raw (&body, "<p>");
        html_text (&body, pages_msg (req, "demo.lead"));
        html_raw (&body, "</p>\n<p>");
        html_text_with (&body, pages_msg (req, "demo.client"), "client", req->gw->cfg->demo_client_id,
                        "code");
        html_raw (&body, "<br>");
        html_text_with (&body, pages_msg (req, "demo.scopes"), "scopes", DEMO_SCOPE, "code");
        html_raw (&body, "</p>\n<a class=\"button\" id=\"login\" href=\"");
        char url[2048];
        if (pages_url (req, "/demo/login", url, sizeof url) == 0)
            html_text (&body, url);
        html_raw (&body, "\">");
        html_text_with (&body, pages_msg (req, "demo.login"), "product", pages_product (req), NULL);
        html_raw (&body, "</a>\n");
        //  The flows that do not start at a relying party.
        static const struct {
            const char *path;
            const char *key;
        } links[] = {
            {"/register", "flow.create_account"},
            {"/recover", "flow.forgot_password"},
            {"/account/verify-email", "demo.link.verify_email"},
            {"/account/totp", "demo.link.totp"},
        };
        html_raw (&body, "<ul class=\"scopes\">\n");
        for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
            if (pages_url (req, links[i].path, url, sizeof url) != 0)
                continue;
            html_raw (&body, "<li><a href=\"");
            html_text (&body, url);
            html_raw (&body, "\">");
            html_text (&body, pages_msg (req, links[i].key));
            html_raw (&body, "</a></li>\n");
        }
        html_raw (&body, "</ul>\n</main>");
    }
    pages_opts_t opts = {0};
    int rc = pages_send (req, 200, title, &body, &opts);
    html_free (&body);
    return rc;
}

int
demo_login (gw_req_t *req)
{
    if (!s_enabled (req))
        return s_not_found (req);
    pages_headers_t headers = {.count = 0};
    if (!s_configured (req))
        return s_page_error (req, "demo.not_configured.title", "demo.not_configured.text", NULL, NULL,
                             &headers);
    //  RFC 6749 §10.12 state, OpenID Connect Core §3.1.2.1 nonce, RFC 7636
    //  §4.1 code_verifier: each 256 random bits.
    char *state = secure_token (DEMO_RANDOM_BYTES);
    char *nonce = secure_token (DEMO_RANDOM_BYTES);
    char *verifier = secure_token (DEMO_RANDOM_BYTES);
    char challenge[PKCE_CHALLENGE_SIZE];
    char cookie[PAGES_MAX_COOKIE + 1];
    char *location = malloc (PAGES_MAX_LOCATION);
    char redirect_uri[2048];
    int ok = state && nonce && verifier && location && pkce_s256 (verifier, challenge) == 0 &&
             pages_url (req, "/demo/callback", redirect_uri, sizeof redirect_uri) == 0 &&
             pages_url (req, "/authorize", location, PAGES_MAX_LOCATION) == 0;
    //  The demo may show the other prompts: /demo/login?prompt=login etc.
    const char *prompt = NULL;
    if (ok && req->query) {
        form_limits_t limits = {.max_total = 256, .max_params = 4, .max_name = 16, .max_value = 32};
        form_status_t status;
        form_t *query = form_parse (req->query, strlen (req->query), &limits, &status);
        const char *p = form_get (query, "prompt", 1);
        static const char *const allowed[] = {"login", "consent", "select_account", "none"};
        for (size_t i = 0; p && i < sizeof allowed / sizeof allowed[0]; i++)
            if (strcmp (p, allowed[i]) == 0)
                prompt = allowed[i];
        form_destroy (&query);
    }
    if (ok) {
        const struct {
            const char *name;
            const char *value;
        } params[] = {
            {"response_type", "code"},
            {"client_id", req->gw->cfg->demo_client_id},
            {"redirect_uri", redirect_uri},
            {"scope", DEMO_SCOPE},
            {"state", state},
            {"nonce", nonce},
            {"code_challenge", challenge},
            {"code_challenge_method", "S256"},
            {"prompt", prompt},
        };
        for (size_t i = 0; ok && i < sizeof params / sizeof params[0]; i++)
            ok = !params[i].value || form_append_param (location, PAGES_MAX_LOCATION, i == 0 ? "?" : "&",
                                                        params[i].name, params[i].value) > 0;
        int n = snprintf (cookie, sizeof cookie, "%s.%s.%s", state, nonce, verifier);
        ok = ok && n > 0 && (size_t)n < sizeof cookie;
    }
    int rc;
    if (ok) {
        pages_set_cookie (&headers, req, COOKIE_DEMO, cookie, DEMO_COOKIE_AGE);
        rc = pages_redirect (req, 302, location, &headers);
    } else
        rc = pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "demo.why.start"),
                          &headers);
    secure_wipe (cookie, sizeof cookie);
    secure_free_str (&state);
    secure_free_str (&nonce);
    secure_free_str (&verifier);
    free (location);
    return rc;
}

//  The signing key of the ID token from the gateway's cached JWKS:
//  the key whose kid and alg are those of the header. NULL when none.
static EVP_PKEY *
s_key (gw_req_t *req, const json_t *header, jws_alg_t *alg)
{
    const char *kid = json_string_value (json_object_get (header, "kid"));
    const char *alg_name = json_string_value (json_object_get (header, "alg"));
    *alg = jws_alg_parse (alg_name);
    if (!kid || *alg == JWS_ALG_NONE)
        return NULL;
    int max_age = 0;
    bus_error_t error;
    jwks_snap_t *snap = jwks_cache_get (req->gw->jwks, req, &max_age, &error);
    if (!snap)
        return NULL;
    size_t len = 0;
    const char *bytes = jwks_snap_bytes (snap, &len);
    json_t *jwks = json_loadb (bytes, len, 0, NULL);
    jwks_snap_release (&snap);
    EVP_PKEY *pkey = NULL;
    size_t i;
    json_t *jwk;
    json_array_foreach (json_object_get (jwks, "keys"), i, jwk)
    {
        const char *k_kid = json_string_value (json_object_get (jwk, "kid"));
        const char *k_alg = json_string_value (json_object_get (jwk, "alg"));
        if (k_kid && strcmp (k_kid, kid) == 0 && (!k_alg || strcmp (k_alg, alg_name) == 0)) {
            pkey = jws_jwk_to_pkey (jwk);
            break;
        }
    }
    json_decref (jwks);
    return pkey;
}

//  OpenID Connect Core §3.1.3.7: the checks a client makes of an ID token.
//  NULL when it passes (claims in *claims_p, caller decrefs), else the
//  message key of why not.
static const char *
s_verify_id_token (gw_req_t *req, const char *id_token, const char *nonce, json_t **claims_p, char *alg_out,
                   size_t alg_size)
{
    *claims_p = NULL;
    jws_parts_t *parts = jws_parse (id_token);
    if (!parts)
        return "demo.why.not_jws";
    jws_alg_t alg;
    EVP_PKEY *pkey = s_key (req, parts->header, &alg);
    const char *why = NULL;
    const json_t *claims = parts->claims;
    const json_t *aud = json_object_get (claims, "aud");
    const char *client_id = req->gw->cfg->demo_client_id;
    int aud_ok = json_is_string (aud) && strcmp (json_string_value (aud), client_id) == 0;
    size_t i;
    json_t *item;
    json_array_foreach (aud, i, item)
    {
        if (json_is_string (item) && strcmp (json_string_value (item), client_id) == 0)
            aud_ok = 1;
    }
    const char *azp = json_string_value (json_object_get (claims, "azp"));
    json_int_t exp = json_integer_value (json_object_get (claims, "exp"));
    const char *got_nonce = json_string_value (json_object_get (claims, "nonce"));
    const char *iss = json_string_value (json_object_get (claims, "iss"));
    if (!pkey)
        why = "demo.why.no_key";
    //  §3.1.3.7 step 6: the signature, with the alg of the key.
    else if (jws_verify (parts, alg, pkey) != 1)
        why = "demo.why.signature";
    //  Step 2: iss is exactly our issuer.
    else if (!iss || strcmp (iss, req->gw->cfg->issuer) != 0)
        why = "demo.why.id_iss";
    //  Step 3: aud contains our client_id; step 5: azp, when present, is us.
    else if (!aud_ok || (azp && strcmp (azp, client_id) != 0))
        why = "demo.why.aud";
    //  Step 9: not expired (with the configured leeway).
    else if (exp + req->gw->cfg->clock_skew < (json_int_t)time (NULL))
        why = "demo.why.expired";
    //  Step 11: the nonce we sent, in constant time.
    else if (!got_nonce || !secure_streq (got_nonce, nonce))
        why = "demo.why.nonce";
    if (!why) {
        *claims_p = json_incref (parts->claims);
        snprintf (alg_out, alg_size, "%s", jws_alg_name (alg));
    }
    EVP_PKEY_free (pkey);
    jws_parts_destroy (&parts);
    return why;
}

static void
s_pre_json (html_t *body, const json_t *value)
{
    char *text = json_dumps (value, JSON_INDENT (2) | JSON_SORT_KEYS);
    html_raw (body, "<pre>");
    html_text (body, text ? text : "");
    html_raw (body, "</pre>\n");
    free (text);
}

//  Splits the demo cookie "state.nonce.verifier" (in place).
static int
s_split_cookie (char *cookie, char **state, char **nonce, char **verifier)
{
    *state = cookie;
    char *dot = strchr (cookie, '.');
    if (!dot)
        return -1;
    *dot = '\0';
    *nonce = dot + 1;
    dot = strchr (*nonce, '.');
    if (!dot)
        return -1;
    *dot = '\0';
    *verifier = dot + 1;
    return **state && **nonce && **verifier && !strchr (*verifier, '.') ? 0 : -1;
}

int
demo_callback (gw_req_t *req)
{
    if (!s_enabled (req))
        return s_not_found (req);
    pages_headers_t headers = {.count = 0};
    //  One use only: the cookie goes whatever happens next.
    pages_set_cookie (&headers, req, COOKIE_DEMO, "", 0);
    if (!s_configured (req))
        return s_page_error (req, "demo.not_configured.title", "demo.not_configured.text", NULL, NULL,
                             &headers);
    char cookie[PAGES_MAX_COOKIE + 1];
    char *state, *nonce, *verifier;
    if (pages_get_cookie (req, COOKIE_DEMO, cookie, sizeof cookie) != 0 ||
        s_split_cookie (cookie, &state, &nonce, &verifier) != 0)
        return s_page_error (req, "demo.no_login.title", "demo.no_login.text", NULL, NULL, &headers);
    form_limits_t limits = {.max_total = 8192, .max_params = 16, .max_name = 64, .max_value = 4096};
    form_status_t status;
    const char *raw = req->query ? req->query : "";
    form_t *query = form_parse (raw, strlen (raw), &limits, &status);
    const char *got_state = form_get (query, "state", 0);
    const char *iss = form_get (query, "iss", 0);
    const char *error = form_get (query, "error", 0);
    const char *code = form_get (query, "code", 0);
    int rc;
    json_t *tokens = NULL, *id_claims = NULL, *userinfo = NULL, *claims_reply = NULL;
    token_exchange_out_t issued = {0};
    token_userinfo_out_t who = {0};
    flow_user_claims_out_t released = {0};
    shape_user_claims_t claims = {0};
    char unfit[SCHEMA_WHY_MAX];
    char alg[16] = "";
    //  why: the message key of a failure; why_value fills its {value}.
    const char *why = NULL;
    const char *why_value = NULL;
    if (!query) {
        why = "demo.why.form";
        why_value = form_status_code (status);
    }
    //  RFC 6749 §10.12: the state we sent, else a forged response (CSRF).
    else if (!got_state || !secure_streq (got_state, state))
        why = "demo.why.state";
    //  RFC 9207 §2.4: iss must be our issuer (mix-up attacks).
    else if (!iss || strcmp (iss, req->gw->cfg->issuer) != 0)
        why = "demo.why.iss";
    else if (error) {
        //  The error code is what the relying party acts on; the English
        //  error_description is for its developers (the gateway's log).
        log_info ("demo: the authorization response is an error: %.64s", error);
        rc = s_page_error (req, "demo.refused.title", "demo.refused.text", "value", error, &headers);
        form_destroy (&query);
        secure_wipe (cookie, sizeof cookie);
        return rc;
    } else if (!code)
        why = "demo.why.no_code";
    char redirect_uri[2048];
    if (!why && pages_url (req, "/demo/callback", redirect_uri, sizeof redirect_uri) != 0)
        why = "demo.why.issuer_long";
    bus_error_t bus_error;
    if (!why) {
        //  RFC 6749 §4.1.3 with client_secret_basic (§2.3.1) and the PKCE
        //  verifier (RFC 7636 §4.5).
        json_t *form = json_pack ("{s:s,s:s,s:s,s:s}", "grant_type", "authorization_code", "code", code,
                                  "redirect_uri", redirect_uri, "code_verifier", verifier);
        char secret[DEMO_SECRET_MAX];
        json_t *basic =
            s_secret (req->gw->cfg, secret, sizeof secret) == 0
                ? json_pack ("{s:s,s:s}", "client_id", req->gw->cfg->demo_client_id, "client_secret", secret)
                : NULL;
        secure_wipe (secret, sizeof secret);
        token_exchange_in_t in = {.form = form, .basic = basic, .client_ip = http_client_ip (req)};
        json_t *body = form && basic ? token_exchange_in_pack (&in) : NULL;
        if (!body)
            why = "demo.why.memory";
        else if (http_bus_call (req, "token.exchange", body, &tokens, &bus_error) != 0) {
            why = "demo.why.exchange";
            why_value = bus_error.code;
        } else if (token_exchange_out_unpack (tokens, &issued, unfit, sizeof unfit) != 0) {
            log_error ("demo: token.exchange answered something unexpected: %s", unfit);
            why = "demo.why.token_response";
        }
        if (basic)
            secure_wipe ((char *)json_string_value (json_object_get (basic, "client_secret")),
                         strlen (json_string_value (json_object_get (basic, "client_secret"))));
        json_decref (body);
        json_decref (form);
        json_decref (basic);
    }
    //  token.exchange answers an ID token with the openid scope, which the
    //  demo always asks for.
    if (!why && !issued.id_token)
        why = "demo.why.no_id_token";
    if (!why)
        why = s_verify_id_token (req, issued.id_token, nonce, &id_claims, alg, sizeof alg);
    if (!why) {
        token_userinfo_in_t in = {.access_token = issued.access_token};
        json_t *body = token_userinfo_in_pack (&in);
        if (http_bus_call (req, "token.userinfo", body, &userinfo, &bus_error) != 0)
            why = "demo.why.userinfo";
        else if (token_userinfo_out_unpack (userinfo, &who, unfit, sizeof unfit) != 0) {
            log_error ("demo: token.userinfo answered something unexpected: %s", unfit);
            why = "demo.why.userinfo_response";
        }
        json_decref (body);
    }
    if (!why) {
        flow_user_claims_in_t in = {.sub = who.sub, .scopes = who.scopes};
        json_t *body = flow_user_claims_in_pack (&in);
        if (http_bus_call (req, "flow.user_claims", body, &claims_reply, &bus_error) != 0)
            why = "demo.why.claims";
        else if (flow_user_claims_out_unpack (claims_reply, &released, unfit, sizeof unfit) != 0 ||
                 shape_user_claims_unpack (released.claims, &claims, unfit, sizeof unfit) != 0) {
            log_error ("demo: flow.user_claims answered something unexpected: %s", unfit);
            why = "demo.why.claims_response";
        }
        json_decref (body);
    }
    if (why)
        rc = s_page_error (req, "demo.failed.title", why, "value", why_value, &headers);
    else {
        html_t page;
        html_init (&page);
        const char *name = json_string_value (json_object_get (id_claims, "name"));
        if (!name)
            name = claims.name;
        const char *title = pages_msg (req, "flow.signed_in.title");
        s_head (&page, req, title);
        html_raw (&page, "<p id=\"welcome\">");
        html_text_with (&page, pages_msg (req, "demo.welcome"), "name",
                        name ? name : json_string_value (json_object_get (id_claims, "sub")), "strong");
        html_raw (&page, " ");
        html_text_with (&page, pages_msg (req, "demo.verified"), "alg", alg, "code");
        html_raw (&page, "</p>\n<h2>");
        html_text (&page, pages_msg (req, "demo.id_token_claims"));
        html_raw (&page, "</h2>\n<div id=\"id-token-claims\">");
        s_pre_json (&page, id_claims);
        html_raw (&page, "</div>\n<h2>");
        html_text (&page, pages_msg (req, "demo.userinfo"));
        html_raw (&page, "</h2>\n<div id=\"userinfo\">");
        s_pre_json (&page, released.claims);
        html_raw (&page, "</div>\n<p><small>");
        html_text_with (&page, pages_msg (req, "demo.token_type"), "type", issued.token_type, "code");
        html_raw (&page, "<br>");
        html_text_with (&page, pages_msg (req, "demo.scopes"), "scopes", issued.scope, "code");
        html_raw (&page, "</small></p>\n<p><a class=\"button\" href=\"");
        char url[2048];
        if (pages_url (req, "/demo", url, sizeof url) == 0)
            html_text (&page, url);
        html_raw (&page, "\">");
        html_text (&page, pages_msg (req, "flow.start_again"));
        html_raw (&page, "</a></p>\n");
        //  RP-Initiated Logout 1.0 §2: the relying party sends the user to
        //  end_session_endpoint with the ID token as hint (logout.c).
        char logout[2048];
        if (pages_url (req, "/logout?id_token_hint=", logout, sizeof logout) == 0 &&
            strlen (logout) + strlen (issued.id_token) < sizeof logout) {
            strcat (logout, issued.id_token);
            html_raw (&page, "<p><a class=\"button\" id=\"sign-out\" href=\"");
            html_text (&page, logout);
            html_raw (&page, "\">");
            html_text (&page, pages_msg (req, "logout.confirm.yes"));
            html_raw (&page, "</a></p>\n");
        }
        html_raw (&page, "</main>");
        pages_opts_t opts = {.headers = &headers};
        rc = pages_send (req, 200, title, &page, &opts);
        html_free (&page);
    }
    json_decref (tokens);
    json_decref (id_claims);
    json_decref (userinfo);
    json_decref (claims_reply);
    form_destroy (&query);
    secure_wipe (cookie, sizeof cookie);
    return rc;
}
