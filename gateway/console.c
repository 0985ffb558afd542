/*  console - the admin console at /admin (docs/admin/console.md): pages
 *  rendered by the gateway like the login pages, for an admin signed in
 *  through Ostiary's own authorization code flow.
 *
 *  The console is a public client of Ostiary (OSTIARY_ADMIN_CLIENT_ID,
 *  PKCE S256, redirect URI <issuer>/admin/callback, scopes openid and
 *  admin). Its session is a cookie sealed with OSTIARY_CONSOLE_KEY
 *  (AES-256-GCM, seal.h): the admin's access and refresh tokens, the access
 *  token's expiry, a CSRF token and who signed in. Any gateway replica with
 *  the same key opens it; nothing is kept in a gateway's memory. The cookie
 *  is HttpOnly, SameSite=Strict, Path=/admin, Secure with an https issuer;
 *  tokens never appear in a URL or a log line.
 *
 *  Every page acts through token.admin_call or flow.admin_call with the
 *  admin's access token, as the admin API does: the services verify the
 *  token and the admin role at every call (proto/bus.md, "Acting for an
 *  admin"). Every form carries the session's CSRF token; forms that change
 *  a client or a setting carry the version they were rendered from, and a
 *  stale one is refused by the service with nothing changed. */
#include "b64url.h"
#include "form.h"
#include "i18n.h"
#include "log.h"
#include "ops.h"
#include "pages.h"
#include "pkce.h"
#include "routes.h"
#include "seal.h"
#include "secure.h"
#include "settings_table.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define COOKIE_CONSOLE "ostiary_console"
#define COOKIE_CONSOLE_LOGIN "ostiary_console_login"
#define CONSOLE_PATH "/admin"
#define CONSOLE_SCOPE "openid admin"
//  How long a sign-in started at /admin/login may take.
#define LOGIN_COOKIE_AGE 600
//  The sealed session must fit one Set-Cookie header (pages.h).
#define SESSION_COOKIE_MAX 3800
//  The access token is refreshed when it has less than this left.
#define REFRESH_MARGIN 30
#define ID_MAX 64
#define PAGE_LIMIT 50
//  A client-filtered audit page reads pages of this many events, at most
//  this many of them (the services filter by event, subject and time only).
#define AUDIT_SCAN_LIMIT 200
#define AUDIT_SCAN_PAGES 10
#define AUDIT_LIMIT 50

typedef struct {
    gw_req_t *req;
    pages_headers_t headers;
    json_t *session; //  {a: access, r: refresh, e: expiry, c: csrf, s: sub, u: username}
    const char *section;
} s_ctx_t;

//  ------------------------------------------------------------- helpers

static const char *
s_msg (s_ctx_t *ctx, const char *key)
{
    return pages_msg (ctx->req, key);
}

static int
s_enabled (const gw_req_t *req)
{
    return req->gw->cfg->console_key[0] && req->gw->cfg->admin_client_id[0];
}

//  The key that seals sessions, derived from OSTIARY_CONSOLE_KEY.
static int
s_key (const gw_req_t *req, unsigned char key[SEAL_KEY_BYTES])
{
    unsigned char master[SEAL_KEY_BYTES + 1];
    const char *text = req->gw->cfg->console_key;
    long n = b64url_decode (text, strlen (text), master, sizeof master);
    int rc = n == SEAL_KEY_BYTES && seal_derive (master, "console session", key) == 0 ? 0 : -1;
    secure_wipe (master, sizeof master);
    return rc;
}

static void
s_cookie (s_ctx_t *ctx, const char *name, const char *value, long max_age, const char *same_site)
{
    char *line = malloc (SESSION_COOKIE_MAX + 200);
    if (!line)
        return;
    char age[32] = "";
    if (max_age >= 0)
        snprintf (age, sizeof age, "; Max-Age=%ld", max_age);
    int https = strncmp (ctx->req->gw->cfg->issuer, "https://", 8) == 0;
    snprintf (line, SESSION_COOKIE_MAX + 200, "%s=%s; Path=" CONSOLE_PATH "%s; HttpOnly; SameSite=%s%s", name,
              value, age, same_site, https ? "; Secure" : "");
    pages_headers_add (&ctx->headers, "Set-Cookie", line);
    secure_wipe (line, strlen (line));
    free (line);
}

static int
s_session_store (s_ctx_t *ctx)
{
    unsigned char key[SEAL_KEY_BYTES];
    char *text = json_dumps (ctx->session, JSON_COMPACT);
    char *sealed =
        text && s_key (ctx->req, key) == 0 ? seal_encrypt (key, COOKIE_CONSOLE, text, strlen (text)) : NULL;
    secure_wipe (key, sizeof key);
    if (text) {
        secure_wipe (text, strlen (text));
        free (text);
    }
    int rc = -1;
    if (sealed && strlen (sealed) <= SESSION_COOKIE_MAX) {
        //  A browser-session cookie: the refresh token bounds how long it
        //  can be used.
        s_cookie (ctx, COOKIE_CONSOLE, sealed, -1, "Strict");
        rc = 0;
    } else if (sealed)
        log_error ("console: the session does not fit a cookie");
    secure_free_str (&sealed);
    return rc;
}

static void
s_session_drop (s_ctx_t *ctx)
{
    s_cookie (ctx, COOKIE_CONSOLE, "", 0, "Strict");
    json_decref (ctx->session);
    ctx->session = NULL;
}

static const char *
s_get (const json_t *obj, const char *key)
{
    return json_string_value (json_object_get (obj, key));
}

//  The session of the request's cookie, or NULL.
static json_t *
s_session_load (gw_req_t *req)
{
    char *cookie = malloc (SESSION_COOKIE_MAX + 1);
    unsigned char key[SEAL_KEY_BYTES];
    unsigned char *pt = NULL;
    size_t len = 0;
    json_t *session = NULL;
    if (cookie && pages_get_long_cookie (req, COOKIE_CONSOLE, cookie, SESSION_COOKIE_MAX + 1) == 0 &&
        s_key (req, key) == 0 && seal_decrypt (key, COOKIE_CONSOLE, cookie, &pt, &len) == 0) {
        session = json_loadb ((const char *)pt, len, 0, NULL);
        if (session && !(s_get (session, "a") && s_get (session, "c") && s_get (session, "s") &&
                         json_is_integer (json_object_get (session, "e")))) {
            json_decref (session);
            session = NULL;
        }
    }
    secure_wipe (key, sizeof key);
    if (pt) {
        secure_wipe (pt, len);
        free (pt);
    }
    free (cookie);
    return session;
}

//  RFC 6749 §6: a new access token from the refresh token when the one in
//  the session is about to expire. 0 (the session still holds a live
//  token), -1 when it could not be refreshed.
static int
s_refresh (s_ctx_t *ctx)
{
    json_int_t expires = json_integer_value (json_object_get (ctx->session, "e"));
    if (expires - REFRESH_MARGIN > (json_int_t)time (NULL))
        return 0;
    const char *refresh = s_get (ctx->session, "r");
    if (!refresh)
        return -1;
    json_t *form = json_pack ("{s:s,s:s,s:s}", "grant_type", "refresh_token", "refresh_token", refresh,
                              "client_id", ctx->req->gw->cfg->admin_client_id);
    token_exchange_in_t in = {.form = form, .client_ip = http_client_ip (ctx->req)};
    json_t *body = form ? token_exchange_in_pack (&in) : NULL;
    json_t *reply = NULL;
    bus_error_t e;
    int rc = body && http_bus_call (ctx->req, "token.exchange", body, &reply, &e) == 0 ? 0 : -1;
    json_decref (body);
    json_decref (form);
    const char *access = s_get (reply, "access_token");
    if (rc == 0 && access) {
        json_object_set_new (ctx->session, "a", json_string (access));
        if (s_get (reply, "refresh_token"))
            json_object_set_new (ctx->session, "r", json_string (s_get (reply, "refresh_token")));
        json_object_set_new (ctx->session, "e",
                             json_integer ((json_int_t)time (NULL) +
                                           json_integer_value (json_object_get (reply, "expires_in"))));
        rc = s_session_store (ctx);
    } else {
        log_info ("console: the session's refresh failed (%s)", rc == 0 ? "no access token" : e.code);
        rc = -1;
    }
    json_decref (reply);
    return rc;
}

//  The console URL of path (an absolute URL on the issuer).
static void
s_url (s_ctx_t *ctx, const char *path, char *out, size_t size)
{
    if (pages_url (ctx->req, path, out, size) != 0)
        out[0] = '\0';
}

static void
s_href (html_t *body, s_ctx_t *ctx, const char *path)
{
    char url[2048];
    s_url (ctx, path, url, sizeof url);
    html_text (body, url);
}

//  Appends value to a path or query under construction, percent-encoded.
static void
s_append_enc (char *out, size_t size, const char *value)
{
    if (form_encode_append (out, size, value) <= 0)
        out[0] = '\0';
}

//  ------------------------------------------------------------- page frame

static void
s_nav_link (html_t *body, s_ctx_t *ctx, const char *section, const char *path, const char *key)
{
    html_raw (body, "<a href=\"");
    s_href (body, ctx, path);
    html_raw (body, "\"");
    if (ctx->section && !strcmp (ctx->section, section))
        html_raw (body, " aria-current=\"page\"");
    html_raw (body, " id=\"nav-");
    html_raw (body, section);
    html_raw (body, "\">");
    html_text (body, s_msg (ctx, key));
    html_raw (body, "</a>\n");
}

//  The start of a form posting to path, with the session's CSRF token.
static void
s_form (html_t *body, s_ctx_t *ctx, const char *path, const char *klass)
{
    char action[2048];
    s_url (ctx, path, action, sizeof action);
    html_raw (body, "<form method=\"post\" action=\"");
    html_text (body, action);
    html_raw (body, "\"");
    if (klass) {
        html_raw (body, " class=\"");
        html_raw (body, klass);
        html_raw (body, "\"");
    }
    html_raw (body, ">\n<input type=\"hidden\" name=\"csrf\" value=\"");
    html_text (body, s_get (ctx->session, "c"));
    html_raw (body, "\">\n");
}

static void
s_open (html_t *body, s_ctx_t *ctx, const char *title)
{
    pages_open (body, ctx->req, "console", NULL);
    if (ctx->session) {
        html_raw (body, "<nav class=\"console\" aria-label=\"");
        html_text (body, s_msg (ctx, "console.title"));
        html_raw (body, "\">\n");
        s_nav_link (body, ctx, "clients", CONSOLE_PATH "/clients", "console.nav.clients");
        s_nav_link (body, ctx, "users", CONSOLE_PATH "/users", "console.nav.users");
        s_nav_link (body, ctx, "settings", CONSOLE_PATH "/settings", "console.nav.settings");
        s_nav_link (body, ctx, "keys", CONSOLE_PATH "/keys", "console.nav.keys");
        s_nav_link (body, ctx, "audit", CONSOLE_PATH "/audit", "console.nav.audit");
        s_form (body, ctx, CONSOLE_PATH "/logout", NULL);
        html_raw (body, "<small id=\"signed-in-as\">");
        const char *who = s_get (ctx->session, "u");
        html_text_with (body, s_msg (ctx, "console.signed_in_as"), "user",
                        who ? who : s_get (ctx->session, "s"), "strong");
        html_raw (body, "</small>\n<button type=\"submit\" class=\"secondary\" id=\"sign-out\">");
        html_text (body, s_msg (ctx, "console.sign_out"));
        html_raw (body, "</button>\n</form>\n</nav>\n");
    }
    if (title) {
        html_raw (body, "<h1>");
        html_text (body, title);
        html_raw (body, "</h1>\n");
    }
}

static int
s_send (s_ctx_t *ctx, int status, const char *title, html_t *body)
{
    html_raw (body, "</main>");
    pages_opts_t opts = {.headers = &ctx->headers};
    int rc = pages_send (ctx->req, status, title, body, &opts);
    html_free (body);
    return rc;
}

static void
s_notice (html_t *body, const char *text, int error)
{
    html_raw (body, error ? "<p class=\"error\" role=\"alert\" id=\"console-error\">"
                          : "<p class=\"notice\" role=\"status\" id=\"console-notice\">");
    html_text (body, text);
    html_raw (body, "</p>\n");
}

//  A page with a title and a message, and a link to sign in when signin.
static int
s_message_page (s_ctx_t *ctx, int status, const char *title_key, const char *text_key, int signin)
{
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_msg (ctx, title_key));
    s_notice (&body, s_msg (ctx, text_key), status >= 400);
    if (signin) {
        html_raw (&body, "<p><a class=\"button\" id=\"sign-in\" href=\"");
        s_href (&body, ctx, CONSOLE_PATH "/login");
        html_raw (&body, "\">");
        html_text (&body, s_msg (ctx, "console.sign_in"));
        html_raw (&body, "</a></p>\n");
    }
    return s_send (ctx, status, s_msg (ctx, title_key), &body);
}

//  A 303 to a console path (after a POST, RFC 9110 §15.4.4).
static int
s_see_other (s_ctx_t *ctx, const char *path)
{
    char url[PAGES_MAX_LOCATION];
    s_url (ctx, path, url, sizeof url);
    return pages_redirect (ctx->req, 303, url, &ctx->headers);
}

//  ------------------------------------------------------------- bus calls

//  token.admin_call or flow.admin_call of op with body (consumed), with the
//  admin's access token: 0 and *result (a new reference), or -1 and *e.
static int
s_call (s_ctx_t *ctx, const char *op, json_t *body, json_t **result, bus_error_t *e)
{
    *result = NULL;
    //  The envelope of the op's own service: each verifies the admin itself.
    const char *envelope = !strncmp (op, "flow.", 5)   ? "flow.admin_call"
                           : !strncmp (op, "keys.", 5) ? "keys.admin_call"
                                                       : "token.admin_call";
    token_admin_call_in_t in = {.admin_token = s_get (ctx->session, "a"), .op = op, .body = body};
    json_t *call = body && in.admin_token ? token_admin_call_in_pack (&in) : NULL;
    json_decref (body);
    json_t *reply = NULL;
    int rc = -1;
    if (!call) {
        memset (e, 0, sizeof *e);
        e->err = OST_ERR_SERVER_ERROR;
        snprintf (e->code, sizeof e->code, "server_error");
        snprintf (e->description, sizeof e->description, "the request could not be built");
    } else
        rc = http_bus_call (ctx->req, envelope, call, &reply, e);
    json_decref (call);
    if (rc == 0) {
        *result = json_incref (json_object_get (reply, "result"));
        json_decref (reply);
    }
    return rc;
}

