/*  pages - the gateway's HTML: a small growing buffer whose only way to add
 *  untrusted text escapes it, the one stylesheet (/static/ostiary.css), the
 *  page frame, and the headers every HTML answer carries:
 *    Content-Security-Policy   default-src 'none'; style-src 'self';
 *                              form-action 'self' [origin]; frame-ancestors 'none'; base-uri 'none'
 *    X-Frame-Options: DENY, X-Content-Type-Options: nosniff,
 *    Referrer-Policy: no-referrer, Cache-Control: no-store, Pragma: no-cache.
 *  Also the cookies of the gateway (bounded parsing of Cookie, Set-Cookie
 *  with HttpOnly, SameSite=Lax, Path=/ and Secure when the issuer is https)
 *  and the other helpers the browser-facing handlers share. */
#ifndef OST_GW_PAGES_H
#define OST_GW_PAGES_H

#include "form.h"
#include "http.h"

#include <stddef.h>

//  Longest Location we send (http.c keeps header values below 4096 bytes).
#define PAGES_MAX_LOCATION 4000
//  Longest cookie value we accept or set (flow-svc's handles are 43 bytes).
#define PAGES_MAX_COOKIE 256
//  Cookie names.
#define COOKIE_SESSION "ostiary_session"
#define COOKIE_FLOW "ostiary_flow"
#define COOKIE_DEMO "ostiary_demo"
//  The authorization request a registration started from (GET
//  /register?request=ID), to continue to once the account exists.
#define COOKIE_RETURN "ostiary_return"

//  A growing NUL-terminated buffer of markup. After a failed allocation
//  every later call does nothing and html_failed says so.
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} html_t;

void html_init (html_t *self);
void html_free (html_t *self);
int html_failed (const html_t *self);
//  Markup we wrote ourselves (string literals): appended as is.
void html_raw (html_t *self, const char *markup);
//  Anything else: HTML-escaped (& < > " '), so it is safe in text and in
//  quoted attribute values.
void html_text (html_t *self, const char *text);

//  The text of message key (i18n.h) in the request's language.
const char *pages_msg (const gw_req_t *req, const char *key);
//  The product's name: the theme's (OSTIARY_THEME_DIR), else the
//  catalogue's "product" in the request's language.
const char *pages_product (const gw_req_t *req);
//  Appends text escaped, with its placeholder {name} replaced by value,
//  escaped too, inside <tag> when tag is not NULL ("strong", or "strong
//  id=\"x\"": markup we wrote). Other placeholders stay as written.
void html_text_with (html_t *self, const char *text, const char *name, const char *value, const char *tag);
//  The request's language becomes the first of ui_locales (OpenID Connect
//  Core §3.1.2.1) a catalogue serves; none served leaves it as it is.
void pages_use_lang (gw_req_t *req, const char *ui_locales);

//  Response headers collected by a handler (cookies, Location), values
//  copied. At most PAGES_MAX_EXTRA of them.
#define PAGES_MAX_EXTRA 6
typedef struct {
    http_header_t list[PAGES_MAX_EXTRA];
    char value[PAGES_MAX_EXTRA][PAGES_MAX_LOCATION + 96];
    size_t count;
} pages_headers_t;

void pages_headers_add (pages_headers_t *self, const char *name, const char *value);
//  Set-Cookie: name=value; Path=/; Max-Age=max_age; HttpOnly; SameSite=Lax
//  [; Secure when the issuer is https]. max_age 0 deletes the cookie;
//  max_age < 0 leaves Max-Age out (a browser-session cookie).
void pages_set_cookie (pages_headers_t *self, const gw_req_t *req, const char *name, const char *value,
                       long max_age);

//  The value of cookie name from the request's Cookie headers (RFC 6265
//  §5.4 syntax), copied into out. Only values of at most PAGES_MAX_COOKIE
//  characters from [A-Za-z0-9._~-] count (our cookies hold base64url
//  handles): anything else is as if absent. 0 found, -1 absent.
int pages_get_cookie (const gw_req_t *req, const char *name, char *out, size_t size);
//  The same for a cookie of ours that may be longer (the admin console's
//  sealed session): values of at most size - 1 characters count.
int pages_get_long_cookie (const gw_req_t *req, const char *name, char *out, size_t size);
//  The same over one Cookie header value ("a=1; b=2", RFC 6265 §4.2.1).
int pages_find_cookie (const char *header, const char *name, char *out, size_t size);

//  issuer + path into out (no doubled '/'). 0, or -1 when it does not fit.
OST_WUR int pages_url (const gw_req_t *req, const char *path, char *out, size_t size);
//  The CSP source of uri's origin: "https://host[:port]" for http(s) URIs,
//  "scheme:" for others (native apps' private-use schemes, RFC 8252 §7.1).
//  0, or -1 when uri has characters a CSP source cannot hold safely.
OST_WUR int pages_csp_origin (const char *uri, char *out, size_t size);

typedef struct {
    //  An extra form-action source (pages_csp_origin), or NULL.
    const char *form_action;
    //  A script-src source such as 'sha256-...', or NULL (no script at all).
    const char *script_src;
    //  frame-src sources (space-separated origins), or NULL: no frame.
    const char *frame_src;
    pages_headers_t *headers; //  extra headers (cookies), or NULL
    //  > 0: the page reloads itself after that many seconds (a waiting
    //  page: <meta http-equiv="refresh">, no script needed).
    int refresh;
    //  With refresh: the page goes there instead of reloading itself.
    const char *refresh_url;
} pages_opts_t;

