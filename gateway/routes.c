/*  routes - the gateway's route table and its dispatch. See routes.h.
 *  Adding an endpoint is one line in s_routes; nothing else looks at paths. */
#include "routes.h"

#include "cors.h"
#include "pages.h"
#include "theme.h"

#include <civetweb.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *method;
    const char *path; //  matched exactly, byte for byte
    route_fn handler;
    const char *name; //  label in metrics and logs
    int quiet;        //  probes: successes logged at debug level
    int prefix;       //  path is a prefix, and every method goes to handler
} route_t;

static const route_t s_routes[] = {
    //  discovery and keys (OpenID Connect Discovery 1.0, RFC 8414, RFC 7517)
    {"GET", "/.well-known/openid-configuration", discovery_get, "discovery", 0, 0},
    {"GET", "/.well-known/oauth-authorization-server", discovery_get, "discovery_oauth", 0, 0},
    {"GET", "/jwks", jwks_get, "jwks", 0, 0},
    //  CORS preflights (the Fetch standard) of the endpoints browser
    //  applications call (cors.h); each its own name, as metrics label
    //  every route by name
    {"OPTIONS", "/.well-known/openid-configuration", cors_preflight, "preflight_discovery", 0, 0},
    {"OPTIONS", "/.well-known/oauth-authorization-server", cors_preflight, "preflight_discovery_oauth", 0, 0},
    {"OPTIONS", "/jwks", cors_preflight, "preflight_jwks", 0, 0},
    {"OPTIONS", "/token", cors_preflight, "preflight_token", 0, 0},
    {"OPTIONS", "/revoke", cors_preflight, "preflight_revoke", 0, 0},
    {"OPTIONS", "/introspect", cors_preflight, "preflight_introspect", 0, 0},
    {"OPTIONS", "/userinfo", cors_preflight, "preflight_userinfo", 0, 0},
    //  authorization: the authorization endpoint and its login, consent and
    //  account-chooser pages (RFC 6749 §3.1, OpenID Connect Core §3.1.2)
    {"GET", "/authorize", authorize_get, "authorize_get", 0, 0},
    {"POST", "/authorize", authorize_post, "authorize_post", 0, 0},
    {"GET", "/login", login_get, "login_get", 0, 0},
    {"POST", "/login", login_post, "login_post", 0, 0},
    {"GET", "/consent", consent_get, "consent_get", 0, 0},
    {"POST", "/consent", consent_post, "consent_post", 0, 0},
    {"GET", "/select-account", select_account_get, "select_account_get", 0, 0},
    {"POST", "/select-account", select_account_post, "select_account_post", 0, 0},
    //  logout: the end-session endpoint (OpenID Connect RP-Initiated Logout 1.0)
    {"GET", "/logout", logout_get, "logout_get", 0, 0},
    {"POST", "/logout", logout_post, "logout_post", 0, 0},
    //  tokens: issue, revoke, introspect (RFC 6749 §3.2, RFC 7009, RFC 7662)
    {"POST", "/token", token_post, "token", 0, 0},
    {"POST", "/revoke", revoke_post, "revoke", 0, 0},
    {"POST", "/introspect", introspect_post, "introspect", 0, 0},
    //  userinfo (OpenID Connect Core §5.3)
    {"GET", "/userinfo", userinfo_get, "userinfo_get", 0, 0},
    {"POST", "/userinfo", userinfo_post, "userinfo_post", 0, 0},
    //  flows: the flow engine's pages, action tokens and webhook callbacks
    {"GET", "/flow", flow_get, "flow_get", 0, 0},
    {"POST", "/flow", flow_post, "flow_post", 0, 0},
    {"GET", "/register", register_get, "register", 0, 0},
    {"GET", "/register/continue", register_continue_get, "register_continue", 0, 0},
    {"GET", "/recover", recover_get, "recover", 0, 0},
    {"GET", "/account/verify-email", verify_email_get, "verify_email", 0, 0},
    {"GET", "/account/totp", account_totp_get, "account_totp", 0, 0},
    {"GET", "/account/sessions", account_sessions_get, "account_sessions_get", 0, 0},
    {"POST", "/account/sessions", account_sessions_post, "account_sessions_post", 0, 0},
    {"GET", "/action", action_get, "action_get", 0, 0},
    {"POST", "/action", action_post, "action_post", 0, 0},
    {"POST", "/flows/callback", flows_callback_post, "flows_callback", 0, 0},
    //  pages' static files
    {"GET", "/static/ostiary.css", pages_css, "static", 1, 0},
    {"GET", "/theme/style.css", theme_css_get, "theme_css", 1, 0},
    {"GET", "/theme/logo", theme_logo_get, "theme_logo", 1, 0},
    //  the demo relying party (development mode only)
    {"GET", "/demo", demo_page, "demo", 0, 0},
    {"GET", "/demo/login", demo_login, "demo_login", 0, 0},
    {"GET", "/demo/callback", demo_callback, "demo_callback", 0, 0},
    //  the admin API (admin_api.c routes within it)
    {"*", "/admin/api/", admin_api, "admin_api", 0, 1},
    //  the admin console (console.c routes within it; after the API, which
    //  it does not serve)
    {"*", "/admin", console_route, "console", 0, 1},
    //  health (probes: successes logged at debug level); the metrics are
    //  served by the metrics listener (common/metrics_http.h), not here
    {"GET", "/healthz", health_live, "healthz", 1, 0},
    {"GET", "/readyz", health_ready, "readyz", 1, 0},
};