//  The page of a failed call that no form shows: the session is over (the
//  token was refused), the admin is no admin any more, or the service's
//  error.
static int
s_fail (s_ctx_t *ctx, const bus_error_t *e)
{
    if (e->err == OST_ERR_INVALID_TOKEN) {
        s_session_drop (ctx);
        return s_message_page (ctx, 401, "console.expired.title", "console.expired.text", 1);
    }
    if (e->err == OST_ERR_FORBIDDEN || e->err == OST_ERR_INSUFFICIENT_SCOPE) {
        s_session_drop (ctx);
        return s_message_page (ctx, 403, "console.not_admin.title", "console.not_admin.text", 0);
    }
    if (e->err == OST_ERR_NOT_FOUND)
        return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    return pages_bus_error (ctx->req, e, &ctx->headers);
}

//  A form the user sent: one that is refused by a service shows this
//  sentence with the service's description.
static void
s_refusal (html_t *body, s_ctx_t *ctx, const bus_error_t *e)
{
    html_raw (body, "<p class=\"error\" role=\"alert\" id=\"console-error\">");
    if (e->err == OST_ERR_CONFLICT)
        html_text (body, s_msg (ctx, "console.stale"));
    else {
        html_text (body, s_msg (ctx, "console.refused"));
        html_raw (body, " <code>");
        html_text (body, e->description);
        html_raw (body, "</code>");
    }
    html_raw (body, "</p>\n");
}

//  ------------------------------------------------------------- sign-in

//  GET /admin/login: state and a PKCE verifier in a short cookie, then
//  /authorize as the admin client. prompt=login: the console always asks
//  for the credentials again, so the login flow runs its second factor for
//  an admin who enrolled one.
static int
s_login (s_ctx_t *ctx)
{
    gw_req_t *req = ctx->req;
    char *state = secure_token (32);
    char *verifier = secure_token (32);
    char challenge[PKCE_CHALLENGE_SIZE], redirect_uri[2048], cookie[PAGES_MAX_COOKIE + 1];
    char *location = malloc (PAGES_MAX_LOCATION);
    int ok = state && verifier && location && pkce_s256 (verifier, challenge) == 0 &&
             pages_url (req, CONSOLE_PATH "/callback", redirect_uri, sizeof redirect_uri) == 0 &&
             pages_url (req, "/authorize", location, PAGES_MAX_LOCATION) == 0;
    const struct {
        const char *name;
        const char *value;
    } params[] = {
        {"response_type", "code"},
        {"client_id", req->gw->cfg->admin_client_id},
        {"redirect_uri", redirect_uri},
        {"scope", CONSOLE_SCOPE},
        {"state", state},
        {"code_challenge", challenge},
        {"code_challenge_method", "S256"},
        {"prompt", "login"},
        {"ui_locales", req->lang},
    };
    for (size_t i = 0; ok && i < sizeof params / sizeof params[0]; i++)
        ok = !params[i].value || form_append_param (location, PAGES_MAX_LOCATION, i == 0 ? "?" : "&",
                                                    params[i].name, params[i].value) > 0;
    int n = ok ? snprintf (cookie, sizeof cookie, "%s.%s", state, verifier) : -1;
    int rc;
    if (ok && n > 0 && (size_t)n < sizeof cookie) {
        s_cookie (ctx, COOKIE_CONSOLE_LOGIN, cookie, LOGIN_COOKIE_AGE, "Lax");
        rc = pages_redirect (req, 302, location, &ctx->headers);
    } else
        rc = pages_error (req, 500, s_msg (ctx, "error.title"), s_msg (ctx, "console.login_failed"),
                          &ctx->headers);
    secure_wipe (cookie, sizeof cookie);
    secure_free_str (&state);
    secure_free_str (&verifier);
    free (location);
    return rc;
}

//  Revokes a refresh token of the console's (RFC 7009), whatever its state.
static void
s_revoke (s_ctx_t *ctx, const char *token)
{
    if (!token)
        return;
    json_t *form = json_pack ("{s:s,s:s,s:s}", "token", token, "token_type_hint", "refresh_token",
                              "client_id", ctx->req->gw->cfg->admin_client_id);
    token_revoke_in_t in = {.form = form, .client_ip = http_client_ip (ctx->req)};
    json_t *body = form ? token_revoke_in_pack (&in) : NULL;
    json_t *reply = NULL;
    bus_error_t e;
    if (body && http_bus_call (ctx->req, "token.revoke", body, &reply, &e) != 0)
        log_info ("console: token.revoke failed (%s)", e.code);
    json_decref (reply);
    json_decref (body);
    json_decref (form);
}

//  GET /admin/callback: the authorization response (RFC 6749 §4.1.2,
//  RFC 9207 iss), the code exchanged with the PKCE verifier, the admin
//  checked (token.admin_check), then the session cookie.
static int
s_callback (s_ctx_t *ctx)
{
    gw_req_t *req = ctx->req;
    s_cookie (ctx, COOKIE_CONSOLE_LOGIN, "", 0, "Lax");
    char cookie[PAGES_MAX_COOKIE + 1];
    char *dot = NULL;
    if (pages_get_cookie (req, COOKIE_CONSOLE_LOGIN, cookie, sizeof cookie) != 0 ||
        !(dot = strchr (cookie, '.')))
        return s_message_page (ctx, 400, "console.login_failed.title", "console.login_failed", 1);
    *dot = '\0';
    const char *state = cookie, *verifier = dot + 1;
    form_limits_t limits = {.max_total = 8192, .max_params = 16, .max_name = 64, .max_value = 4096};
    form_status_t status;
    const char *raw = req->query ? req->query : "";
    form_t *query = form_parse (raw, strlen (raw), &limits, &status);
    const char *got_state = form_get (query, "state", 0);
    const char *iss = form_get (query, "iss", 0);
    const char *code = form_get (query, "code", 0);
    char redirect_uri[2048];
    json_t *tokens = NULL, *check = NULL, *user = NULL;
    int rc = -1;
    bus_error_t e;
    //  RFC 6749 §10.12 state; RFC 9207 §2.4 iss (mix-up).
    if (!query || !got_state || !secure_streq (got_state, state) || !iss ||
        strcmp (iss, req->gw->cfg->issuer) != 0 || !code ||
        pages_url (req, CONSOLE_PATH "/callback", redirect_uri, sizeof redirect_uri) != 0)
        rc = s_message_page (ctx, 400, "console.login_failed.title", "console.login_failed", 1);
    if (rc < 0) {
        json_t *form = json_pack ("{s:s,s:s,s:s,s:s,s:s}", "grant_type", "authorization_code", "code", code,
                                  "redirect_uri", redirect_uri, "code_verifier", verifier, "client_id",
                                  req->gw->cfg->admin_client_id);
        token_exchange_in_t in = {.form = form, .client_ip = http_client_ip (req)};
        json_t *body = form ? token_exchange_in_pack (&in) : NULL;
        if (!body || http_bus_call (req, "token.exchange", body, &tokens, &e) != 0 ||
            !s_get (tokens, "access_token")) {
            log_info ("console: the code exchange failed (%s)", body ? e.code : "no memory");
            rc = s_message_page (ctx, 400, "console.login_failed.title", "console.login_failed", 1);
        }
        json_decref (body);
        json_decref (form);
    }
    if (rc < 0) {
        //  Who signed in, and whether they may act as an admin now.
        token_admin_check_in_t in = {.access_token = s_get (tokens, "access_token")};
        json_t *body = token_admin_check_in_pack (&in);
        if (!body || http_bus_call (req, "token.admin_check", body, &check, &e) != 0) {
            s_revoke (ctx, s_get (tokens, "refresh_token"));
            if (!body)
                rc = pages_error (req, 500, s_msg (ctx, "error.title"), s_msg (ctx, "console.login_failed"),
                                  &ctx->headers);
            else if (e.err == OST_ERR_FORBIDDEN || e.err == OST_ERR_INSUFFICIENT_SCOPE ||
                     e.err == OST_ERR_INVALID_TOKEN)
                rc = s_message_page (ctx, 403, "console.not_admin.title", "console.not_admin.text", 0);
            else
                rc = pages_bus_error (req, &e, &ctx->headers);
        }
        json_decref (body);
    }
    if (rc < 0) {
        char *csrf = secure_token (32);
        ctx->session =
            json_pack ("{s:s,s:s?,s:I,s:s,s:s}", "a", s_get (tokens, "access_token"), "r",
                       s_get (tokens, "refresh_token"), "e",
                       (json_int_t)time (NULL) + json_integer_value (json_object_get (tokens, "expires_in")),
                       "c", csrf ? csrf : "", "s", s_get (check, "sub"));
        secure_free_str (&csrf);
        //  The admin's username, shown in the navigation bar.
        if (ctx->session &&
            s_call (ctx, "flow.user_get", json_pack ("{s:s}", "sub", s_get (check, "sub")), &user, &e) == 0) {
            const char *username = s_get (json_object_get (user, "user"), "username");
            if (username)
                json_object_set_new (ctx->session, "u", json_string (username));
        }
        if (!ctx->session || s_session_store (ctx) != 0)
            rc = pages_error (req, 500, s_msg (ctx, "error.title"), s_msg (ctx, "console.login_failed"),
                              &ctx->headers);
        else {
            char url[PAGES_MAX_LOCATION];
            s_url (ctx, CONSOLE_PATH "/clients", url, sizeof url);
            rc = pages_redirect (req, 302, url, &ctx->headers);
        }
    }
    json_decref (tokens);
    json_decref (check);
    json_decref (user);
    form_destroy (&query);
    secure_wipe (cookie, sizeof cookie);
    return rc;
}

//  POST /admin/logout: the refresh token revoked, the cookie dropped.
static int
s_logout (s_ctx_t *ctx)
{
    s_revoke (ctx, s_get (ctx->session, "r"));
    s_session_drop (ctx);
    return s_message_page (ctx, 200, "console.signed_out.title", "console.signed_out.text", 1);
}

//  ------------------------------------------------------------- forms

static form_t *
s_read_form (s_ctx_t *ctx)
{
    form_limits_t limits = {.max_total = 65536, .max_params = 64, .max_name = 64, .max_value = 32768};
    return pages_read_html_form (ctx->req, &limits);
}

//  RFC 6749 §10.12-style CSRF check of every console form: the token of the
//  session, in constant time.
static int
s_csrf_ok (s_ctx_t *ctx, const form_t *form)
{
    const char *sent = form_get (form, "csrf", 0);
    const char *mine = s_get (ctx->session, "c");
    return sent && mine && *mine && secure_streq (sent, mine);
}

//  A query parameter of the request, or NULL (q is the parsed query).
static const char *
s_param (const form_t *q, const char *name)
{
    return q ? form_get (q, name, 1) : NULL;
}

static form_t *
s_query (s_ctx_t *ctx)
{
    form_limits_t limits = {.max_total = 4096, .max_params = 16, .max_name = 32, .max_value = 512};
    form_status_t status;
    const char *raw = ctx->req->query ? ctx->req->query : "";
    return form_parse (raw, strlen (raw), &limits, &status);
}

//  Lines (or, with words, white-space separated words) of text as a JSON
//  array of strings; empty ones dropped.
static json_t *
s_list (const char *text, int words)
{
    json_t *list = json_array ();
    const char *seps = words ? " \t\r\n," : "\r\n";
    const char *p = text ? text : "";
    while (list && *p) {
        size_t skip = strspn (p, seps);
        p += skip;
        size_t n = strcspn (p, seps);
        while (!words && n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        const char *start = p;
        while (!words && n > 0 && (*start == ' ' || *start == '\t')) {
            start++;
            n--;
        }
        if (n > 0)
            json_array_append_new (list, json_stringn (start, n));
        p += strcspn (p, seps);
    }
    return list;
}

static void
s_join (html_t *body, const json_t *list, const char *sep)
{
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item)
    {
        if (i)
            html_raw (body, sep);
        html_text (body, json_string_value (item));
    }
}

static void
s_label (html_t *body, s_ctx_t *ctx, const char *id, const char *key)
{
    html_raw (body, "<label for=\"");
    html_raw (body, id);
    html_raw (body, "\">");
    html_text (body, s_msg (ctx, key));
    html_raw (body, "</label>\n");
}

static void
s_input (html_t *body, s_ctx_t *ctx, const char *id, const char *key, const char *type, const char *value)
{
    s_label (body, ctx, id, key);
    html_raw (body, "<input type=\"");
    html_raw (body, type);
    html_raw (body, "\" id=\"");
    html_raw (body, id);
    html_raw (body, "\" name=\"");
    html_raw (body, id);
    html_raw (body, "\" value=\"");
    html_text (body, value ? value : "");
    html_raw (body, "\">\n");
}

static void
s_textarea (html_t *body, s_ctx_t *ctx, const char *id, const char *key, const json_t *list, const char *text)
{
    s_label (body, ctx, id, key);
    html_raw (body, "<textarea id=\"");
    html_raw (body, id);
    html_raw (body, "\" name=\"");
    html_raw (body, id);
    html_raw (body, "\" rows=\"3\">");
    if (text)
        html_text (body, text);
    else
        s_join (body, list, "\n");
    html_raw (body, "</textarea>\n");
}

static void
s_checkbox (html_t *body, s_ctx_t *ctx, const char *id, const char *key, int checked)
{
    html_raw (body, "<label class=\"check\" for=\"");
    html_raw (body, id);
    html_raw (body, "\"><input type=\"checkbox\" id=\"");
    html_raw (body, id);
    html_raw (body, "\" name=\"");
    html_raw (body, id);
    html_raw (body, "\" value=\"1\"");
    if (checked)
        html_raw (body, " checked");
    html_raw (body, "> ");
    html_text (body, s_msg (ctx, key));
    html_raw (body, "</label>\n");
}

static void
s_option (html_t *body, s_ctx_t *ctx, const char *value, const char *key, int selected)
{
    html_raw (body, "<option value=\"");
    html_text (body, value);
    html_raw (body, "\"");
    if (selected)
        html_raw (body, " selected");
    html_raw (body, ">");
    html_text (body, key ? s_msg (ctx, key) : value);
    html_raw (body, "</option>\n");
}

static void
s_button (html_t *body, s_ctx_t *ctx, const char *id, const char *key, const char *klass)
{
    html_raw (body, "<button type=\"submit\" id=\"");
    html_raw (body, id);
    html_raw (body, "\"");
    if (klass) {
        html_raw (body, " class=\"");
        html_raw (body, klass);
        html_raw (body, "\"");
    }
    html_raw (body, ">");
    html_text (body, s_msg (ctx, key));
    html_raw (body, "</button>\n");
}

