/*  http - the gateway's civetweb glue: the server, its pool of bus clients,
 *  one request context per HTTP request and the response helpers every
 *  handler uses. Only the gateway knows HTTP; handlers turn a request into
 *  bus calls and render the answer with these helpers, so that X-Request-Id,
 *  caching headers, escaping and the bus error → HTTP mapping live in one
 *  place. */
#ifndef OST_GW_HTTP_H
#define OST_GW_HTTP_H

#include "bus_client.h"
#include "bus_pool.h"
#include "cidr.h"
#include "config.h"
#include "ost.h"
#include "trace.h"
#include <jansson.h>
#include <stddef.h>

struct mg_connection;
typedef struct _jwks_cache_t jwks_cache_t;
typedef struct _cors_t cors_t;
typedef struct _i18n_t i18n_t;
typedef struct _theme_t theme_t;

//  What every handler can reach: the configuration and the gateway's shared
//  state. Owned by main; lives as long as the HTTP server.
typedef struct {
    const config_t *cfg;
    jwks_cache_t *jwks;
    cors_t *cors;   //  the registered browser origins (cors.h)
    i18n_t *i18n;   //  the pages' message catalogues (i18n.h)
    theme_t *theme; //  the operator's brand (theme.h)
} gw_t;

//  One HTTP request being served, on the civetweb worker thread serving it.
typedef struct {
    struct mg_connection *conn;
    gw_t *gw;
    bus_pool_t *bus;    //  the server's bus clients (http_bus_call takes one per call)
    const char *method; //  as received ("GET", "POST", ...)
    const char *path;   //  raw path, no query string, not decoded
    const char *query;  //  raw query string or NULL
    //  Sent as X-Request-Id and logged: the client's X-Request-Id when sane, else the trace id.
    char request_id[TRACE_REQUEST_ID_MAX + 1];
    trace_ctx_t trace;                  //  this request's span: the trace's id, ours, the caller's
    char client_ip[CIDR_ADDR_TEXT_MAX]; //  the client's address (http_client_ip)
    int route;                          //  index in the route table, -1 while unrouted
    int head;                           //  HEAD request: headers only, never a body
    int status;                         //  status of the response sent, 0 before
    int body_started;                   //  http_read_body has begun reading the body
    int sent_continue;                  //  an interim 100 Continue went out
    //  CORS (cors.h): the Access-Control-Allow-Origin value to send (the
    //  request's own Origin header, or "*"), NULL for none; cors_vary adds
    //  Vary: Origin (the answer depends on the Origin header).
    const char *cors_allow_origin;
    int cors_vary;
    //  The language of the pages this request answers (a tag of gw->i18n):
    //  Accept-Language's, else English; a page of an authorization request
    //  or a flow sets the one they carry (pages_use_lang).
    const char *lang;
} gw_req_t;

//  An extra response header. Values are cleaned (see http_clean_header_value).
typedef struct {
    const char *name;
    const char *value;
} http_header_t;

typedef struct _http_server_t http_server_t;

//  What the server asks of the route table (routes.h). main passes it in,
//  so the server does not depend on the routes it serves.
typedef struct {
    int (*dispatch) (gw_req_t *req); //  answers req; returns the status sent
    const char *(*name) (int route); //  metrics and log name, "none" for -1
    int (*quiet) (int route);        //  1: successes logged at debug level
} http_router_t;

//  Starts civetweb on cfg->http_listen with cfg->http_threads workers, which
//  share a pool of bus clients to the broker, every request answered through
//  router (copied). NULL (after logging why) when the server cannot start.
//  Stop with http_server_destroy, before the broker goes.
http_server_t *http_server_new (gw_t *gw, const http_router_t *router);
//  The drain, before http_server_destroy: stops accepting connections (the
//  listening sockets close; civetweb's own stop would also fail every write
//  of the requests it holds) and waits up to timeout_ms until no request is
//  being handled. 0 when none is left, -1 at the deadline.
int http_server_drain (http_server_t *self, int timeout_ms);
void http_server_destroy (http_server_t **self_p);

//  Sends a complete response and returns status. content_type and
//  cache_control may be NULL (no header). Every response carries
//  X-Request-Id, traceresponse (W3C Trace Context Level 2: our trace id and
//  span id) and X-Content-Type-Options: nosniff; a 503 without a
//  Retry-After in extra gets "Retry-After: 1". After the first call on
//  a request, later calls send nothing and return the status already sent.
int http_send (gw_req_t *req, int status, const char *content_type, const char *cache_control,
               const http_header_t *extra, size_t extra_count, const void *body, size_t body_len);