#define ROUTE_COUNT (sizeof s_routes / sizeof s_routes[0])

size_t
routes_count (void)
{
    return ROUTE_COUNT;
}

const char *
routes_name (int route)
{
    return route >= 0 && (size_t)route < ROUTE_COUNT ? s_routes[route].name : "none";
}

int
routes_quiet (int route)
{
    return route >= 0 && (size_t)route < ROUTE_COUNT ? s_routes[route].quiet : 0;
}

//  RFC 9110 §9.3.2: a HEAD is answered like the GET of the same resource.
static int
s_method_matches (const route_t *route, const char *method, int head)
{
    return strcmp (route->method, method) == 0 || (head && strcmp (route->method, "GET") == 0);
}

//  RFC 9110 §15.5.6: a 405 lists the methods the resource supports in Allow.
static void
s_allow (const char *path, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        if (strcmp (s_routes[i].path, path) != 0)
            continue;
        int n = snprintf (out + used, size - used, "%s%s%s", used ? ", " : "", s_routes[i].method,
                          strcmp (s_routes[i].method, "GET") == 0 ? ", HEAD" : "");
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

int
routes_dispatch (gw_req_t *req)
{
    const struct mg_request_info *ri = mg_get_request_info (req->conn);
    //  civetweb keeps at most MG_MAX_HEADERS headers and silently drops the
    //  rest; a request that reaches the limit may have lost some (even its
    //  framing headers), so it is refused rather than half read.
    //  Accept and Accept-Language, when kept, still choose page and language.
    if (ri->num_headers >= MG_MAX_HEADERS)
        return pages_too_many_headers (req);
    //  A declared body above the limit is refused before anything is read,
    //  whatever the route (a page for a browser, pages.h).
    if (ri->content_length > req->gw->cfg->http_max_body)
        return pages_body_refused (req, 413);

    int path_known = 0;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        if (s_routes[i].prefix && !strncmp (s_routes[i].path, req->path, strlen (s_routes[i].path))) {
            req->route = (int)i;
            return s_routes[i].handler (req);
        }
        if (strcmp (s_routes[i].path, req->path) != 0)
            continue;
        path_known = 1;
        if (s_method_matches (&s_routes[i], req->method, req->head)) {
            req->route = (int)i;
            return s_routes[i].handler (req);
        }
    }
    //  A browser gets a page, an API client the JSON error (pages.h).
    if (!path_known)
        return pages_no_route (req, 404, NULL);
    char allow[128];
    s_allow (req->path, allow, sizeof allow);
    return pages_no_route (req, 405, allow);
}