//  The done=... notice of a page reached after a change (a fixed set of
//  catalogue keys, never text from the URL).
static void
s_done (html_t *body, s_ctx_t *ctx, const form_t *q)
{
    static const char *const done[] = {"created",    "updated",       "deleted",      "disabled",
                                       "enabled",    "unlocked",      "password",     "saved",
                                       "totp_reset", "session_ended", "grant_revoked"};
    const char *v = s_param (q, "done");
    for (size_t i = 0; v && i < sizeof done / sizeof done[0]; i++)
        if (!strcmp (v, done[i])) {
            char key[64];
            snprintf (key, sizeof key, "console.done.%s", done[i]);
            s_notice (body, s_msg (ctx, key), 0);
        }
}

static int
s_id_ok (const char *id, const char *extra)
{
    size_t n = strlen (id);
    if (n == 0 || n > ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr (extra, c)))
            return 0;
    }
    return 1;
}

//  ------------------------------------------------------------- clients

static void
s_clients_table (html_t *body, s_ctx_t *ctx, const json_t *clients, const char *q, const char *after,
                 const char **next)
{
    html_raw (body, "<div class=\"table\"><table id=\"clients\">\n<thead><tr><th>");
    html_text (body, s_msg (ctx, "console.client.id"));
    html_raw (body, "</th><th>");
    html_text (body, s_msg (ctx, "console.client.name"));
    html_raw (body, "</th><th>");
    html_text (body, s_msg (ctx, "console.client.type"));
    html_raw (body, "</th><th>");
    html_text (body, s_msg (ctx, "console.client.pkce"));
    html_raw (body, "</th><th>");
    html_text (body, s_msg (ctx, "console.status"));
    html_raw (body, "</th></tr></thead>\n<tbody>\n");
    size_t i, shown = 0;
    json_t *c;
    *next = NULL;
    json_array_foreach (clients, i, c)
    {
        const char *id = s_get (c, "client_id");
        const char *name = s_get (c, "name");
        if (!id || (after && strcmp (id, after) <= 0))
            continue;
        if (q && !strstr (id, q) && !(name && strstr (name, q)))
            continue;
        if (shown == PAGE_LIMIT) {
            break;
        }
        shown++;
        *next = id;
        char path[256] = CONSOLE_PATH "/clients/";
        s_append_enc (path, sizeof path, id);
        html_raw (body, "<tr><td><a href=\"");
        s_href (body, ctx, path);
        html_raw (body, "\">");
        html_text (body, id);
        html_raw (body, "</a></td><td>");
        html_text (body, name);
        html_raw (body, "</td><td>");
        html_text (body, s_get (c, "type"));
        html_raw (body, "</td><td>");
        html_text (body, s_msg (ctx, json_is_true (json_object_get (c, "require_pkce")) ? "console.yes"
                                                                                        : "console.no"));
        html_raw (body, "</td><td>");
        html_text (body, s_msg (ctx, json_is_true (json_object_get (c, "disabled")) ? "console.disabled"
                                                                                    : "console.enabled"));
        html_raw (body, "</td></tr>\n");
    }
    if (shown < PAGE_LIMIT)
        *next = NULL;
    else {
        //  Another page only when a later client matches too.
        int more = 0;
        json_array_foreach (clients, i, c)
        {
            const char *id = s_get (c, "client_id");
            const char *name = s_get (c, "name");
            if (id && strcmp (id, *next) > 0 && (!q || strstr (id, q) || (name && strstr (name, q))))
                more = 1;
        }
        if (!more)
            *next = NULL;
    }
    html_raw (body, "</tbody></table></div>\n");
    if (!shown) {
        html_raw (body, "<p id=\"none\">");
        html_text (body, s_msg (ctx, "console.none"));
        html_raw (body, "</p>\n");
    }
}

//  The search box of a list page.
static void
s_search (html_t *body, s_ctx_t *ctx, const char *path, const char *q)
{
    char action[2048];
    s_url (ctx, path, action, sizeof action);
    html_raw (body, "<form method=\"get\" class=\"actions\" role=\"search\" action=\"");
    html_text (body, action);
    html_raw (body, "\">\n<div>");
    s_input (body, ctx, "q", "console.search", "search", q);
    html_raw (body, "</div>\n");
    s_button (body, ctx, "search", "console.search.button", NULL);
    html_raw (body, "</form>\n");
}

//  The links between the pages of a list: Next page (after next) and
//  Previous page. The cursor is the last entry of the page before; back
//  lists the cursors of the earlier pages, oldest first, separated by
//  spaces (the first page's is empty), so that a page knows its previous.
static void
s_page_links (html_t *body, s_ctx_t *ctx, const char *path, const form_t *query, const char *next)
{
    const char *q = s_param (query, "q");
    const char *cursor = s_param (query, "cursor");
    const char *back = query ? form_get (query, "back", 0) : NULL;
    char url[2048];
    if (back) {
        const char *space = strrchr (back, ' ');
        size_t keep = space ? (size_t)(space - back) : 0;
        snprintf (url, sizeof url, "%s?cursor=", path);
        s_append_enc (url, sizeof url, space ? space + 1 : back);
        if (space && keep < 1024) {
            char earlier[1024];
            memcpy (earlier, back, keep);
            earlier[keep] = '\0';
            strncat (url, "&back=", sizeof url - strlen (url) - 1);
            s_append_enc (url, sizeof url, earlier);
        }
        if (q && *url) {
            strncat (url, "&q=", sizeof url - strlen (url) - 1);
            s_append_enc (url, sizeof url, q);
        }
        if (*url) {
            html_raw (body, "<p><a id=\"previous-page\" href=\"");
            s_href (body, ctx, url);
            html_raw (body, "\">");
            html_text (body, s_msg (ctx, "console.previous_page"));
            html_raw (body, "</a></p>\n");
        }
    }
    if (!next)
        return;
    snprintf (url, sizeof url, "%s?cursor=", path);
    s_append_enc (url, sizeof url, next);
    //  A trail too long for a URL starts again: no previous link there.
    if (*url && (back ? strlen (back) : 0) + (cursor ? strlen (cursor) : 0) < 512) {
        char trail[1024];
        snprintf (trail, sizeof trail, "%s%s%s", back ? back : "", back ? " " : "", cursor ? cursor : "");
        strncat (url, "&back=", sizeof url - strlen (url) - 1);
        s_append_enc (url, sizeof url, trail);
    }
    if (q && *url) {
        strncat (url, "&q=", sizeof url - strlen (url) - 1);
        s_append_enc (url, sizeof url, q);
    }
    html_raw (body, "<p><a id=\"next-page\" href=\"");
    s_href (body, ctx, url);
    html_raw (body, "\">");
    html_text (body, s_msg (ctx, "console.next_page"));
    html_raw (body, "</a></p>\n");
}

static int
s_clients_list (s_ctx_t *ctx)
{
    form_t *q = s_query (ctx);
    json_t *result = NULL;
    bus_error_t e;
    if (s_call (ctx, "token.client_list", json_object (), &result, &e) != 0) {
        form_destroy (&q);
        return s_fail (ctx, &e);
    }
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_msg (ctx, "console.clients.title"));
    s_done (&body, ctx, q);
    html_raw (&body, "<p><a class=\"button\" id=\"new-client\" href=\"");
    s_href (&body, ctx, CONSOLE_PATH "/clients/new");
    html_raw (&body, "\">");
    html_text (&body, s_msg (ctx, "console.clients.new"));
    html_raw (&body, "</a></p>\n");
    s_search (&body, ctx, CONSOLE_PATH "/clients", s_param (q, "q"));
    const char *next = NULL;
    s_clients_table (&body, ctx, json_object_get (result, "clients"), s_param (q, "q"), s_param (q, "cursor"),
                     &next);
    s_page_links (&body, ctx, CONSOLE_PATH "/clients", q, next);
    int rc = s_send (ctx, 200, s_msg (ctx, "console.clients.title"), &body);
    json_decref (result);
    form_destroy (&q);
    return rc;
}

//  The PKCE choice: "default" (the runtime setting pkce_required decides),
//  "on" or "off".
static const char *
s_pkce_choice (const json_t *client)
{
    const json_t *own = json_object_get (client, "require_pkce_own");
    if (!json_is_boolean (own))
        return "default";
    return json_is_true (own) ? "on" : "off";
}

//  The fields of a client's form; client gives the values (a stored client,
//  or what was sent: form when not NULL).
//  The form field a refusal of token.client_add or token.client_update is
//  about, from the service's description (token-svc/clients.c and the
//  schema's checks name the member first, or say it in words); NULL: none.
static const char *
s_error_field (const bus_error_t *e)
{
    static const char *const fields[] = {"name",
                                         "redirect_uris",
                                         "post_logout_redirect_uris",
                                         "allowed_web_origins",
                                         "scopes",
                                         "grant_types",
                                         "response_types",
                                         "require_pkce",
                                         "token_endpoint_auth_method",
                                         "id_token_signed_response_alg",
                                         "access_token_alg",
                                         "access_token_lifetime",
                                         "id_token_lifetime",
                                         "refresh_grace_uses",
                                         "refresh_grace",
                                         "backchannel_logout_uri",
                                         "backchannel_logout_session_required",
                                         "frontchannel_logout_uri",
                                         "frontchannel_logout_session_required",
                                         "refresh_bound_to_session",
                                         "always_refresh",
                                         "resource_server"};
    static const struct {
        const char *prefix, *field;
    } words[] = {{"every redirect URI", "redirect_uris"},
                 {"a redirect URI", "redirect_uris"},
                 {"an http or https redirect URI", "redirect_uris"},
                 {"http redirect URIs", "redirect_uris"},
                 {"a public client cannot use", "grant_types"},
                 {"only the admin client", "scopes"},
                 {"a web origin", "allowed_web_origins"},
                 {"http web origins", "allowed_web_origins"}};
    if (!e || e->err != OST_ERR_INVALID_REQUEST)
        return NULL;
    const char *d = e->description;
    //  The schema's refusals come as "invalid request: <member>: ...".
    if (!strncmp (d, "invalid request: ", 17))
        d += 17;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t n = strlen (fields[i]);
        if (!strncmp (d, fields[i], n) && (d[n] == ' ' || d[n] == ':' || d[n] == '\0'))
            return !strcmp (fields[i], "response_types") ? "grant_types" : fields[i];
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strncmp (d, words[i].prefix, strlen (words[i].prefix)))
            return words[i].field;
    return NULL;
}

//  The service's reason next to the field it is about.
static void
s_field_error (html_t *body, const bus_error_t *e, const char *id)
{
    const char *field = s_error_field (e);
    if (!field || strcmp (field, id))
        return;
    html_raw (body, "<p class=\"error field-error\" id=\"");
    html_raw (body, id);
    html_raw (body, "-error\"><code>");
    html_text (body, e->description);
    html_raw (body, "</code></p>\n");
}

//  A number input for an optional member: empty when the client has none.
static void
s_number (html_t *body, s_ctx_t *ctx, const char *id, const char *key, const json_t *client,
          const form_t *form, long long max)
{
    char value[32] = "";
    const json_t *v = json_object_get (client, id);
    if (form) {
        const char *sent = form_get (form, id, 0);
        snprintf (value, sizeof value, "%s", sent ? sent : "");
    } else if (json_is_integer (v))
        snprintf (value, sizeof value, "%lld", (long long)json_integer_value (v));
    s_label (body, ctx, id, key);
    char bounds[64];
    snprintf (bounds, sizeof bounds, "\" min=\"0\" max=\"%lld\" value=\"", max);
    html_raw (body, "<input type=\"number\" id=\"");
    html_raw (body, id);
    html_raw (body, "\" name=\"");
    html_raw (body, id);
    html_raw (body, bounds);
    html_text (body, value);
    html_raw (body, "\">\n");
}

//  The members only an existing client's form edits: token algorithms,
//  lifetimes, refresh, authentication at the token endpoint and logout.
static void
s_client_more_fields (html_t *body, s_ctx_t *ctx, const json_t *client, const form_t *form,
                      const bus_error_t *e)
{
#define V(name) (form ? form_get (form, name, 0) : NULL)
#define CHECKED(name) (form ? V (name) != NULL : json_is_true (json_object_get (client, name)))
    int public = !strcmp (s_get (client, "type") ? s_get (client, "type") : "", "public");
    static const char *const algs[] = {"RS256", "ES256", "EdDSA"};
    s_label (body, ctx, "token_endpoint_auth_method", "console.client.auth_method");
    const char *method =
        form ? V ("token_endpoint_auth_method") : s_get (client, "token_endpoint_auth_method");
    method = method ? method : "";
    html_raw (body, "<select id=\"token_endpoint_auth_method\" name=\"token_endpoint_auth_method\">\n");
    if (public)
        s_option (body, ctx, "none", NULL, 1);
    else {
        s_option (body, ctx, "client_secret_basic", NULL, !strcmp (method, "client_secret_basic"));
        s_option (body, ctx, "client_secret_post", NULL, !strcmp (method, "client_secret_post"));
    }
    html_raw (body, "</select>\n");
    s_field_error (body, e, "token_endpoint_auth_method");
    s_label (body, ctx, "id_token_signed_response_alg", "console.client.id_token_alg");
    const char *alg =
        form ? V ("id_token_signed_response_alg") : s_get (client, "id_token_signed_response_alg");
    alg = alg ? alg : "RS256";
    html_raw (body, "<select id=\"id_token_signed_response_alg\" name=\"id_token_signed_response_alg\">\n");
    for (size_t i = 0; i < 3; i++)
        s_option (body, ctx, algs[i], NULL, !strcmp (alg, algs[i]));
    html_raw (body, "</select>\n");
    s_field_error (body, e, "id_token_signed_response_alg");
    s_label (body, ctx, "access_token_alg", "console.client.access_token_alg");
    alg = form ? V ("access_token_alg") : s_get (client, "access_token_alg");
    alg = alg ? alg : "";
    html_raw (body, "<select id=\"access_token_alg\" name=\"access_token_alg\">\n");
    s_option (body, ctx, "", "console.client.server_default", !*alg);
    for (size_t i = 0; i < 3; i++)
        s_option (body, ctx, algs[i], NULL, !strcmp (alg, algs[i]));
    html_raw (body, "</select>\n");
    s_field_error (body, e, "access_token_alg");
    s_number (body, ctx, "access_token_lifetime", "console.client.access_token_lifetime", client, form,
              86400);
    s_field_error (body, e, "access_token_lifetime");
    s_number (body, ctx, "id_token_lifetime", "console.client.id_token_lifetime", client, form, 86400);
    s_field_error (body, e, "id_token_lifetime");
    s_number (body, ctx, "refresh_grace", "console.client.refresh_grace", client, form, 300);
    s_field_error (body, e, "refresh_grace");
    s_number (body, ctx, "refresh_grace_uses", "console.client.refresh_grace_uses", client, form, 10);
    s_field_error (body, e, "refresh_grace_uses");
    s_checkbox (body, ctx, "always_refresh", "console.client.always_refresh", CHECKED ("always_refresh"));
    s_checkbox (body, ctx, "refresh_bound_to_session", "console.client.refresh_bound_to_session",
                CHECKED ("refresh_bound_to_session"));
    s_checkbox (body, ctx, "resource_server", "console.client.resource_server", CHECKED ("resource_server"));
    s_input (body, ctx, "backchannel_logout_uri", "console.client.backchannel_logout_uri", "text",
             form ? V ("backchannel_logout_uri") : s_get (client, "backchannel_logout_uri"));
    s_field_error (body, e, "backchannel_logout_uri");
    s_checkbox (body, ctx, "backchannel_logout_session_required", "console.client.backchannel_logout_session",
                CHECKED ("backchannel_logout_session_required"));
    s_field_error (body, e, "backchannel_logout_session_required");
    s_input (body, ctx, "frontchannel_logout_uri", "console.client.frontchannel_logout_uri", "text",
             form ? V ("frontchannel_logout_uri") : s_get (client, "frontchannel_logout_uri"));
    s_field_error (body, e, "frontchannel_logout_uri");
    s_checkbox (body, ctx, "frontchannel_logout_session_required",
                "console.client.frontchannel_logout_session",
                CHECKED ("frontchannel_logout_session_required"));
    s_field_error (body, e, "frontchannel_logout_session_required");
#undef CHECKED
#undef V
}