//  Serializes json (not consumed) with jansson, which escapes every string,
//  and sends it as application/json. JSON is never built by printf.
int http_send_json (gw_req_t *req, int status, const json_t *json, const char *cache_control,
                    const http_header_t *extra, size_t extra_count);
//  RFC 6749 §5.2 error body {"error","error_description"} of err (an entry
//  of proto/errors.def) with Cache-Control: no-store, err's HTTP status and,
//  when its entry has one, Retry-After. The description is cleaned to the
//  RFC 6749 character set.
int http_send_error (gw_req_t *req, ost_err_t err, const char *description);
//  The same with a status of HTTP's own instead of err's (405, 408, 413,
//  431, ...: refusals of the request as HTTP, which carry invalid_request)
//  and extra headers (at most 3).
int http_send_error_status (gw_req_t *req, int status, ost_err_t err, const char *description,
                            const http_header_t *extra, size_t extra_count);
//  The JSON error of a request body refused with status (http_take_body's):
//  413 too large and 408 too slow (both with Connection: close), 503 out of
//  memory, anything else 400 incomplete.
int http_send_body_error (gw_req_t *req, int status);
//  413 for a request body above the limit, with Connection: close.
int http_send_too_large (gw_req_t *req);
//  Calls op on a client of the bus pool with the op's deadline from
//  proto/ops.def, so no request waits longer than that; counts failures in
//  the metrics. Returns as bus_client_call (0 and *result, or -1 and *error).
OST_WUR int http_bus_call (gw_req_t *req, const char *op, const json_t *body, json_t **result,
                           bus_error_t *error);
//  The client's address: the TCP peer, or when the peer is inside
//  OSTIARY_TRUSTED_PROXIES the right-most address of its X-Forwarded-For /
//  Forwarded hops that is not itself a trusted proxy (common/forwarded.h).
//  What the gateway passes on as client_ip (the login throttle, the audit)
//  and logs. Never NULL.
const char *http_client_ip (const gw_req_t *req);
//  The HTTP answer to an error of the bus, the one mapping every endpoint
//  uses (JSON or page): code, status and Retry-After of the errors.def
//  entry named in the error's http column (proto_err_http); the error's own
//  description, except where our internal code became server_error (its
//  detail is logged, not sent); a 5xx without one gets a fixed sentence.
typedef struct {
    const char *code;
    int status;
    int retry_after;         //  seconds, 0 = no Retry-After
    const char *description; //  never NULL
} http_error_t;
http_error_t http_bus_error_answer (const bus_error_t *error);
//  Sends http_bus_error_answer (error) as an OAuth error body (NULL error:
//  server_error).
int http_send_bus_error (gw_req_t *req, const bus_error_t *error);

//  Reads the request body, at most max bytes, into a new NUL-terminated
//  buffer (*body, *len; caller frees). A declared Content-Length above max is
//  refused before anything is read; a chunked body is counted as it is read.
//  Returns 0, or -1 after answering (413 too large, 408 too slow, 400
//  incomplete, 503 out of memory): the handler then returns req->status.
OST_WUR int http_read_body (gw_req_t *req, size_t max, char **body, size_t *len);
//  The same without answering a refusal: returns 0, or the status of the
//  answer the caller owes (413, 408, 400 or 503: http_send_body_error, or a
//  page for a browser, pages_body_refused).
OST_WUR int http_take_body (gw_req_t *req, size_t max, char **body, size_t *len);

//  Copies in to out (size out_size > 0, always NUL-terminated), keeping only
//  the characters RFC 6749 allows in error and error_description
//  (%x20-21 / %x23-5B / %x5D-7E); each run of other bytes becomes one space.
//  Returns the length written.
size_t http_clean_header_value (const char *in, char *out, size_t out_size);
//  A new string with & < > " ' replaced by HTML entities; NULL on failure.
OST_WUR char *http_html_escape (const char *in);

//  RFC 6750 §2.1: the credentials of "Authorization: Bearer b64token". 1 with
//  the token in out (size bytes with the NUL), 0 no bearer credentials (no
//  Authorization header, or another scheme), -1 a malformed or too long token.
int http_bearer_token (gw_req_t *req, char *out, size_t size);
//  The same over an Authorization header value (NULL: no header).
int http_bearer_parse (const char *header, char *out, size_t size);

#endif
