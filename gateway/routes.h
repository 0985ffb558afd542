/*  routes - the gateway's HTTP routes: one static table of method + exact
 *  path → handler (routes.c), and the handlers it points to, each defined in
 *  the file of its concern. A handler answers through the helpers of http.h
 *  and returns the status it sent. */
#ifndef OST_GW_ROUTES_H
#define OST_GW_ROUTES_H

#include "http.h"

typedef int (*route_fn) (gw_req_t *req);

//  Answers req: refuses oversized requests, finds the route for method and
//  exact path (unknown path → 404, known path but other method → 405 with
//  Allow) and calls its handler. Returns the status sent.
int routes_dispatch (gw_req_t *req);
//  Number of routes, and the metrics/log name of route i ("none" for -1 or
//  out of range).
size_t routes_count (void);
const char *routes_name (int route);
//  1 when route i is a probe (health, readiness) whose successes are logged at
//  debug level only.
int routes_quiet (int route);

//  admin_api.c: every method and path under /admin/api/ (the admin API)
int admin_api (gw_req_t *req);
//  console.c: every method and path under /admin but the API (the admin
//  console, docs/admin/console.md)
int console_route (gw_req_t *req);
//  discovery.c: GET /.well-known/openid-configuration
int discovery_get (gw_req_t *req);
//  jwks.c: GET /jwks
int jwks_get (gw_req_t *req);
//  health.c: GET /healthz (the process answers) and GET /readyz (every
//  service has a live worker)
int health_live (gw_req_t *req);
int health_ready (gw_req_t *req);
//  authorize.c: GET and POST /authorize (OpenID Connect Core §3.1.2)
int authorize_get (gw_req_t *req);
int authorize_post (gw_req_t *req);
//  flow_pages.c: the page of the flow in the ostiary_flow cookie, at
//  /login (login flows, as /authorize sends them) and /flow (any flow)
int login_get (gw_req_t *req);
int login_post (gw_req_t *req);
int flow_get (gw_req_t *req);
int flow_post (gw_req_t *req);
//  flow_pages.c: start pages (flow.start, flow cookie, 303 to /flow):
//  GET /register, /recover, /account/verify-email, /account/totp (the last
//  two need the SSO session)
int register_get (gw_req_t *req);
int register_continue_get (gw_req_t *req);
int recover_get (gw_req_t *req);
int verify_email_get (gw_req_t *req);
int account_totp_get (gw_req_t *req);
//  account_sessions.c: the signed-in user's SSO sessions
int account_sessions_get (gw_req_t *req);
int account_sessions_post (gw_req_t *req);
//  action.c: GET /action (confirm page of a magic link, consumes nothing),
//  POST /action (consumes it), POST /flows/callback (webhook callback)
int action_get (gw_req_t *req);
int action_post (gw_req_t *req);
int flows_callback_post (gw_req_t *req);
//  action.c: the body of a webhook callback (len bytes of JSON, duplicate
//  members refused): the object when it is {"outcome": "success"|"failure"
//  [, "data": {…}]}, else NULL. Caller json_decref()s.
json_t *flows_callback_parse (const char *raw, size_t len);
//  login.c: the consent page and the account chooser
int consent_get (gw_req_t *req);
int consent_post (gw_req_t *req);
int select_account_get (gw_req_t *req);
int select_account_post (gw_req_t *req);
//  token.c: POST /token (RFC 6749 §3.2)
//  logout.c: the end-session endpoint (RP-Initiated Logout 1.0)
int logout_get (gw_req_t *req);
int logout_post (gw_req_t *req);
int token_post (gw_req_t *req);
//  token.c: the client credentials of an Authorization header value (RFC
//  6749 §2.3.1 Basic). 1 with *basic ({"client_id","client_secret"}, caller
//  json_decref()s), 0 when header is NULL, -1 when it is malformed or of
//  another scheme.
int token_basic_parse (const char *header, json_t **basic);
//  token.c: POST /revoke (RFC 7009 §2) and POST /introspect (RFC 7662 §2),
//  with the client authentication of /token
int revoke_post (gw_req_t *req);
int introspect_post (gw_req_t *req);
//  userinfo.c: GET and POST /userinfo (OpenID Connect Core §5.3, RFC 6750)
int userinfo_get (gw_req_t *req);
int userinfo_post (gw_req_t *req);
//  pages.c: GET /static/ostiary.css
int pages_css (gw_req_t *req);
//  demo.c: the demo relying party, development mode only
int demo_page (gw_req_t *req);
int demo_login (gw_req_t *req);
int demo_callback (gw_req_t *req);
//  1 in development mode while the demo client's secret file is configured
//  but cannot be read yet (/readyz is not ready until it can), else 0.
int demo_pending (const config_t *cfg);

#endif