static void
s_client_fields (html_t *body, s_ctx_t *ctx, const json_t *client, const form_t *form, int create,
                 const bus_error_t *e)
{
#define V(name) (form ? form_get (form, name, 0) : NULL)
    if (create) {
        s_input (body, ctx, "client_id", "console.client.id_optional", "text", V ("client_id"));
        s_label (body, ctx, "type", "console.client.type");
        const char *type = V ("type") ? V ("type") : "confidential";
        html_raw (body, "<select id=\"type\" name=\"type\">\n");
        s_option (body, ctx, "confidential", "console.client.confidential", !strcmp (type, "confidential"));
        s_option (body, ctx, "public", "console.client.public", !strcmp (type, "public"));
        html_raw (body, "</select>\n");
    }
    s_input (body, ctx, "name", "console.client.name", "text", form ? V ("name") : s_get (client, "name"));
    s_field_error (body, e, "name");
    s_textarea (body, ctx, "redirect_uris", "console.client.redirect_uris",
                json_object_get (client, "redirect_uris"), V ("redirect_uris"));
    s_field_error (body, e, "redirect_uris");
    s_textarea (body, ctx, "post_logout_redirect_uris", "console.client.post_logout_redirect_uris",
                json_object_get (client, "post_logout_redirect_uris"), V ("post_logout_redirect_uris"));
    s_field_error (body, e, "post_logout_redirect_uris");
    s_textarea (body, ctx, "allowed_web_origins", "console.client.allowed_web_origins",
                json_object_get (client, "allowed_web_origins"), V ("allowed_web_origins"));
    s_field_error (body, e, "allowed_web_origins");
    s_label (body, ctx, "scopes", "console.client.scopes");
    html_raw (body, "<input type=\"text\" id=\"scopes\" name=\"scopes\" value=\"");
    if (form)
        html_text (body, V ("scopes"));
    else if (client)
        s_join (body, json_object_get (client, "scopes"), " ");
    else
        html_raw (body, "openid");
    html_raw (body, "\">\n");
    s_field_error (body, e, "scopes");
    s_label (body, ctx, "grant_types", "console.client.grant_types");
    html_raw (body, "<input type=\"text\" id=\"grant_types\" name=\"grant_types\" value=\"");
    if (form)
        html_text (body, V ("grant_types"));
    else if (client)
        s_join (body, json_object_get (client, "grant_types"), " ");
    else
        html_raw (body, "authorization_code");
    html_raw (body, "\">\n");
    s_field_error (body, e, "grant_types");
    s_label (body, ctx, "require_pkce", "console.client.pkce");
    const char *pkce = form ? V ("require_pkce") : client ? s_pkce_choice (client) : "default";
    pkce = pkce ? pkce : "default";
    html_raw (body, "<select id=\"require_pkce\" name=\"require_pkce\">\n");
    s_option (body, ctx, "default", "console.client.pkce.default", !strcmp (pkce, "default"));
    s_option (body, ctx, "on", "console.client.pkce.on", !strcmp (pkce, "on"));
    s_option (body, ctx, "off", "console.client.pkce.off", !strcmp (pkce, "off"));
    html_raw (body, "</select>\n");
    s_field_error (body, e, "require_pkce");
    s_checkbox (body, ctx, "first_party", "console.client.first_party",
                form ? V ("first_party") != NULL : json_is_true (json_object_get (client, "first_party")));
    if (!create)
        s_client_more_fields (body, ctx, client, form, e);
    if (!create)
        s_checkbox (body, ctx, "disabled", "console.client.disabled_box",
                    form ? V ("disabled") != NULL : json_is_true (json_object_get (client, "disabled")));
#undef V
}

//  The members of s_client_more_fields as a change: an empty optional
//  member goes back to its default (unset); a number that is no number is
//  sent as -1, for the service to refuse.
static void
s_client_more_body (json_t *body, const form_t *form)
{
    json_t *unset = json_object_get (body, "unset");
    if (!unset) {
        unset = json_array ();
        json_object_set_new (body, "unset", unset);
    }
    static const char *const strings[] = {"token_endpoint_auth_method", "id_token_signed_response_alg"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = form_get (form, strings[i], 1);
        if (v)
            json_object_set_new (body, strings[i], json_string (v));
    }
    static const char *const optional[] = {"access_token_alg", "backchannel_logout_uri",
                                           "frontchannel_logout_uri"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = form_get (form, optional[i], 1);
        if (v)
            json_object_set_new (body, optional[i], json_string (v));
        else
            json_array_append_new (unset, json_string (optional[i]));
    }
    static const char *const numbers[] = {"access_token_lifetime", "id_token_lifetime", "refresh_grace",
                                          "refresh_grace_uses"};
    for (size_t i = 0; i < 4; i++) {
        const char *v = form_get (form, numbers[i], 1);
        if (v) {
            char *end = NULL;
            long long n = strtoll (v, &end, 10);
            json_object_set_new (body, numbers[i], json_integer (*end ? -1 : n));
        } else
            json_array_append_new (unset, json_string (numbers[i]));
    }
    static const char *const flags[] = {"always_refresh", "refresh_bound_to_session", "resource_server",
                                        "backchannel_logout_session_required",
                                        "frontchannel_logout_session_required"};
    for (size_t i = 0; i < 5; i++)
        json_object_set_new (body, flags[i], json_boolean (form_get (form, flags[i], 1) != NULL));
    if (json_array_size (unset) == 0)
        json_object_del (body, "unset");
}

//  The members of a client's form as a change (token.client_update) or a
//  registration (token.client_add).
static json_t *
s_client_body (const form_t *form, int create)
{
    json_t *body = json_object ();
    const char *v;
    if (create && (v = form_get (form, "client_id", 1)))
        json_object_set_new (body, "client_id", json_string (v));
    if (create && (v = form_get (form, "type", 1))) {
        json_object_set_new (body, "type", json_string (v));
        if (!strcmp (v, "public"))
            json_object_set_new (body, "token_endpoint_auth_method", json_string ("none"));
    }
    if ((v = form_get (form, "name", 1)))
        json_object_set_new (body, "name", json_string (v));
    static const char *const lines[] = {"redirect_uris", "post_logout_redirect_uris", "allowed_web_origins"};
    for (size_t i = 0; i < 3; i++)
        json_object_set_new (body, lines[i], s_list (form_get (form, lines[i], 0), 0));
    json_t *grants = s_list (form_get (form, "grant_types", 0), 1);
    json_object_set_new (body, "scopes", s_list (form_get (form, "scopes", 0), 1));
    int code = 0;
    size_t i;
    json_t *g;
    json_array_foreach (grants, i, g) code |= !strcmp (json_string_value (g), "authorization_code");
    json_object_set_new (body, "grant_types", grants);
    json_object_set_new (body, "response_types", code ? json_pack ("[s]", "code") : json_array ());
    const char *pkce = form_get (form, "require_pkce", 1);
    if (pkce && !strcmp (pkce, "on"))
        json_object_set_new (body, "require_pkce", json_true ());
    else if (pkce && !strcmp (pkce, "off"))
        json_object_set_new (body, "require_pkce", json_false ());
    else if (!create)
        json_object_set_new (body, "unset", json_pack ("[s]", "require_pkce"));
    json_object_set_new (body, "first_party", json_boolean (form_get (form, "first_party", 1) != NULL));
    if (!create) {
        json_object_set_new (body, "disabled", json_boolean (form_get (form, "disabled", 1) != NULL));
        s_client_more_body (body, form);
    }
    return body;
}

//  A new secret, shown once (after a creation or a rotation).
static void
s_secret_box (html_t *body, s_ctx_t *ctx, const char *secret)
{
    html_raw (body, "<p class=\"notice\" role=\"status\">");
    html_text (body, s_msg (ctx, "console.secret.once"));
    html_raw (body, "</p>\n<pre class=\"secret\" id=\"client-secret\">");
    html_text (body, secret);
    html_raw (body, "</pre>\n");
}

static int
s_client_new (s_ctx_t *ctx, const form_t *form)
{
    json_t *result = NULL;
    bus_error_t e;
    int refused = 0;
    if (form) {
        if (s_call (ctx, "token.client_add", s_client_body (form, 1), &result, &e) != 0) {
            if (e.err != OST_ERR_INVALID_REQUEST)
                return s_fail (ctx, &e);
            refused = 1;
        } else {
            const json_t *client = json_object_get (result, "client");
            const char *secret = s_get (result, "client_secret");
            char path[256] = CONSOLE_PATH "/clients/";
            s_append_enc (path, sizeof path, s_get (client, "client_id"));
            if (!secret) {
                json_decref (result);
                strncat (path, "?done=created", sizeof path - strlen (path) - 1);
                return s_see_other (ctx, path);
            }
            html_t body;
            html_init (&body);
            s_open (&body, ctx, s_msg (ctx, "console.clients.created"));
            html_raw (&body, "<p>");
            html_text_with (&body, s_msg (ctx, "console.clients.created_text"), "client",
                            s_get (client, "client_id"), "code id=\"created-client-id\"");
            html_raw (&body, "</p>\n");
            s_secret_box (&body, ctx, secret);
            html_raw (&body, "<p><a class=\"button\" id=\"continue\" href=\"");
            s_href (&body, ctx, path);
            html_raw (&body, "\">");
            html_text (&body, s_msg (ctx, "console.continue"));
            html_raw (&body, "</a></p>\n");
            secure_wipe ((char *)secret, strlen (secret));
            json_decref (result);
            return s_send (ctx, 201, s_msg (ctx, "console.clients.created"), &body);
        }
    }
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_msg (ctx, "console.clients.new"));
    if (refused)
        s_refusal (&body, ctx, &e);
    s_form (&body, ctx, CONSOLE_PATH "/clients/new", NULL);
    s_client_fields (&body, ctx, NULL, form, 1, refused ? &e : NULL);
    s_button (&body, ctx, "create", "console.create", NULL);
    html_raw (&body, "</form>\n");
    return s_send (ctx, refused ? 400 : 200, s_msg (ctx, "console.clients.new"), &body);
}

//  A confirmation page for an action that acts at once: what happens (text,
//  with {name} as value), a form posting to path (carrying the pairs of
//  carry but its csrf, and confirm=1) and a way back to back.
static int
s_confirm (s_ctx_t *ctx, const char *title_key, const char *text_key, const char *name, const char *value,
           const char *path, const char *button_id, const char *button_key, const char *back,
           const form_t *carry)
{
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_msg (ctx, title_key));
    html_raw (&body, "<p class=\"error\" role=\"alert\" id=\"confirm-warning\">");
    html_text_with (&body, s_msg (ctx, text_key), name, value, "strong");
    html_raw (&body, "</p>\n");
    s_form (&body, ctx, path, NULL);
    for (size_t i = 0; carry && i < form_count (carry); i++) {
        const char *n = form_name_at (carry, i);
        if (!strcmp (n, "csrf") || !strcmp (n, "confirm"))
            continue;
        html_raw (&body, "<input type=\"hidden\" name=\"");
        html_text (&body, n);
        html_raw (&body, "\" value=\"");
        html_text (&body, form_value_at (carry, i));
        html_raw (&body, "\">\n");
    }
    html_raw (&body, "<input type=\"hidden\" name=\"confirm\" value=\"1\">\n");
    s_button (&body, ctx, button_id, button_key, "danger");
    html_raw (&body, "</form>\n<p><a href=\"");
    s_href (&body, ctx, back);
    html_raw (&body, "\" id=\"cancel\">");
    html_text (&body, s_msg (ctx, "console.cancel"));
    html_raw (&body, "</a></p>\n");
    return s_send (ctx, 200, s_msg (ctx, title_key), &body);
}