//  Sends a whole HTML page: the frame (title, stylesheet, brand) around
//  body, with the security headers above. Returns the status sent; a failed
//  body buffer answers a plain 500 page instead.
int pages_send (gw_req_t *req, int status, const char *title, const html_t *body, const pages_opts_t *opts);
//  The start of a page's body: <main> (with class main_class when not
//  NULL), the product's name, and title as its heading when not NULL.
void pages_open (html_t *body, const gw_req_t *req, const char *main_class, const char *title);
//  An error page: title and message are escaped. Never a redirect.
int pages_error (gw_req_t *req, int status, const char *title, const char *message, pages_headers_t *headers);
//  A 400 page for a request refused for reason (proto/page_errors.def, the
//  page_error of token.authorize and token.logout_check): the catalogue's
//  "error.page.<reason>" and the reason's code.
int pages_refused (gw_req_t *req, const char *title, const char *reason, pages_headers_t *headers);
//  A 400 page for a form or query string form_parse refused: the
//  catalogue's "error.form.<code>" (form_status_code) and the code.
int pages_form_error (gw_req_t *req, const char *title, form_status_t status, pages_headers_t *headers);

//  1 when an Accept header value prefers HTML: text/html or
//  application/xhtml+xml with a q above that of application/json (what a
//  browser's navigation sends), else 0 (API clients, */*, no header).
int pages_accepts_html (const char *accept);
//  An error for a path or method the route table does not serve (404, or
//  405 with allow as Allow): an HTML page when the request's Accept prefers
//  HTML, else the JSON error of every API endpoint.
int pages_no_route (gw_req_t *req, int status, const char *allow);
//  The answer to a request body refused with status (http_take_body's: 413
//  too large, 408 too slow, 400 incomplete, 503 out of memory): a page in
//  the request's language when its Accept prefers HTML, else the JSON error
//  (http_send_body_error). 413 and 408 close the connection either way.
int pages_body_refused (gw_req_t *req, int status);
//  431 for a request with more headers than civetweb keeps (some may be
//  lost): a page when its Accept prefers HTML, else the JSON error.
int pages_too_many_headers (gw_req_t *req);
//  The error page of a failed bus call: the catalogue's sentence of the
//  error's OAuth code ("error.oauth.<code>") and the code (the service's
//  English description is for API clients), with the HTTP status of the
//  error (5xx and transport codes as "temporarily unavailable").
int pages_bus_error (gw_req_t *req, const bus_error_t *error, pages_headers_t *headers);
//  The start of a page's POST form to path (made absolute with pages_url)
//  and its hidden csrf input (RFC 6749 §10.12).
void pages_form_open (html_t *body, gw_req_t *req, const char *path, const char *csrf);
//  An expired or unknown flow: an error page ("Sign-in expired") that also
//  drops the flow cookie.
int pages_flow_expired (gw_req_t *req, pages_headers_t *headers);
//  A bus call of a flow page: 0 and *result, or -1 after answering with a
//  page. A flow that is gone (OST_ERR_INVALID_FLOW), or a request that is
//  (invalid_request from token.request_get), is the user's dead end, not a
//  server fault: pages_flow_expired; any other error: pages_bus_error.
int pages_flow_call (gw_req_t *req, const char *op, const json_t *body, json_t **result,
                     pages_headers_t *headers);
//  A redirect (302, or 303 after a POST: RFC 9700 §4.12) to location, with
//  the page security headers and headers; location must be below
//  PAGES_MAX_LOCATION bytes (else a 500 page).
int pages_redirect (gw_req_t *req, int status, const char *location, pages_headers_t *headers);

//  Content-Type is application/x-www-form-urlencoded (parameters such as
//  charset allowed). 1 yes, 0 no.
int pages_is_form (const gw_req_t *req);
//  Reads the request body (at most OSTIARY_HTTP_MAX_BODY bytes) and parses
//  it as a form within limits. Returns the form, or NULL after answering
//  (a body refused: pages_body_refused; a form refused: a 400 page or JSON
//  error as html says): the handler then
//  returns req->status. The raw body is wiped.
form_t *pages_read_form (gw_req_t *req, const form_limits_t *limits, int html);
//  The form of an HTML page's POST: a 400 page when the request is not
//  application/x-www-form-urlencoded, else pages_read_form (html). NULL
//  after answering.
form_t *pages_read_html_form (gw_req_t *req, const form_limits_t *limits);

//  The CSRF token of a form that acts on the SSO session itself (logout,
//  the account's sessions): base64url(SHA-256("ostiary " purpose "\n" ||
//  handle)), 43 characters. Only the holder of the session cookie can
//  compute it, it dies with the session, it reveals nothing of the handle
//  and differs from the handle's stored hash. 0, or -1 when hashing failed.
#define PAGES_CSRF_CHARS 43
OST_WUR int pages_session_csrf (const char *handle, const char *purpose, char out[PAGES_CSRF_CHARS + 1]);

//  GET /static/ostiary.css
int pages_css (gw_req_t *req);

#endif