//  The page of one client: its form (with the version it was rendered
//  from), and its actions.
static int
s_client_page (s_ctx_t *ctx, const char *id, const json_t *client, const form_t *sent, const bus_error_t *e,
               const form_t *q)
{
    char path[256] = CONSOLE_PATH "/clients/";
    s_append_enc (path, sizeof path, id);
    size_t base = strlen (path);
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_get (client, "name") ? s_get (client, "name") : id);
    if (q)
        s_done (&body, ctx, q);
    if (e)
        s_refusal (&body, ctx, e);
    html_raw (&body, "<p><small>");
    html_text (&body, s_msg (ctx, "console.client.id"));
    html_raw (&body, " <code id=\"client-id\">");
    html_text (&body, id);
    html_raw (&body, "</code> · ");
    html_text (&body, s_get (client, "type"));
    html_raw (&body, " · ");
    html_text (&body, s_msg (ctx, "console.version"));
    char version[32];
    snprintf (version, sizeof version, "%lld",
              (long long)json_integer_value (json_object_get (client, "version")));
    html_raw (&body, " <span id=\"client-version\">");
    html_text (&body, version);
    html_raw (&body, "</span></small></p>\n");
    s_form (&body, ctx, path, NULL);
    //  The version this form was rendered from: the service refuses the
    //  change when the client changed since (optimistic concurrency).
    html_raw (&body, "<input type=\"hidden\" name=\"version\" value=\"");
    html_text (&body, version);
    html_raw (&body, "\">\n");
    //  A conflict shows the stored registration, not what was sent.
    int conflict = e && e->err == OST_ERR_CONFLICT;
    s_client_fields (&body, ctx, client, conflict ? NULL : sent, 0, e);
    s_button (&body, ctx, "save", "console.save", NULL);
    html_raw (&body, "</form>\n<h2>");
    html_text (&body, s_msg (ctx, "console.actions"));
    html_raw (&body, "</h2>\n<div class=\"actions\">\n");
    if (!strcmp (s_get (client, "type") ? s_get (client, "type") : "", "confidential")) {
        snprintf (path + base, sizeof path - base, "/secret");
        s_form (&body, ctx, path, NULL);
        html_raw (&body, "<input type=\"hidden\" name=\"version\" value=\"");
        html_text (&body, version);
        html_raw (&body, "\">\n<div>");
        s_label (&body, ctx, "overlap_seconds", "console.client.overlap");
        html_raw (&body, "<input type=\"number\" id=\"overlap_seconds\" name=\"overlap_seconds\" min=\"0\" "
                         "max=\"604800\" value=\"0\"></div>\n");
        s_button (&body, ctx, "rotate-secret", "console.client.rotate", "secondary");
        html_raw (&body, "</form>\n");
    }
    snprintf (path + base, sizeof path - base, "/delete");
    html_raw (&body, "<p><a class=\"button danger\" id=\"delete\" href=\"");
    s_href (&body, ctx, path);
    html_raw (&body, "\">");
    html_text (&body, s_msg (ctx, "console.delete"));
    html_raw (&body, "</a></p>\n</div>\n");
    return s_send (ctx, e ? (conflict ? 409 : 400) : 200,
                   s_get (client, "name") ? s_get (client, "name") : id, &body);
}

static int
s_client_get (s_ctx_t *ctx, const char *id, json_t **result, bus_error_t *e)
{
    return s_call (ctx, "token.client_get", json_pack ("{s:s}", "client_id", id), result, e);
}

static long long
s_form_int (const form_t *form, const char *name)
{
    const char *v = form_get (form, name, 1);
    char *end = NULL;
    long long n = v ? strtoll (v, &end, 10) : -1;
    return v && *v && end && !*end ? n : -1;
}

static int
s_client (s_ctx_t *ctx, const char *id, const char *action, form_t *form)
{
    json_t *result = NULL;
    bus_error_t e;
    char path[256] = CONSOLE_PATH "/clients/";
    s_append_enc (path, sizeof path, id);
    int rc;
    if (!*action && !form) {
        form_t *q = s_query (ctx);
        if (s_client_get (ctx, id, &result, &e) != 0)
            rc = s_fail (ctx, &e);
        else
            rc = s_client_page (ctx, id, json_object_get (result, "client"), NULL, NULL, q);
        form_destroy (&q);
    } else if (!*action && form_get (form, "disabled", 1) && !form_get (form, "confirm", 1) &&
               s_client_get (ctx, id, &result, &e) == 0 &&
               !json_is_true (json_object_get (json_object_get (result, "client"), "disabled"))) {
        //  Disabling revokes the client's tokens for good: the change is
        //  saved only once confirmed (the form's members are carried).
        rc = s_confirm (ctx, "console.client.disable.title", "console.client.disable.text", "client", id,
                        path, "confirm-disable", "console.client.disable.confirm", path, form);
    } else if (!*action) {
        json_decref (result);
        result = NULL;
        json_t *body = s_client_body (form, 0);
        json_object_set_new (body, "client_id", json_string (id));
        json_object_set_new (body, "version", json_integer (s_form_int (form, "version")));
        if (s_call (ctx, "token.client_update", body, &result, &e) == 0) {
            strncat (path, "?done=updated", sizeof path - strlen (path) - 1);
            rc = s_see_other (ctx, path);
        } else if (e.err == OST_ERR_CONFLICT || e.err == OST_ERR_INVALID_REQUEST) {
            bus_error_t e2;
            if (s_client_get (ctx, id, &result, &e2) != 0)
                rc = s_fail (ctx, &e2);
            else
                rc = s_client_page (ctx, id, json_object_get (result, "client"), form, &e, NULL);
        } else
            rc = s_fail (ctx, &e);
    } else if (!strcmp (action, "/secret") && form) {
        json_t *change = json_pack ("{s:s}", "client_id", id);
        long long overlap = s_form_int (form, "overlap_seconds");
        if (overlap > 0)
            json_object_set_new (change, "overlap_seconds", json_integer (overlap));
        long long version = s_form_int (form, "version");
        if (version > 0)
            json_object_set_new (change, "version", json_integer (version));
        if (s_call (ctx, "token.client_rotate_secret", change, &result, &e) != 0) {
            bus_error_t e2;
            json_t *stored = NULL;
            if (e.err != OST_ERR_CONFLICT && e.err != OST_ERR_INVALID_REQUEST)
                rc = s_fail (ctx, &e);
            else if (s_client_get (ctx, id, &stored, &e2) != 0)
                rc = s_fail (ctx, &e2);
            else
                rc = s_client_page (ctx, id, json_object_get (stored, "client"), NULL, &e, NULL);
            json_decref (stored);
        } else {
            const char *secret = s_get (result, "client_secret");
            html_t page;
            html_init (&page);
            s_open (&page, ctx, s_msg (ctx, "console.client.rotated"));
            s_secret_box (&page, ctx, secret);
            if (json_is_integer (json_object_get (result, "previous_secret_expires_at"))) {
                char when[64];
                time_t t =
                    (time_t)json_integer_value (json_object_get (result, "previous_secret_expires_at"));
                struct tm tm;
                gmtime_r (&t, &tm);
                strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
                html_raw (&page, "<p>");
                html_text_with (&page, s_msg (ctx, "console.client.overlap_until"), "time", when, "strong");
                html_raw (&page, "</p>\n");
            }
            html_raw (&page, "<p><a class=\"button\" id=\"continue\" href=\"");
            s_href (&page, ctx, path);
            html_raw (&page, "\">");
            html_text (&page, s_msg (ctx, "console.continue"));
            html_raw (&page, "</a></p>\n");
            secure_wipe ((char *)secret, strlen (secret));
            rc = s_send (ctx, 200, s_msg (ctx, "console.client.rotated"), &page);
        }
    } else if (!strcmp (action, "/delete") && !form) {
        //  The confirmation says what a deletion loses before it happens.
        if (s_client_get (ctx, id, &result, &e) != 0)
            rc = s_fail (ctx, &e);
        else {
            html_t body;
            html_init (&body);
            s_open (&body, ctx, s_msg (ctx, "console.client.delete.title"));
            html_raw (&body, "<p class=\"error\" role=\"alert\" id=\"delete-warning\">");
            html_text_with (&body, s_msg (ctx, "console.client.delete.text"), "client", id, "strong");
            html_raw (&body, "</p>\n");
            strncat (path, "/delete", sizeof path - strlen (path) - 1);
            s_form (&body, ctx, path, NULL);
            s_button (&body, ctx, "confirm-delete", "console.client.delete.confirm", "danger");
            html_raw (&body, "</form>\n<p><a href=\"");
            path[strlen (path) - strlen ("/delete")] = '\0';
            s_href (&body, ctx, path);
            html_raw (&body, "\" id=\"cancel\">");
            html_text (&body, s_msg (ctx, "console.cancel"));
            html_raw (&body, "</a></p>\n");
            rc = s_send (ctx, 200, s_msg (ctx, "console.client.delete.title"), &body);
        }
    } else if (!strcmp (action, "/delete")) {
        if (s_call (ctx, "token.client_remove", json_pack ("{s:s}", "client_id", id), &result, &e) != 0)
            rc = s_fail (ctx, &e);
        else
            rc = s_see_other (ctx, CONSOLE_PATH "/clients?done=deleted");
    } else
        rc = s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    json_decref (result);
    return rc;
}

static int
s_clients (s_ctx_t *ctx, const char *rest, form_t *form)
{
    if (!*rest)
        return form ? s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0)
                    : s_clients_list (ctx);
    if (!strcmp (rest, "/new"))
        return s_client_new (ctx, form);
    char id[ID_MAX + 1];
    size_t n = rest[0] == '/' ? strcspn (rest + 1, "/") : 0;
    if (n == 0 || n > ID_MAX)
        return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    memcpy (id, rest + 1, n);
    id[n] = '\0';
    if (!s_id_ok (id, "._~-"))
        return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    return s_client (ctx, id, rest + 1 + n, form);
}

//  ------------------------------------------------------------- users

static int
s_users_list (s_ctx_t *ctx)
{
    form_t *q = s_query (ctx);
    const char *search = s_param (q, "q");
    const char *cursor = s_param (q, "cursor");
    json_t *body = json_pack ("{s:i}", "limit", search ? 200 : PAGE_LIMIT);
    if (cursor)
        json_object_set_new (body, "after", json_string (cursor));
    json_t *result = NULL;
    bus_error_t e;
    if (s_call (ctx, "flow.user_list", body, &result, &e) != 0) {
        form_destroy (&q);
        return s_fail (ctx, &e);
    }
    html_t page;
    html_init (&page);
    s_open (&page, ctx, s_msg (ctx, "console.users.title"));
    s_done (&page, ctx, q);
    html_raw (&page, "<p><a class=\"button\" id=\"new-user\" href=\"");
    s_href (&page, ctx, CONSOLE_PATH "/users/new");
    html_raw (&page, "\">");
    html_text (&page, s_msg (ctx, "console.users.new"));
    html_raw (&page, "</a></p>\n");
    s_search (&page, ctx, CONSOLE_PATH "/users", search);
    html_raw (&page, "<div class=\"table\"><table id=\"users\">\n<thead><tr><th>");
    html_text (&page, s_msg (ctx, "console.user.username"));
    html_raw (&page, "</th><th>");
    html_text (&page, s_msg (ctx, "console.user.name"));
    html_raw (&page, "</th><th>");
    html_text (&page, s_msg (ctx, "console.user.email"));
    html_raw (&page, "</th><th>");
    html_text (&page, s_msg (ctx, "console.status"));
    html_raw (&page, "</th></tr></thead>\n<tbody>\n");
    size_t i, shown = 0;
    json_t *u;
    json_array_foreach (json_object_get (result, "users"), i, u)
    {
        const char *username = s_get (u, "username");
        const char *name = s_get (u, "name");
        const char *email = s_get (u, "email");
        //  A search looks through one page of flow-svc's at a time.
        if (!username || (search && !strstr (username, search) && !(name && strstr (name, search)) &&
                          !(email && strstr (email, search))))
            continue;
        shown++;
        char path[256] = CONSOLE_PATH "/users/";
        s_append_enc (path, sizeof path, username);
        html_raw (&page, "<tr><td><a href=\"");
        s_href (&page, ctx, path);
        html_raw (&page, "\">");
        html_text (&page, username);
        html_raw (&page, "</a></td><td>");
        html_text (&page, name);
        html_raw (&page, "</td><td>");
        html_text (&page, email);
        html_raw (&page, "</td><td>");
        html_text (&page, s_msg (ctx, json_is_true (json_object_get (u, "disabled")) ? "console.disabled"
                                                                                     : "console.enabled"));
        if (json_is_true (json_object_get (u, "admin"))) {
            html_raw (&page, " · ");
            html_text (&page, s_msg (ctx, "console.user.admin"));
        }
        html_raw (&page, "</td></tr>\n");
    }
    html_raw (&page, "</tbody></table></div>\n");
    if (!shown) {
        html_raw (&page, "<p id=\"none\">");
        html_text (&page, s_msg (ctx, "console.none"));
        html_raw (&page, "</p>\n");
    }
    s_page_links (&page, ctx, CONSOLE_PATH "/users", q, s_get (result, "next"));
    int rc = s_send (ctx, 200, s_msg (ctx, "console.users.title"), &page);
    json_decref (result);
    form_destroy (&q);
    return rc;
}

static int
s_user_new (s_ctx_t *ctx, const form_t *form)
{
    bus_error_t e;
    int refused = 0;
    if (form) {
        json_t *body = json_object ();
        static const char *const fields[] = {"username", "email", "name", "password"};
        for (size_t i = 0; i < 4; i++) {
            const char *v = form_get (form, fields[i], 1);
            if (v)
                json_object_set_new (body, fields[i], json_string (v));
        }
        json_t *result = NULL;
        if (s_call (ctx, "flow.user_add", body, &result, &e) == 0) {
            char path[256] = CONSOLE_PATH "/users/";
            s_append_enc (path, sizeof path, s_get (json_object_get (result, "user"), "username"));
            strncat (path, "?done=created", sizeof path - strlen (path) - 1);
            json_decref (result);
            return s_see_other (ctx, path);
        }
        if (e.err != OST_ERR_INVALID_REQUEST)
            return s_fail (ctx, &e);
        refused = 1;
    }
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_msg (ctx, "console.users.new"));
    if (refused)
        s_refusal (&body, ctx, &e);
    s_form (&body, ctx, CONSOLE_PATH "/users/new", NULL);
    s_input (&body, ctx, "username", "console.user.username", "text",
             form ? form_get (form, "username", 0) : NULL);
    s_input (&body, ctx, "email", "console.user.email", "email", form ? form_get (form, "email", 0) : NULL);
    s_input (&body, ctx, "name", "console.user.name", "text", form ? form_get (form, "name", 0) : NULL);
    s_input (&body, ctx, "password", "console.user.password", "password", NULL);
    s_button (&body, ctx, "create", "console.create", NULL);
    html_raw (&body, "</form>\n");
    return s_send (ctx, refused ? 400 : 200, s_msg (ctx, "console.users.new"), &body);
}

static void
s_user_action (html_t *body, s_ctx_t *ctx, const char *base, const char *action, const char *id,
               const char *key, const char *klass)
{
    char path[300];
    snprintf (path, sizeof path, "%s/%s", base, action);
    s_form (body, ctx, path, NULL);
    s_button (body, ctx, id, key, klass);
    html_raw (body, "</form>\n");
}

//  A link to the confirmation page of an action.
static void
s_confirm_link (html_t *body, s_ctx_t *ctx, const char *base, const char *action, const char *id,
                const char *key, const char *klass)
{
    char path[300];
    snprintf (path, sizeof path, "%s/%s", base, action);
    html_raw (body, "<p><a class=\"button ");
    html_raw (body, klass);
    html_raw (body, "\" id=\"");
    html_raw (body, id);
    html_raw (body, "\" href=\"");
    s_href (body, ctx, path);
    html_raw (body, "\">");
    html_text (body, s_msg (ctx, key));
    html_raw (body, "…</a></p>\n");
}

static void
s_row (html_t *body, s_ctx_t *ctx, const char *key, const char *value, const char *id)
{
    html_raw (body, "<tr><th scope=\"row\">");
    html_text (body, s_msg (ctx, key));
    html_raw (body, "</th><td");
    if (id) {
        html_raw (body, " id=\"");
        html_raw (body, id);
        html_raw (body, "\"");
    }
    html_raw (body, ">");
    html_text (body, value);
    html_raw (body, "</td></tr>\n");
}

//  A time of the services (seconds since the epoch) as UTC text; "" when
//  absent.
static void
s_when (const json_t *t, char *out, size_t size)
{
    out[0] = '\0';
    if (!json_is_integer (t))
        return;
    time_t when = (time_t)json_integer_value (t);
    struct tm tm;
    if (gmtime_r (&when, &tm))
        strftime (out, size, "%Y-%m-%d %H:%M UTC", &tm);
}

static void
s_heads (html_t *body, s_ctx_t *ctx, const char *const *keys, size_t n)
{
    html_raw (body, "<thead><tr>");
    for (size_t i = 0; i < n; i++) {
        html_raw (body, "<th>");
        if (keys[i])
            html_text (body, s_msg (ctx, keys[i]));
        html_raw (body, "</th>");
    }
    html_raw (body, "</tr></thead>\n<tbody>\n");
}

//  One button's form posting to base/action with a hidden name=value.
static void
s_row_action (html_t *body, s_ctx_t *ctx, const char *base, const char *action, const char *name,
              const char *value, const char *id_prefix, const char *key)
{
    char path[300];
    snprintf (path, sizeof path, "%s/%s", base, action);
    s_form (body, ctx, path, "inline");
    if (name) {
        html_raw (body, "<input type=\"hidden\" name=\"");
        html_raw (body, name);
        html_raw (body, "\" value=\"");
        html_text (body, value);
        html_raw (body, "\">\n");
    }
    html_raw (body, "<button type=\"submit\" class=\"secondary\" id=\"");
    html_raw (body, id_prefix);
    html_text (body, value ? value : "all");
    html_raw (body, "\">");
    html_text (body, s_msg (ctx, key));
    html_raw (body, "</button>\n</form>\n");
}

//  The user's live SSO sessions, each with a button that ends it.
static void
s_user_sessions (html_t *body, s_ctx_t *ctx, const char *base, const json_t *sessions)
{
    html_raw (body, "<h2>");
    html_text (body, s_msg (ctx, "console.user.sessions"));
    html_raw (body, "</h2>\n<div class=\"table\"><table id=\"sessions\">\n");
    static const char *const heads[] = {"console.user.session.started", "console.user.session.last_used",
                                        "console.user.session.address", "console.user.session.browser",
                                        "console.user.session.clients", NULL};
    s_heads (body, ctx, heads, sizeof heads / sizeof heads[0]);
    size_t i;
    json_t *sn;
    json_array_foreach (sessions, i, sn)
    {
        char started[40], used[40];
        s_when (json_object_get (sn, "created_at"), started, sizeof started);
        s_when (json_object_get (sn, "last_used_at"), used, sizeof used);
        html_raw (body, "<tr class=\"session\"><td>");
        html_text (body, started);
        html_raw (body, "</td><td>");
        html_text (body, used);
        html_raw (body, "</td><td>");
        html_text (body, s_get (sn, "address"));
        html_raw (body, "</td><td>");
        html_text (body, s_get (sn, "user_agent"));
        html_raw (body, "</td><td>");
        size_t k;
        json_t *c;
        json_array_foreach (json_object_get (sn, "clients"), k, c)
        {
            if (k)
                html_raw (body, ", ");
            html_text (body, s_get (c, "name"));
        }
        html_raw (body, "</td><td>");
        s_row_action (body, ctx, base, "session", "sid", s_get (sn, "sid"), "end-session-",
                      "console.user.session.end");
        html_raw (body, "</td></tr>\n");
    }
    html_raw (body, "</tbody></table></div>\n");
    if (!json_array_size (sessions)) {
        html_raw (body, "<p id=\"no-sessions\">");
        html_text (body, s_msg (ctx, "console.none"));
        html_raw (body, "</p>\n");
    } else {
        html_raw (body, "<div class=\"actions\">");
        s_row_action (body, ctx, base, "session", NULL, NULL, "end-session-",
                      "console.user.sessions.end_all");
        html_raw (body, "</div>\n");
    }
}

//  The clients holding a grant of the user, each with a button that
//  revokes it.
static void
s_user_grants (html_t *body, s_ctx_t *ctx, const char *base, const json_t *grants)
{
    html_raw (body, "<h2>");
    html_text (body, s_msg (ctx, "console.user.grants"));
    html_raw (body, "</h2>\n<div class=\"table\"><table id=\"grants\">\n");
    static const char *const heads[] = {"console.audit.client", "console.user.grant.scopes",
                                        "console.user.grant.families", "console.user.session.last_used",
                                        NULL};
    s_heads (body, ctx, heads, sizeof heads / sizeof heads[0]);
    size_t i;
    json_t *g;
    json_array_foreach (grants, i, g)
    {
        char used[40], families[24];
        s_when (json_object_get (g, "last_used_at"), used, sizeof used);
        snprintf (families, sizeof families, "%lld",
                  (long long)json_integer_value (json_object_get (g, "families")));
        html_raw (body, "<tr class=\"grant\"><td>");
        html_text (body, s_get (g, "client_name"));
        html_raw (body, " <code>");
        html_text (body, s_get (g, "client_id"));
        html_raw (body, "</code></td><td>");
        s_join (body, json_object_get (g, "scopes"), " ");
        html_raw (body, "</td><td>");
        html_text (body, families);
        html_raw (body, "</td><td>");
        html_text (body, used);
        html_raw (body, "</td><td>");
        s_row_action (body, ctx, base, "grant", "client_id", s_get (g, "client_id"), "revoke-grant-",
                      "console.user.grant.revoke");
        html_raw (body, "</td></tr>\n");
    }
    html_raw (body, "</tbody></table></div>\n");
    if (!json_array_size (grants)) {
        html_raw (body, "<p id=\"no-grants\">");
        html_text (body, s_msg (ctx, "console.none"));
        html_raw (body, "</p>\n");
    }
}

static int
s_user_page (s_ctx_t *ctx, const char *name, const bus_error_t *refused)
{
    json_t *result = NULL;
    bus_error_t e;
    if (s_call (ctx, "flow.user_get", json_pack ("{s:s}", "username", name), &result, &e) != 0)
        return s_fail (ctx, &e);
    const json_t *user = json_object_get (result, "user");
    form_t *q = refused ? NULL : s_query (ctx);
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_get (user, "username"));
    s_done (&body, ctx, q);
    if (refused)
        s_refusal (&body, ctx, refused);
    html_raw (&body, "<div class=\"table\"><table id=\"user\">\n");
    s_row (&body, ctx, "console.user.name", s_get (user, "name"), NULL);
    s_row (&body, ctx, "console.user.email", s_get (user, "email"), NULL);
    s_row (&body, ctx, "console.user.sub", s_get (user, "sub"), "user-sub");
    int disabled = json_is_true (json_object_get (user, "disabled"));
    s_row (&body, ctx, "console.status", s_msg (ctx, disabled ? "console.disabled" : "console.enabled"),
           "user-status");
    s_row (&body, ctx, "console.user.admin_role",
           s_msg (ctx, json_is_true (json_object_get (user, "admin")) ? "console.yes" : "console.no"), NULL);
    html_raw (&body, "</table></div>\n<h2>");
    html_text (&body, s_msg (ctx, "console.actions"));
    html_raw (&body, "</h2>\n<div class=\"actions\">\n");
    char base[256] = CONSOLE_PATH "/users/";
    s_append_enc (base, sizeof base, s_get (user, "username"));
    s_user_action (&body, ctx, base, "unlock", "unlock", "console.user.unlock", "secondary");
    //  Resetting the second factor and disabling ask for a confirmation
    //  first (s_users).
    s_confirm_link (&body, ctx, base, "totp-reset", "totp-reset", "console.user.totp_reset", "secondary");
    if (disabled)
        s_user_action (&body, ctx, base, "enable", "enable", "console.user.enable", "secondary");
    else
        s_confirm_link (&body, ctx, base, "disable", "disable", "console.user.disable", "danger");
    html_raw (&body, "</div>\n<h2>");
    html_text (&body, s_msg (ctx, "console.user.reset_password"));
    html_raw (&body, "</h2>\n");
    char path[300];
    snprintf (path, sizeof path, "%s/password", base);
    s_form (&body, ctx, path, NULL);
    s_input (&body, ctx, "password", "console.user.new_password", "password", NULL);
    s_button (&body, ctx, "set-password", "console.user.set_password", NULL);
    html_raw (&body, "</form>\n");
    json_t *sessions = NULL, *grants = NULL;
    if (s_call (ctx, "flow.user_sessions", json_pack ("{s:s}", "username", s_get (user, "username")),
                &sessions, &e) != 0 ||
        s_call (ctx, "token.grant_list", json_pack ("{s:s}", "sub", s_get (user, "sub")), &grants, &e) != 0) {
        html_free (&body);
        json_decref (sessions);
        form_destroy (&q);
        json_decref (result);
        return s_fail (ctx, &e);
    }
    s_user_sessions (&body, ctx, base, json_object_get (sessions, "sessions"));
    s_user_grants (&body, ctx, base, json_object_get (grants, "grants"));
    int rc = s_send (ctx, refused ? 400 : 200, s_get (user, "username"), &body);
    form_destroy (&q);
    json_decref (result);
    json_decref (sessions);
    json_decref (grants);
    return rc;
}

static int
s_users (s_ctx_t *ctx, const char *rest, form_t *form)
{
    if (!*rest)
        return form ? s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0)
                    : s_users_list (ctx);
    if (!strcmp (rest, "/new"))
        return s_user_new (ctx, form);
    char name[ID_MAX + 1];
    size_t n = rest[0] == '/' ? strcspn (rest + 1, "/") : 0;
    if (n == 0 || n > ID_MAX)
        return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    memcpy (name, rest + 1, n);
    name[n] = '\0';
    //  Usernames are a-z 0-9 . _ @ + - (the '@' percent-encoded in links).
    char decoded[ID_MAX + 1];
    size_t j = 0;
    for (size_t i = 0; name[i] && j < ID_MAX; i++) {
        if (name[i] == '%' && !strncasecmp (name + i, "%40", 3)) {
            decoded[j++] = '@';
            i += 2;
        } else if (name[i] == '%' && !strncasecmp (name + i, "%2B", 3)) {
            decoded[j++] = '+';
            i += 2;
        } else
            decoded[j++] = name[i];
    }
    decoded[j] = '\0';
    if (!s_id_ok (decoded, "._@+-"))
        return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    const char *action = rest + 1 + n;
    if (!*action && !form)
        return s_user_page (ctx, decoded, NULL);
    char base[300] = CONSOLE_PATH "/users/";
    s_append_enc (base, sizeof base, decoded);
    char target[320];
    snprintf (target, sizeof target, "%s%s", base, action);
    //  What a disabling or a second factor's reset does, before it does it.
    if (!form && !strcmp (action, "/disable"))
        return s_confirm (ctx, "console.user.disable.title", "console.user.disable.text", "user", decoded,
                          target, "confirm-disable", "console.user.disable.confirm", base, NULL);
    if (!form && !strcmp (action, "/totp-reset"))
        return s_confirm (ctx, "console.user.totp_reset.title", "console.user.totp_reset.text", "user",
                          decoded, target, "confirm-totp-reset", "console.user.totp_reset.confirm", base,
                          NULL);
    if (!form || action[0] != '/')
        return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    action++;
    const char *op = NULL, *done = NULL;
    json_t *body = json_pack ("{s:s}", "username", decoded);
    if (!strcmp (action, "unlock"))
        op = "flow.user_unlock", done = "unlocked";
    else if (!strcmp (action, "disable") || !strcmp (action, "enable")) {
        op = "flow.user_disable";
        done = action[0] == 'd' ? "disabled" : "enabled";
        json_object_set_new (body, "disabled", json_boolean (action[0] == 'd'));
    } else if (!strcmp (action, "password")) {
        op = "flow.user_passwd", done = "password";
        const char *password = form_get (form, "password", 1);
        json_object_set_new (body, "password", json_string (password ? password : ""));
    } else if (!strcmp (action, "totp-reset"))
        op = "flow.user_totp_reset", done = "totp_reset";
    else if (!strcmp (action, "session")) {
        op = "flow.user_session_revoke", done = "session_ended";
        const char *sid = form_get (form, "sid", 1);
        if (sid)
            json_object_set_new (body, "sid", json_string (sid));
    } else if (!strcmp (action, "grant")) {
        //  token-svc knows the user by sub.
        json_t *user = NULL;
        bus_error_t ue;
        const char *client_id = form_get (form, "client_id", 1);
        if (s_call (ctx, "flow.user_get", json_pack ("{s:s}", "username", decoded), &user, &ue) != 0) {
            json_decref (body);
            return s_fail (ctx, &ue);
        }
        json_decref (body);
        body = json_pack ("{s:s?,s:s}", "sub", s_get (json_object_get (user, "user"), "sub"), "client_id",
                          client_id ? client_id : "");
        json_decref (user);
        op = "token.grant_revoke", done = "grant_revoked";
    }
    if (!op) {
        json_decref (body);
        return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    }
    json_t *result = NULL;
    bus_error_t e;
    int rc;
    if (s_call (ctx, op, body, &result, &e) == 0) {
        char path[300] = CONSOLE_PATH "/users/";
        s_append_enc (path, sizeof path, decoded);
        size_t len = strlen (path);
        snprintf (path + len, sizeof path - len, "?done=%s", done);
        rc = s_see_other (ctx, path);
    } else if (e.err == OST_ERR_INVALID_REQUEST)
        rc = s_user_page (ctx, decoded, &e);
    else
        rc = s_fail (ctx, &e);
    json_decref (result);
    return rc;
}

//  ------------------------------------------------------------- settings

static int
s_settings_page (s_ctx_t *ctx, const bus_error_t *refused, const char *refused_name)
{
    json_t *token = NULL, *flow = NULL;
    bus_error_t e;
    if (s_call (ctx, "token.settings_list", json_object (), &token, &e) != 0)
        return s_fail (ctx, &e);
    if (s_call (ctx, "flow.settings_list", json_object (), &flow, &e) != 0) {
        json_decref (token);
        return s_fail (ctx, &e);
    }
    form_t *q = refused ? NULL : s_query (ctx);
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_msg (ctx, "console.settings.title"));
    s_done (&body, ctx, q);
    if (refused) {
        s_refusal (&body, ctx, refused);
    }
    html_raw (&body, "<p>");
    html_text (&body, s_msg (ctx, "console.settings.text"));
    html_raw (&body, "</p>\n");
    const json_t *lists[] = {json_object_get (token, "settings"), json_object_get (flow, "settings")};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *s;
        json_array_foreach (lists[l], i, s)
        {
            const char *name = s_get (s, "name");
            if (!name || !s_id_ok (name, "_"))
                continue;
            long long value = json_integer_value (json_object_get (s, "value"));
            long long def = json_integer_value (json_object_get (s, "default"));
            long long min = json_integer_value (json_object_get (s, "min"));
            long long max = json_integer_value (json_object_get (s, "max"));
            char num[4][32];
            snprintf (num[0], sizeof num[0], "%lld", value);
            snprintf (num[1], sizeof num[1], "%lld", def);
            snprintf (num[2], sizeof num[2], "%lld", min);
            snprintf (num[3], sizeof num[3], "%lld", max);
            html_raw (&body, "<section class=\"setting\" id=\"setting-");
            html_raw (&body, name);
            html_raw (&body, "\">\n<h2><code>");
            html_text (&body, name);
            html_raw (&body, "</code></h2>\n<p>");
            //  The catalogue's wording when it has one, else settings.def's.
            char key[128];
            snprintf (key, sizeof key, "console.setting.%s", name);
            html_text (&body, i18n_has (ctx->req->gw->i18n, ctx->req->lang, key) ? s_msg (ctx, key)
                                                                                 : s_get (s, "description"));
            html_raw (&body, "<br><small>");
            const char *args[] = {"min", num[2], "max", num[3], "default", num[1]};
            for (size_t k = 0; k < 3; k++) {
                char label[64];
                snprintf (label, sizeof label, "console.settings.%s", args[2 * k]);
                html_text (&body, s_msg (ctx, label));
                html_raw (&body, " ");
                html_text (&body, args[2 * k + 1]);
                html_raw (&body, k < 2 ? " · " : "");
            }
            html_raw (&body, "</small></p>\n");
            char path[128];
            snprintf (path, sizeof path, CONSOLE_PATH "/settings/%s", name);
            s_form (&body, ctx, path, NULL);
            //  The value this form was rendered from (the setting's ETag):
            //  a change made elsewhere since makes the service refuse it.
            html_raw (&body, "<input type=\"hidden\" name=\"expected\" value=\"");
            html_text (&body, num[0]);
            html_raw (&body, "\">\n<label class=\"check\" for=\"value-");
            html_raw (&body, name);
            html_raw (&body, "\">");
            html_text (&body, s_msg (ctx, "console.settings.value"));
            html_raw (&body, "</label>\n");
            if (min == 0 && max == 1) {
                //  A toggle.
                html_raw (&body, "<select name=\"value\" id=\"value-");
                html_raw (&body, name);
                html_raw (&body, "\">\n");
                s_option (&body, ctx, "1", "console.on", value == 1);
                s_option (&body, ctx, "0", "console.off", value == 0);
                html_raw (&body, "</select>\n");
            } else {
                html_raw (&body, "<input type=\"number\" name=\"value\" id=\"value-");
                html_raw (&body, name);
                html_raw (&body, "\" min=\"");
                html_raw (&body, num[2]);
                html_raw (&body, "\" max=\"");
                html_raw (&body, num[3]);
                html_raw (&body, "\" value=\"");
                html_raw (&body, num[0]);
                html_raw (&body, "\">\n");
            }
            html_raw (&body, "<button type=\"submit\" id=\"save-");
            html_raw (&body, name);
            html_raw (&body, "\">");
            html_text (&body, s_msg (ctx, "console.save"));
            html_raw (&body,
                      "</button>\n<button type=\"submit\" class=\"secondary\" name=\"reset\" value=\"1\" "
                      "id=\"reset-");
            html_raw (&body, name);
            html_raw (&body, "\">");
            html_text (&body, s_msg (ctx, "console.settings.reset"));
            html_raw (&body, "</button>\n</form>\n");
            if (refused_name && !strcmp (refused_name, name)) {
                html_raw (&body, "<p class=\"error field-error\">");
                html_text (&body, s_msg (ctx, refused->err == OST_ERR_CONFLICT ? "console.stale"
                                                                               : "console.refused"));
                html_raw (&body, "</p>\n");
            }
            html_raw (&body, "</section>\n");
        }
    }
    int rc = s_send (ctx, refused ? (refused->err == OST_ERR_CONFLICT ? 409 : 400) : 200,
                     s_msg (ctx, "console.settings.title"), &body);
    json_decref (token);
    json_decref (flow);
    form_destroy (&q);
    return rc;
}

static int
s_settings (s_ctx_t *ctx, const char *rest, form_t *form)
{
    if (!*rest && !form)
        return s_settings_page (ctx, NULL, NULL);
    const char *name = rest[0] == '/' ? rest + 1 : "";
    const setting_def_t *def = form ? settings_def (settings_find (name)) : NULL;
    if (!def)
        return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    json_t *body = json_pack ("{s:s}", "name", name);
    if (form_get (form, "reset", 1))
        json_object_set_new (body, "value", json_null ());
    else {
        long long v = s_form_int (form, "value");
        json_object_set_new (body, "value", v >= 0 ? json_integer (v) : json_integer (-1));
    }
    long long expected = s_form_int (form, "expected");
    if (expected >= 0)
        json_object_set_new (body, "expected", json_integer (expected));
    char op[32];
    snprintf (op, sizeof op, "%s.settings_set", def->service);
    json_t *result = NULL;
    bus_error_t e;
    int rc;
    if (s_call (ctx, op, body, &result, &e) == 0)
        rc = s_see_other (ctx, CONSOLE_PATH "/settings?done=saved");
    else if (e.err == OST_ERR_CONFLICT || e.err == OST_ERR_INVALID_REQUEST)
        rc = s_settings_page (ctx, &e, name);
    else
        rc = s_fail (ctx, &e);
    json_decref (result);
    return rc;
}

//  ------------------------------------------------------------- audit

//  "YYYY-MM-DDTHH:MM[:SS]" (an <input type=datetime-local>, read as UTC)
//  into seconds since the epoch; -1 when malformed.
static long long
s_time (const char *text)
{
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    const char *end = text ? strptime (text, "%Y-%m-%dT%H:%M", &tm) : NULL;
    if (end && *end == ':')
        end = strptime (end, ":%S", &tm);
    if (!end || *end)
        return -1;
    return (long long)timegm (&tm);
}

static void
s_filter (html_t *body, s_ctx_t *ctx, const char *id, const char *key, const char *type, const char *value)
{
    html_raw (body, "<div>");
    s_input (body, ctx, id, key, type, value);
    html_raw (body, "</div>\n");
}

static int
s_audit (s_ctx_t *ctx)
{
    form_t *q = s_query (ctx);
    const char *service = s_param (q, "service");
    if (!service || (strcmp (service, "flow") && strcmp (service, "keys")))
        service = "token";
    const char *client = s_param (q, "client");
    json_t *filter = json_pack ("{s:i}", "limit", client ? AUDIT_SCAN_LIMIT : AUDIT_LIMIT);
    const char *v;
    if ((v = s_param (q, "event")))
        json_object_set_new (filter, "event", json_string (v));
    if ((v = s_param (q, "subject")))
        json_object_set_new (filter, "subject", json_string (v));
    int bad = 0;
    static const char *const times[] = {"since", "until"};
    for (size_t i = 0; i < 2; i++)
        if ((v = s_param (q, times[i]))) {
            long long t = s_time (v);
            if (t < 0)
                bad = 1;
            else
                json_object_set_new (filter, times[i], json_integer (t));
        }
    long long cursor = s_param (q, "cursor") ? s_form_int (q, "cursor") : 0;
    if (cursor > 0)
        json_object_set_new (filter, "cursor", json_integer (cursor));
    json_t *items = json_array ();
    json_t *result = NULL;
    bus_error_t e;
    int failed = 0, more = 0;
    long long last_id = 0;
    char op[32];
    snprintf (op, sizeof op, "%s.audit_list", service);
    //  The services filter by event, subject and time; the client filter is
    //  applied here, over as many pages of the trail as it takes to fill
    //  this one (at most AUDIT_SCAN_PAGES).
    for (int pages = 0; !bad && pages < (client ? AUDIT_SCAN_PAGES : 1); pages++) {
        json_decref (result);
        result = NULL;
        if (s_call (ctx, op, json_incref (filter), &result, &e) != 0) {
            failed = 1;
            break;
        }
        const json_t *events = json_object_get (result, "events");
        size_t i;
        json_t *ev;
        more = 0;
        json_array_foreach (events, i, ev)
        {
            if (json_array_size (items) >= AUDIT_LIMIT) {
                more = 1;
                break;
            }
            last_id = json_integer_value (json_object_get (ev, "id"));
            const char *c = s_get (ev, "client_id");
            if (!client || (c && !strcmp (c, client)))
                json_array_append (items, ev);
        }
        size_t asked = client ? AUDIT_SCAN_LIMIT : AUDIT_LIMIT;
        if (!more)
            more = json_array_size (events) == asked;
        if (!more || json_array_size (items) >= AUDIT_LIMIT)
            break;
        json_object_set_new (filter, "cursor", json_integer (last_id));
    }
    json_decref (filter);
    json_decref (result);
    int rc;
    if (failed && e.err != OST_ERR_INVALID_REQUEST && e.err != OST_ERR_UNKNOWN_OP) {
        rc = s_fail (ctx, &e);
        json_decref (items);
        form_destroy (&q);
        return rc;
    }
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_msg (ctx, "console.audit.title"));
    if (bad)
        s_notice (&body, s_msg (ctx, "console.audit.bad_time"), 1);
    else if (failed && e.err == OST_ERR_UNKNOWN_OP)
        s_notice (&body, s_msg (ctx, "console.keys.unavailable"), 1);
    else if (failed)
        s_refusal (&body, ctx, &e);
    char action[2048];
    s_url (ctx, CONSOLE_PATH "/audit", action, sizeof action);
    html_raw (&body, "<form method=\"get\" id=\"audit-filter\" action=\"");
    html_text (&body, action);
    html_raw (&body, "\">\n<div class=\"filters\">\n<div>");
    s_label (&body, ctx, "service", "console.audit.service");
    html_raw (&body, "<select id=\"service\" name=\"service\">\n");
    s_option (&body, ctx, "token", "console.audit.service.token", !strcmp (service, "token"));
    s_option (&body, ctx, "flow", "console.audit.service.flow", !strcmp (service, "flow"));
    s_option (&body, ctx, "keys", "console.audit.service.keys", !strcmp (service, "keys"));
    html_raw (&body, "</select></div>\n");
    s_filter (&body, ctx, "event", "console.audit.event", "text", s_param (q, "event"));
    s_filter (&body, ctx, "subject", "console.audit.subject", "text", s_param (q, "subject"));
    s_filter (&body, ctx, "client", "console.audit.client", "text", client);
    s_filter (&body, ctx, "since", "console.audit.since", "datetime-local", s_param (q, "since"));
    s_filter (&body, ctx, "until", "console.audit.until", "datetime-local", s_param (q, "until"));
    html_raw (&body, "</div>\n");
    s_button (&body, ctx, "filter", "console.audit.filter", NULL);
    html_raw (&body, "</form>\n<p><small>");
    html_text (&body, s_msg (ctx, "console.audit.times_utc"));
    html_raw (&body, "</small></p>\n<div class=\"table\"><table id=\"events\">\n<thead><tr>");
    static const char *const heads[] = {
        "console.audit.time",   "console.audit.event",   "console.audit.actor",  "console.audit.subject",
        "console.audit.client", "console.audit.outcome", "console.audit.details"};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        html_raw (&body, "<th>");
        html_text (&body, s_msg (ctx, heads[i]));
        html_raw (&body, "</th>");
    }
    html_raw (&body, "</tr></thead>\n<tbody>\n");
    size_t i;
    json_t *ev;
    json_array_foreach (items, i, ev)
    {
        html_raw (&body, "<tr class=\"event\"><td>");
        html_text (&body, s_get (ev, "time"));
        html_raw (&body, "</td><td class=\"event-name\">");
        html_text (&body, s_get (ev, "event"));
        html_raw (&body, "</td><td>");
        html_text (&body, s_get (ev, "actor"));
        html_raw (&body, "</td><td class=\"event-subject\">");
        html_text (&body, s_get (ev, "subject"));
        html_raw (&body, "</td><td>");
        html_text (&body, s_get (ev, "client_id"));
        html_raw (&body, "</td><td>");
        html_text (&body, s_get (ev, "outcome"));
        html_raw (&body, "</td><td class=\"details\">");
        char *details = json_dumps (json_object_get (ev, "details"), JSON_COMPACT | JSON_SORT_KEYS);
        html_text (&body, details);
        free (details);
        html_raw (&body, "</td></tr>\n");
    }
    html_raw (&body, "</tbody></table></div>\n");
    if (!json_array_size (items)) {
        html_raw (&body, "<p id=\"none\">");
        html_text (&body, s_msg (ctx, "console.none"));
        html_raw (&body, "</p>\n");
    }
    if (more && last_id > 0) {
        //  The next page: the same filters, after the last event read.
        char url[2048];
        snprintf (url, sizeof url, CONSOLE_PATH "/audit?service=%s&cursor=%lld", service, last_id);
        static const char *const keep[] = {"event", "subject", "client", "since", "until"};
        for (size_t k = 0; k < 5; k++)
            if ((v = s_param (q, keep[k])) && *url) {
                size_t len = strlen (url);
                snprintf (url + len, sizeof url - len, "&%s=", keep[k]);
                s_append_enc (url, sizeof url, v);
            }
        html_raw (&body, "<p><a id=\"next-page\" href=\"");
        s_href (&body, ctx, url);
        html_raw (&body, "\">");
        html_text (&body, s_msg (ctx, "console.next_page"));
        html_raw (&body, "</a></p>\n");
    }
    rc = s_send (ctx, bad ? 400 : 200, s_msg (ctx, "console.audit.title"), &body);
    json_decref (items);
    form_destroy (&q);
    return rc;
}

//  ------------------------------------------------------------- keys

static void
s_cell (html_t *body, const char *text)
{
    html_raw (body, "<td>");
    html_text (body, text);
    html_raw (body, "</td>");
}

static const char *
s_num (const json_t *v, char *out, size_t size)
{
    if (!json_is_integer (v))
        return "";
    snprintf (out, size, "%lld", (long long)json_integer_value (v));
    return out;
}

//  GET /admin/keys: keys-svc's status, its keys, a planned (or emergency)
//  rotation and the retirement of a key, through keys.admin_call.
static int
s_keys_page (s_ctx_t *ctx)
{
    json_t *status = NULL, *list = NULL;
    bus_error_t e;
    if (s_call (ctx, "keys.key_status", json_object (), &status, &e) != 0)
        //  A keys-svc without the admin envelope: its admin socket only.
        return e.err == OST_ERR_UNKNOWN_OP
                   ? s_message_page (ctx, 200, "console.keys.title", "console.keys.unavailable", 0)
                   : s_fail (ctx, &e);
    if (s_call (ctx, "keys.key_list", json_object (), &list, &e) != 0) {
        json_decref (status);
        return s_fail (ctx, &e);
    }
    form_t *q = s_query (ctx);
    const json_t *st = json_object_get (status, "status");
    const json_t *cfg = json_object_get (st, "settings");
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_msg (ctx, "console.keys.title"));
    s_done (&body, ctx, q);
    char num[32];
    html_raw (&body, "<div class=\"table\"><table id=\"key-status\">\n");
    s_row (&body, ctx, "console.keys.replica", s_get (st, "replica"), NULL);
    html_raw (&body, "<tr><th scope=\"row\">");
    html_text (&body, s_msg (ctx, "console.keys.signing"));
    html_raw (&body, "</th><td id=\"signing-algs\">");
    s_join (&body, json_object_get (st, "signing_algs"), " ");
    html_raw (&body, "</td></tr>\n");
    s_row (&body, ctx, "console.keys.published", s_num (json_object_get (st, "published"), num, sizeof num),
           NULL);
    s_row (&body, ctx, "console.keys.rotate_days",
           s_num (json_object_get (cfg, "rotate_days"), num, sizeof num), NULL);
    s_row (&body, ctx, "console.keys.publish_delay",
           s_num (json_object_get (cfg, "publish_delay"), num, sizeof num), NULL);
    html_raw (&body, "</table></div>\n<h2>");
    html_text (&body, s_msg (ctx, "console.keys.list"));
    html_raw (&body, "</h2>\n<div class=\"table\"><table id=\"keys\">\n");
    static const char *const heads[] = {"console.keys.kid",
                                        "console.keys.alg",
                                        "console.keys.state",
                                        "console.keys.created",
                                        "console.keys.signing_from",
                                        "console.keys.retire_after",
                                        NULL};
    s_heads (&body, ctx, heads, sizeof heads / sizeof heads[0]);
    //  Every key that is not retired, then the latest retired ones.
    const json_t *keys = json_object_get (list, "keys");
    size_t retired = 0, n = json_array_size (keys);
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t i = n; i-- > 0;) {
            const json_t *k = json_array_get (keys, i);
            const char *state = s_get (k, "state") ? s_get (k, "state") : "";
            int is_retired = !strcmp (state, "retired");
            if ((pass == 0) == is_retired || (is_retired && ++retired > 10))
                continue;
            html_raw (&body, "<tr class=\"key key-");
            html_text (&body, state);
            html_raw (&body, "\"><td><code>");
            html_text (&body, s_get (k, "kid"));
            html_raw (&body, "</code></td>");
            s_cell (&body, s_get (k, "alg"));
            s_cell (&body, state);
            s_cell (&body, s_get (k, "created"));
            s_cell (&body, s_get (k, "activated") ? s_get (k, "activated") : s_get (k, "activate_after"));
            s_cell (&body, s_get (k, "retire_after") ? s_get (k, "retire_after") : s_get (k, "retired"));
            html_raw (&body, "<td>");
            if (!strcmp (state, "next") || !strcmp (state, "retiring")) {
                char path[256] = CONSOLE_PATH "/keys/retire?kid=";
                s_append_enc (path, sizeof path, s_get (k, "kid"));
                html_raw (&body, "<a class=\"button secondary\" id=\"retire-");
                html_text (&body, s_get (k, "kid"));
                html_raw (&body, "\" href=\"");
                s_href (&body, ctx, path);
                html_raw (&body, "\">");
                html_text (&body, s_msg (ctx, "console.keys.retire"));
                html_raw (&body, "</a>");
            }
            html_raw (&body, "</td></tr>\n");
        }
    html_raw (&body, "</tbody></table></div>\n<h2>");
    html_text (&body, s_msg (ctx, "console.keys.rotate.title"));
    html_raw (&body, "</h2>\n<p>");
    html_text (&body, s_msg (ctx, "console.keys.rotate.text"));
    html_raw (&body, "</p>\n");
    s_form (&body, ctx, CONSOLE_PATH "/keys/rotate", NULL);
    s_label (&body, ctx, "alg", "console.keys.alg");
    html_raw (&body, "<select id=\"alg\" name=\"alg\">\n");
    s_option (&body, ctx, "", "console.keys.rotate.all", 1);
    size_t i;
    json_t *alg;
    json_array_foreach (json_object_get (cfg, "algs"), i, alg)
    {
        html_raw (&body, "<option value=\"");
        html_text (&body, json_string_value (alg));
        html_raw (&body, "\">");
        html_text (&body, json_string_value (alg));
        html_raw (&body, "</option>\n");
    }
    html_raw (&body, "</select>\n");
    s_checkbox (&body, ctx, "now", "console.keys.rotate.now", 0);
    s_button (&body, ctx, "rotate", "console.keys.rotate.button", NULL);
    html_raw (&body, "</form>\n");
    int rc = s_send (ctx, 200, s_msg (ctx, "console.keys.title"), &body);
    json_decref (status);
    json_decref (list);
    form_destroy (&q);
    return rc;
}

//  The result of a rotation or a retirement, with keys-svc's warning.
static int
s_keys_result (s_ctx_t *ctx, const char *title_key, const json_t *result, const json_t *rotated)
{
    html_t body;
    html_init (&body);
    s_open (&body, ctx, s_msg (ctx, title_key));
    if (s_get (result, "warning"))
        s_notice (&body, s_get (result, "warning"), 1);
    if (rotated) {
        html_raw (&body, "<div class=\"table\"><table id=\"rotated\">\n");
        static const char *const heads[] = {"console.keys.alg", "console.keys.kid", "console.keys.state",
                                            "console.keys.activate_in", "console.keys.replaces"};
        s_heads (&body, ctx, heads, sizeof heads / sizeof heads[0]);
        size_t i;
        json_t *k;
        char num[32];
        json_array_foreach (rotated, i, k)
        {
            html_raw (&body, "<tr class=\"rotated\">");
            s_cell (&body, s_get (k, "alg"));
            s_cell (&body, s_get (k, "kid"));
            s_cell (&body, s_get (k, "state"));
            s_cell (&body, s_num (json_object_get (k, "activate_in"), num, sizeof num));
            s_cell (&body, s_get (k, "replaces") ? s_get (k, "replaces") : s_get (k, "retired"));
            html_raw (&body, "</tr>\n");
        }
        html_raw (&body, "</tbody></table></div>\n");
    } else {
        html_raw (&body, "<p id=\"retired-kid\"><code>");
        html_text (&body, s_get (result, "kid"));
        html_raw (&body, "</code> · ");
        html_text (&body, s_get (result, "from"));
        html_raw (&body, " → ");
        html_text (&body, s_get (result, "state"));
        html_raw (&body, "</p>\n");
    }
    html_raw (&body, "<p><a class=\"button\" id=\"continue\" href=\"");
    s_href (&body, ctx, CONSOLE_PATH "/keys");
    html_raw (&body, "\">");
    html_text (&body, s_msg (ctx, "console.continue"));
    html_raw (&body, "</a></p>\n");
    return s_send (ctx, 200, s_msg (ctx, title_key), &body);
}

static int
s_keys (s_ctx_t *ctx, const char *rest, form_t *form)
{
    json_t *result = NULL;
    bus_error_t e;
    int rc;
    if (!*rest && !form)
        return s_keys_page (ctx);
    if (!strcmp (rest, "/retire") && !form) {
        //  The confirmation says what retiring the key costs.
        form_t *q = s_query (ctx);
        const char *kid = s_param (q, "kid");
        if (!kid || !s_id_ok (kid, "._~-")) {
            form_destroy (&q);
            return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
        }
        html_t body;
        html_init (&body);
        s_open (&body, ctx, s_msg (ctx, "console.keys.retire.title"));
        html_raw (&body, "<p class=\"error\" role=\"alert\" id=\"retire-warning\">");
        html_text_with (&body, s_msg (ctx, "console.keys.retire.text"), "kid", kid, "code");
        html_raw (&body, "</p>\n");
        s_form (&body, ctx, CONSOLE_PATH "/keys/retire", NULL);
        html_raw (&body, "<input type=\"hidden\" name=\"kid\" value=\"");
        html_text (&body, kid);
        html_raw (&body, "\">\n");
        s_button (&body, ctx, "confirm-retire", "console.keys.retire", "danger");
        html_raw (&body, "</form>\n<p><a id=\"cancel\" href=\"");
        s_href (&body, ctx, CONSOLE_PATH "/keys");
        html_raw (&body, "\">");
        html_text (&body, s_msg (ctx, "console.cancel"));
        html_raw (&body, "</a></p>\n");
        form_destroy (&q);
        return s_send (ctx, 200, s_msg (ctx, "console.keys.retire.title"), &body);
    }
    if (!form)
        return s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    if (!strcmp (rest, "/rotate")) {
        json_t *body = json_object ();
        const char *alg = form_get (form, "alg", 1);
        if (alg)
            json_object_set_new (body, "alg", json_string (alg));
        if (form_get (form, "now", 1))
            json_object_set_new (body, "now", json_true ());
        if (s_call (ctx, "keys.key_rotate", body, &result, &e) != 0)
            return s_fail (ctx, &e);
        const json_t *rotation = json_object_get (result, "rotation");
        rc = s_keys_result (ctx, "console.keys.rotated", rotation, json_object_get (rotation, "keys"));
    } else if (!strcmp (rest, "/retire")) {
        const char *kid = form_get (form, "kid", 1);
        if (s_call (ctx, "keys.key_retire", json_pack ("{s:s}", "kid", kid ? kid : ""), &result, &e) != 0)
            return s_fail (ctx, &e);
        rc = s_keys_result (ctx, "console.keys.retired", json_object_get (result, "retirement"), NULL);
    } else
        rc = s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
    json_decref (result);
    return rc;
}

//  ------------------------------------------------------------- dispatch

int
console_route (gw_req_t *req)
{
    const char *rest = req->path + strlen (CONSOLE_PATH);
    if (*rest && *rest != '/')
        return pages_no_route (req, 404, NULL);
    s_ctx_t *ctx = calloc (1, sizeof *ctx);
    if (!ctx)
        return pages_error (req, 503, "Error", "out of memory", NULL);
    ctx->req = req;
    int get = !strcmp (req->method, "GET") || req->head;
    int post = !strcmp (req->method, "POST");
    int rc;
    form_t *form = NULL;
    if (!strcmp (rest, "/"))
        rest = "";
    if (!get && !post) {
        rc = pages_no_route (req, 405, "GET, HEAD, POST");
        goto done;
    }
    if (!s_enabled (req)) {
        rc = s_message_page (ctx, 404, "console.off.title", "console.off.text", 0);
        goto done;
    }
    if (get && !strcmp (rest, "/login")) {
        rc = s_login (ctx);
        goto done;
    }
    if (get && !strcmp (rest, "/callback")) {
        rc = s_callback (ctx);
        goto done;
    }
    ctx->session = s_session_load (req);
    if (post) {
        form = s_read_form (ctx);
        if (!form) {
            rc = req->status;
            goto done;
        }
        //  Every form of the console carries the session's CSRF token; a
        //  POST without the session or the token changes nothing.
        if (!ctx->session || !s_csrf_ok (ctx, form)) {
            json_decref (ctx->session);
            ctx->session = NULL;
            rc = s_message_page (ctx, 403, "console.csrf.title", "console.csrf.text", 1);
            goto done;
        }
    }
    if (!ctx->session) {
        //  Not signed in: a page asks to sign in; the console's own address
        //  goes straight to the sign-in.
        if (!*rest) {
            char url[PAGES_MAX_LOCATION];
            s_url (ctx, CONSOLE_PATH "/login", url, sizeof url);
            rc = pages_redirect (req, 302, url, &ctx->headers);
        } else
            rc = s_message_page (ctx, 401, "console.signin.title", "console.signin.text", 1);
        goto done;
    }
    if (s_refresh (ctx) != 0) {
        s_session_drop (ctx);
        rc = s_message_page (ctx, 401, "console.expired.title", "console.expired.text", 1);
        goto done;
    }
    if (post && !strcmp (rest, "/logout"))
        rc = s_logout (ctx);
    else if (!*rest)
        rc = s_see_other (ctx, CONSOLE_PATH "/clients");
    else if (!strncmp (rest, "/clients", 8) && (rest[8] == '\0' || rest[8] == '/')) {
        ctx->section = "clients";
        rc = s_clients (ctx, rest + 8, form);
    } else if (!strncmp (rest, "/users", 6) && (rest[6] == '\0' || rest[6] == '/')) {
        ctx->section = "users";
        rc = s_users (ctx, rest + 6, form);
    } else if (!strncmp (rest, "/settings", 9) && (rest[9] == '\0' || rest[9] == '/')) {
        ctx->section = "settings";
        rc = s_settings (ctx, rest + 9, form);
    } else if (get && !strcmp (rest, "/audit")) {
        ctx->section = "audit";
        rc = s_audit (ctx);
    } else if (!strncmp (rest, "/keys", 5) && (rest[5] == '\0' || rest[5] == '/')) {
        ctx->section = "keys";
        rc = s_keys (ctx, rest + 5, form);
    } else
        rc = s_message_page (ctx, 404, "console.not_found.title", "console.not_found.text", 0);
done:
    form_destroy (&form);
    json_decref (ctx->session);
    free (ctx);
    return rc;
}
