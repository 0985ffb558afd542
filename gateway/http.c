/*  http - civetweb glue of the gateway. See http.h.
 *
 *  civetweb runs a fixed pool of worker threads. They share the server's
 *  pool of bus clients (bus_pool: a call takes one and gives it back; the
 *  pool's lock hands a ZeroMQ socket from one thread to the next). One
 *  catch-all request handler builds a gw_req_t and hands it to the route
 *  table; civetweb's own error answers (request line or headers too large,
 *  malformed requests) come through the http_error callback, so that they too
 *  are JSON and carry an X-Request-Id. */
#include "http.h"

#include "broker.h"
#include "cidr.h"
#include "conngate.h"
#include "forwarded.h"
#include "i18n.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "otlp.h"
#include "secure.h"
#include "stack_trim.h"

#include <civetweb.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

//  Request line plus headers civetweb buffers. civetweb 1.15 answers a
//  longer head with 400 ("Malformed message", through http_error) before our
//  handler runs, and closes the connection.
#define HTTP_MAX_REQUEST_HEAD "16384"
//  After the answer, unread body bytes we read and drop so that the client
//  sees the answer and the connection can be reused. Beyond this the
//  connection is closed instead: an oversized body must not keep a worker
//  thread busy reading it.
#define HTTP_DRAIN_MAX (1024 * 1024)
//  Longest error_description we send.
#define HTTP_DESCRIPTION_MAX 256
//  Retry-After (seconds) of a 503 whose sender gave none.
#define HTTP_RETRY_AFTER_DEFAULT "1"
//  X-Forwarded-For and Forwarded header lines read per request; a request
//  with more of either is taken from its TCP peer.
#define HTTP_MAX_FORWARDED_LINES 8

struct _http_server_t {
    struct mg_context *ctx;
    gw_t *gw;
    http_router_t router;
    cidr_set_t *trusted_proxies; //  OSTIARY_TRUSTED_PROXIES
    //  In-process clients of this gateway's broker (broker.h): no CURVE; the
    //  broker takes them for the gateway. As many are made as bus calls run
    //  at once, not one per worker thread: each would hold a socket and its
    //  pipes' buffers at both ends (~40 KiB) for hundreds of idle threads.
    bus_pool_t *bus;
    int gate_open; //  conngate counts this server's connections
    //  Set once the handlers are registered: civetweb accepts connections as
    //  soon as it starts, and a request before that would get its 404.
    atomic_int ready;
};

//  The request this thread is serving, so that the http_error callback knows
//  whether civetweb interrupts one of ours.
static _Thread_local gw_req_t *s_current;

static atomic_ullong s_fallback_ids;
//  Requests being handled now (http_server_drain waits for none).
static atomic_int s_in_flight;

static double
s_now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

//  A request id that never fails: random when the CSPRNG answers, a process
//  counter otherwise (ids only correlate logs; they guard nothing).
static void
s_new_request_id (char out[TRACE_REQUEST_ID_MAX + 1])
{
    if (secure_request_id (out) == 0)
        return;
    snprintf (out, TRACE_REQUEST_ID_MAX + 1, "%032llx",
              (unsigned long long)atomic_fetch_add (&s_fallback_ids, 1) + 1);
}

//  The request's place in a trace and its request id, made the thread's
//  trace context (so log lines and bus calls carry it). W3C Trace Context
//  §3.2: a valid traceparent makes our span a child of the caller's; an
//  invalid one, or more than one, is ignored and a trace starts here.
//  X-Request-Id is echoed when it is a sane token (trace_request_id_ok);
//  otherwise the request id is the trace id, which joins the logs of the
//  request by one value.
static void
s_trace_begin (gw_req_t *req)
{
    const struct mg_request_info *ri = req->conn ? mg_get_request_info (req->conn) : NULL;
    const char *traceparent = NULL, *request_id = NULL;
    int traceparents = 0;
    for (int i = 0; ri && i < ri->num_headers; i++) {
        const char *name = ri->http_headers[i].name;
        if (strcasecmp (name, "traceparent") == 0) {
            traceparent = ri->http_headers[i].value;
            traceparents++;
        } else if (strcasecmp (name, "X-Request-Id") == 0 && !request_id)
            request_id = ri->http_headers[i].value;
    }
    //  RFC 9110 §5.5: whitespace around a field value is not part of it.
    char value[TRACE_PARENT_LEN + 64];
    size_t len = 0;
    if (traceparent) {
        while (*traceparent == ' ' || *traceparent == '\t')
            traceparent++;
        len = strnlen (traceparent, sizeof value - 1);
        memcpy (value, traceparent, len);
        while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
            len--;
    }
    value[len] = '\0';
    trace_ctx_t incoming;
    int valid = traceparents == 1 && trace_parse (value, &incoming) == 0;
    if (trace_child (valid ? &incoming : NULL, &req->trace) != 0)
        memset (&req->trace, 0, sizeof req->trace);
    if (request_id && trace_request_id_ok (request_id))
        snprintf (req->request_id, sizeof req->request_id, "%s", request_id);
    else if (req->trace.trace_id[0])
        snprintf (req->request_id, sizeof req->request_id, "%s", req->trace.trace_id);
    else
        s_new_request_id (req->request_id);
    trace_set_current (&req->trace);
}

//  ---------------------------------------------------------------------------
//  Escaping and cleaning

size_t
http_clean_header_value (const char *in, char *out, size_t out_size)
{
    size_t o = 0;
    if (!out || out_size == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p && o + 1 < out_size; p++) {
        unsigned char c = *p;
        //  RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E,
        //  so it can sit inside a quoted-string (RFC 6750 §3) untouched.
        int allowed = (c >= 0x20 && c <= 0x21) || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
        char keep = allowed ? (char)c : ' ';
        //  Other bytes become spaces; spaces never lead and never repeat.
        if (keep == ' ' && (o == 0 || out[o - 1] == ' '))
            continue;
        out[o++] = keep;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    return o;
}

char *
http_html_escape (const char *in)
{
    if (!in)
        in = "";
    size_t need = 1;
    for (const char *p = in; *p; p++) {
        switch (*p) {
        case '&':
            need += 5;
            break;
        case '<':
        case '>':
            need += 4;
            break;
        case '"':
        case '\'':
            need += 5;
            break;
        default:
            need += 1;
        }
    }
    char *out = malloc (need);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = in; *p; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&#34;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            *o++ = *p;
            continue;
        }
        size_t n = strlen (rep);
        memcpy (o, rep, n);
        o += n;
    }
    *o = '\0';
    return out;
}

//  ---------------------------------------------------------------------------
//  Responses

//  RFC 9110 §5.6.7 IMF-fixdate of now.
static void
s_http_date (char *out, size_t size)
{
    time_t now = time (NULL);
    struct tm tm;
    if (!gmtime_r (&now, &tm) || strftime (out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        out[0] = '\0';
}

//  A header value is at most HTTP_MAX_HEADER_VALUE - 1 bytes: a Location
//  carries a redirect URI plus code, state and iss, and must never be cut
//  (callers check the length).
#define HTTP_MAX_HEADERS 16
#define HTTP_MAX_HEADER_VALUE 4096

//  Appends "name: value\r\n" to out at *len. Control bytes of the value (CR
//  and LF above all) become spaces, so no value can end a header line or
//  start a new one; it is cut at HTTP_MAX_HEADER_VALUE - 1 bytes. out has room
//  (see http_send).
static void
s_head_line (char *out, size_t *len, const char *name, const char *value)
{
    size_t n = strlen (name);
    memcpy (out + *len, name, n);
    *len += n;
    memcpy (out + *len, ": ", 2);
    *len += 2;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p && o + 1 < HTTP_MAX_HEADER_VALUE; p++, o++)
        out[*len + o] = (*p < 0x20 || *p == 0x7F) ? ' ' : (char)*p;
    *len += o;
    memcpy (out + *len, "\r\n", 2);
    *len += 2;
}

//  1 when the request's own Connection header lists token (RFC 9110 §7.6.1).
static int
s_connection_has (struct mg_connection *conn, const char *token)
{
    const char *value = mg_get_header (conn, "Connection");
    return value && strcasestr (value, token) != NULL;
}

int
http_send (gw_req_t *req, int status, const char *content_type, const char *cache_control,
           const http_header_t *extra, size_t extra_count, const void *body, size_t body_len)
{
    if (req->status)
        return req->status;
    req->status = status;
    struct mg_connection *conn = req->conn;
    //  civetweb's header API refuses -2 for a connection after a 100
    //  Continue went out (or a WebSocket upgrade request, which we never
    //  accept); the response is then ours alone, and the connection is
    //  closed after it, as civetweb would not know how it was framed.
    int started = req->sent_continue ? -2 : mg_response_header_start (conn, status);
    if (started != 0 && started != -2) {
        //  Something was sent on this request already: nothing sensible
        //  can follow.
        log_warn ("response %d not sent: the response was already started", status);
        return status;
    }
    //  Our own Date: civetweb 1.15 as Debian builds it formats its Date with
    //  gmtime(), whose static buffer the worker threads would share.
    char date[64], length[32];
    s_http_date (date, sizeof date);
    snprintf (length, sizeof length, "%zu", body_len);
    const char *names[HTTP_MAX_HEADERS + 10], *values[HTTP_MAX_HEADERS + 10];
    size_t count = 0;
    names[count] = "X-Request-Id", values[count++] = req->request_id;
    char traceresponse[TRACE_PARENT_LEN + 1];
    if (trace_format (&req->trace, traceresponse, sizeof traceresponse) == 0)
        names[count] = "traceresponse", values[count++] = traceresponse;
    names[count] = "X-Content-Type-Options", values[count++] = "nosniff";
    if (content_type)
        names[count] = "Content-Type", values[count++] = content_type;
    if (cache_control)
        names[count] = "Cache-Control", values[count++] = cache_control;
    int close = started == -2, has_connection = 0, has_retry_after = 0;
    for (size_t i = 0; i < extra_count && count < HTTP_MAX_HEADERS; i++) {
        if (!extra[i].name || !extra[i].value)
            continue;
        if (strcasecmp (extra[i].name, "Retry-After") == 0)
            has_retry_after = 1;
        if (strcasecmp (extra[i].name, "Connection") == 0) {
            if (close)
                continue;
            has_connection = 1;
            close = strcasecmp (extra[i].value, "close") == 0;
        }
        names[count] = extra[i].name, values[count++] = extra[i].value;
    }
    //  RFC 9110 §15.6.4: a 503 says when to come back. Every 503 of the
    //  gateway (JSON or page) passes here, so none goes out without one.
    if (status == 503 && !has_retry_after)
        names[count] = "Retry-After", values[count++] = HTTP_RETRY_AFTER_DEFAULT;
    //  CORS (gateway/cors.c): the Fetch standard's response headers, when
    //  the handler decided the origin may read this answer.
    if (req->cors_allow_origin)
        names[count] = "Access-Control-Allow-Origin", values[count++] = req->cors_allow_origin;
    if (req->cors_vary)
        names[count] = "Vary", values[count++] = "Origin";
    names[count] = "Content-Length", values[count++] = length;
    names[count] = "Date", values[count++] = date;
    //  RFC 9112 §9.3, §9.6: HTTP/1.1 connections persist unless either side
    //  says close; an HTTP/1.0 client's persist only when it asked for
    //  keep-alive. Say which, so that the client knows as civetweb does.
    const struct mg_request_info *ri = mg_get_request_info (conn);
    int http10 = ri && ri->http_version && strcmp (ri->http_version, "1.0") == 0;
    if (!has_connection) {
        if (!close)
            close = http10 ? !s_connection_has (conn, "keep-alive") : s_connection_has (conn, "close");
        if (close || http10)
            names[count] = "Connection", values[count++] = close ? "close" : "keep-alive";
    }
    if (close)
        mg_disable_keep_alive (conn);

    //  The whole response in one write: civetweb's header API
    //  writes every header line with its own send(2), and with TCP_NODELAY
    //  each became a TCP segment of its own: ten per response, most of the
    //  gateway's time on discovery and JWKS.
    int with_body = !req->head && body && body_len > 0;
    size_t cap = 64 + (with_body ? body_len : 0);
    for (size_t i = 0; i < count; i++)
        cap += strlen (names[i]) + 4 + HTTP_MAX_HEADER_VALUE;
    char *out = malloc (cap);
    if (!out) {
        mg_disable_keep_alive (conn);
        return status;
    }
    const char *text = mg_get_response_code_text (conn, status);
    int n = snprintf (out, cap, "HTTP/%s %d %s\r\n", http10 ? "1.0" : "1.1", status, text ? text : "");
    size_t len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    for (size_t i = 0; i < count; i++)
        s_head_line (out, &len, names[i], values[i]);
    memcpy (out + len, "\r\n", 2);
    len += 2;
    //  RFC 9110 §9.3.2: HEAD gets the headers GET would, without the content.
    if (with_body) {
        memcpy (out + len, body, body_len);
        len += body_len;
    }
    mg_write (conn, out, len);
    //  The body may hold tokens (RFC 6749 §5.1).
    secure_wipe (out, len);
    free (out);
    return status;
}

int
http_send_json (gw_req_t *req, int status, const json_t *json, const char *cache_control,
                const http_header_t *extra, size_t extra_count)
{
    size_t text_len = 0;
    char *text = json ? jsonw_dump (json, 0, &text_len) : NULL;
    if (!text) {
        log_error ("cannot serialize a JSON response");
        const err_def_t *def = proto_err (OST_ERR_SERVER_ERROR);
        char fallback[64];
        int n = snprintf (fallback, sizeof fallback, "{\"error\":\"%s\"}", def->code);
        return http_send (req, def->http_status, "application/json", "no-store", NULL, 0, fallback,
                          (size_t)n);
    }
    int rc = http_send (req, status, "application/json", cache_control, extra, extra_count, text, text_len);
    free (text);
    return rc;
}

static int
s_send_error (gw_req_t *req, int status, const char *code, const char *description, int retry_after,
              const http_header_t *more, size_t more_count)
{
    char clean_code[64], clean_desc[HTTP_DESCRIPTION_MAX];
    http_clean_header_value (code, clean_code, sizeof clean_code);
    http_clean_header_value (description, clean_desc, sizeof clean_desc);
    json_t *body = json_object ();
    json_object_set_new (body, "error", json_string (clean_code));
    if (clean_desc[0])
        json_object_set_new (body, "error_description", json_string (clean_desc));
    char seconds[16];
    http_header_t extra[4];
    size_t extra_count = 0;
    if (retry_after > 0) {
        snprintf (seconds, sizeof seconds, "%d", retry_after);
        extra[extra_count++] = (http_header_t){"Retry-After", seconds};
    }
    for (size_t i = 0; i < more_count && extra_count < sizeof extra / sizeof extra[0]; i++)
        extra[extra_count++] = more[i];
    //  RFC 6749 §5.1/§5.2: responses carrying errors (and tokens) are not cached.
    int rc = http_send_json (req, status, body, "no-store", extra, extra_count);
    json_decref (body);
    return rc;
}

int
http_send_error (gw_req_t *req, ost_err_t err, const char *description)
{
    const err_def_t *def = proto_err (err);
    return s_send_error (req, def->http_status, def->code, description, def->retry_after, NULL, 0);
}

int
http_send_error_status (gw_req_t *req, int status, ost_err_t err, const char *description,
                        const http_header_t *extra, size_t extra_count)
{
    const err_def_t *def = proto_err (err);
    return s_send_error (req, status, def->code, description,
                         status == def->http_status ? def->retry_after : 0, extra, extra_count);
}

int
http_send_body_error (gw_req_t *req, int status)
{
    //  The unread body is dropped (a bounded amount) or the connection
    //  closed after a 413 or 408; either way it is not reused.
    http_header_t close[] = {{"Connection", "close"}};
    switch (status) {
    case 413:
        return http_send_error_status (req, 413, OST_ERR_INVALID_REQUEST, "the request body is too large",
                                       close, 1);
    case 408:
        return http_send_error_status (req, 408, OST_ERR_INVALID_REQUEST,
                                       "the request body did not arrive in time", close, 1);
    case 503:
        return http_send_error (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "out of memory");
    default:
        return http_send_error (req, OST_ERR_INVALID_REQUEST, "the request body is incomplete or malformed");
    }
}

int
http_send_too_large (gw_req_t *req)
{
    return http_send_body_error (req, 413);
}

int
http_bus_call (gw_req_t *req, const char *op, const json_t *body, json_t **result, bus_error_t *error)
{
    *result = NULL;
    bus_client_t *client = bus_pool_take (req->bus);
    if (!client) {
        bus_error_set (error, OST_ERR_TEMPORARILY_UNAVAILABLE, "the gateway has no bus connection");
        metrics_inc (METRIC_GW_BUS_ERRORS, METRICS_L (proto_err (error->err)->code));
        return -1;
    }
    log_set_context (req->request_id, op);
    int rc = bus_client_call (client, op, body, 0, result, error);
    bus_pool_give (req->bus, client);
    if (rc)
        metrics_inc (METRIC_GW_BUS_ERRORS, METRICS_L (proto_err (error->err)->code));
    log_set_context (req->request_id, NULL);
    return rc;
}

http_error_t
http_bus_error_answer (const bus_error_t *error)
{
    ost_err_t err = error ? error->err : OST_ERR_SERVER_ERROR;
    const err_def_t *shown = proto_err_http (err);
    http_error_t answer = {shown->code, shown->http_status, shown->retry_after, ""};
    //  A code of ours that became server_error keeps its detail to the log.
    if (error && (shown->id != OST_ERR_SERVER_ERROR || err == OST_ERR_SERVER_ERROR))
        answer.description = error->description;
    if (answer.status >= 500 && !answer.description[0])
        answer.description = "the service could not answer";
    return answer;
}

int
http_send_bus_error (gw_req_t *req, const bus_error_t *error)
{
    http_error_t answer = http_bus_error_answer (error);
    log_warn ("bus error code=%s status=%d", proto_err (error ? error->err : OST_ERR_SERVER_ERROR)->code,
              answer.status);
    return s_send_error (req, answer.status, answer.code, answer.description, answer.retry_after, NULL, 0);
}

//  ---------------------------------------------------------------------------
//  Request bodies

static int
s_is_chunked (const struct mg_connection *conn)
{
    const char *te = mg_get_header (conn, "Transfer-Encoding");
    //  civetweb refused any transfer coding other than chunked and identity.
    return te && strcasecmp (te, "identity") != 0;
}

static int
s_expects_continue (const struct mg_connection *conn)
{
    const char *expect = mg_get_header (conn, "Expect");
    return expect && strcasecmp (expect, "100-continue") == 0;
}

int
http_take_body (gw_req_t *req, size_t max, char **body, size_t *len)
{
    const struct mg_request_info *ri = mg_get_request_info (req->conn);
    *body = NULL;
    *len = 0;
    int chunked = s_is_chunked (req->conn);
    long long declared = chunked ? -1 : ri->content_length;
    if (declared > 0 && (unsigned long long)declared > max) {
        return 413;
    }
    size_t cap = declared >= 0 ? (size_t)declared : (max < 4096 ? max : 4096);
    char *buf = malloc (cap + 1);
    if (!buf) {
        return 503;
    }
    if (declared != 0 && !req->body_started && s_expects_continue (req->conn) &&
        strcmp (ri->http_version ? ri->http_version : "", "1.1") == 0) {
        //  RFC 9110 §10.1.1: the client waits for this before sending the body.
        mg_printf (req->conn, "HTTP/1.1 100 Continue\r\n\r\n");
        req->sent_continue = 1;
    }
    req->body_started = 1;
    //  One read waits at most the head timeout (civetweb's
    //  request_timeout_ms); the whole body gets OSTIARY_HTTP_BODY_TIMEOUT_MS.
    double deadline = s_now_s () + (double)req->gw->cfg->http_body_timeout_ms / 1000.0;
    size_t used = 0;
    while (declared < 0 ? chunked : used < (size_t)declared) {
        if (s_now_s () > deadline) {
            free (buf);
            return 408;
        }
        if (used == cap) {
            //  Only a chunked body grows the buffer; one byte past max is
            //  enough to know it is too large.
            if (cap > max) {
                free (buf);
                return 413;
            }
            size_t grown = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *bigger = realloc (buf, grown + 1);
            if (!bigger) {
                free (buf);
                return 503;
            }
            buf = bigger;
            cap = grown;
        }
        int n = mg_read (req->conn, buf + used, cap - used);
        if (n == 0 && declared < 0)
            break;
        if (n <= 0) {
            free (buf);
            return 400;
        }
        used += (size_t)n;
    }
    if (used > max) {
        free (buf);
        return 413;
    }
    buf[used] = '\0';
    *body = buf;
    *len = used;
    return 0;
}

int
http_read_body (gw_req_t *req, size_t max, char **body, size_t *len)
{
    int status = http_take_body (req, max, body, len);
    if (status)
        http_send_body_error (req, status);
    return status ? -1 : 0;
}

//  After the answer: drops what is left of the body, a bounded amount, so
//  that the client reads our answer rather than a reset and the connection
//  can serve its next request; past the bound, or when the client still
//  waits for a 100 Continue we never sent, the connection is closed instead.
static void
s_finish_body (gw_req_t *req)
{
    const struct mg_request_info *ri = mg_get_request_info (req->conn);
    int chunked = s_is_chunked (req->conn);
    if (!chunked && ri->content_length <= 0)
        return;
    if ((!req->body_started && s_expects_continue (req->conn)) || req->status == 408) {
        mg_disable_keep_alive (req->conn);
        return;
    }
    char buf[8192];
    size_t drained = 0;
    double deadline = s_now_s () + (double)req->gw->cfg->http_body_timeout_ms / 1000.0;
    while (drained <= HTTP_DRAIN_MAX && s_now_s () <= deadline) {
        int n = mg_read (req->conn, buf, sizeof buf);
        if (n == 0 && req->status != 413)
            return;
        if (n == 0)
            break;
        if (n < 0)
            break;
        drained += (size_t)n;
    }
    //  mg_disable_keep_alive is Debian's civetweb addition: it marks the
    //  connection to be closed, so civetweb does not read the rest either.
    mg_disable_keep_alive (req->conn);
}

//  ---------------------------------------------------------------------------
//  civetweb callbacks

//  A pooled bus client unused this long after a burst is destroyed (its
//  socket and queues, ~90 KiB with the broker's end): long enough that steady
//  load at any level keeps its clients, short enough that a burst's extra
//  clients (a slow service holds one per waiting request) do not stay.
#define BUS_CLIENT_IDLE_MS 10000

//  A worker gives its stack back at most this often (s_connection_close).
#define STACK_TRIM_INTERVAL_MS 1000

//  civetweb hands connections to its worker threads in turn, so over time
//  every one of the hundreds of threads serves the deepest requests (pages
//  use ~60 KiB of stack) and would keep those pages while it waits: a
//  worker gives back the stack below its frame as each connection closes
//  (s_connection_close).
static void *
s_init_thread (const struct mg_context *ctx, int thread_type)
{
    OST_UNUSED (ctx);
    //  Type 1 is a worker serving connections; the master and timer threads
    //  never run handlers.
    if (thread_type == 1 && stack_trim_init () != 0)
        log_warn ("http worker: its stack bounds are unknown; its stack is not trimmed");
    return NULL;
}

static int
s_log_message (const struct mg_connection *conn, const char *message)
{
    OST_UNUSED (conn);
    log_warn ("civetweb: %s", message ? message : "");
    return 1;
}

//  civetweb closes a connection: its slot of the per-address cap is free.
static void
s_connection_close (const struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info (conn);
    const http_server_t *server = mg_get_user_data (mg_get_context (conn));
    if (ri && server && server->gate_open)
        conngate_release (ri->remote_addr);
    //  A worker thread (only those are initialised for it) between
    //  connections, at most once a second: under clients that close every
    //  connection a trim each time cost ~40 µs of CPU per request (discovery
    //  with Connection: close, 25,000 → 15,900 req/s).
    stack_trim_paced (0, STACK_TRIM_INTERVAL_MS);
}

//  The client of the request on conn into out: the TCP peer, or behind a
//  trusted proxy the address its forwarding headers name (forwarded.h).
static void
s_client_address (const http_server_t *server, const struct mg_connection *conn, char out[CIDR_ADDR_TEXT_MAX])
{
    const struct mg_request_info *ri = mg_get_request_info (conn);
    cidr_addr_t peer, client;
    if (!ri ||
        cidr_addr_parse (ri->remote_addr, strnlen (ri->remote_addr, sizeof ri->remote_addr), &peer) != 0) {
        snprintf (out, CIDR_ADDR_TEXT_MAX, "%.45s", ri ? ri->remote_addr : "");
        return;
    }
    const char *xff[HTTP_MAX_FORWARDED_LINES], *fwd[HTTP_MAX_FORWARDED_LINES];
    forwarded_headers_t headers = {.xff = xff, .forwarded = fwd};
    int too_many = 0;
    //  Headers are looked at only when the peer is a trusted proxy.
    for (int i = 0; cidr_set_contains (server->trusted_proxies, &peer) && i < ri->num_headers &&
                    (size_t)i < sizeof ri->http_headers / sizeof ri->http_headers[0];
         i++) {
        const char *name = ri->http_headers[i].name, *value = ri->http_headers[i].value;
        if (!name || !value)
            continue;
        if (strcasecmp (name, "X-Forwarded-For") == 0) {
            if (headers.xff_count == HTTP_MAX_FORWARDED_LINES)
                too_many = 1;
            else
                xff[headers.xff_count++] = value;
        } else if (strcasecmp (name, "Forwarded") == 0) {
            if (headers.forwarded_count == HTTP_MAX_FORWARDED_LINES)
                too_many = 1;
            else
                fwd[headers.forwarded_count++] = value;
        }
    }
    forwarded_client (server->trusted_proxies, &peer, too_many ? NULL : &headers, &client);
    if (cidr_addr_format (&client, out, CIDR_ADDR_TEXT_MAX) != 0)
        snprintf (out, CIDR_ADDR_TEXT_MAX, "%.45s", ri->remote_addr);
}

const char *
http_client_ip (const gw_req_t *req)
{
    return req->client_ip;
}

//  One answered request in the latency histogram, by route and status class.
static void
s_count_request (const char *route, int status, double seconds)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    const char *cls = status >= 100 && status <= 599 ? classes[status / 100 - 1] : "other";
    metrics_observe (METRIC_HTTP_REQUEST, METRICS_L (route, cls), seconds);
}

static void
s_finish (const http_server_t *server, gw_req_t *req, double started)
{
    double elapsed = s_now_s () - started;
    s_count_request (server->router.name (req->route), req->status, elapsed);
    log_level_t level = req->status >= 500 ? OST_LOG_WARN : OST_LOG_INFO;
    if (req->route >= 0 && req->status < 400 && server->router.quiet (req->route))
        level = OST_LOG_DEBUG;
    //  The access line: its fields are fields of the line (members in JSON),
    //  the path cut at LOG_FIELD_VALUE_MAX bytes.
    const log_field_t fields[] = {
        LOG_STR ("method", req->method ? req->method : "-"),
        LOG_STR ("path", req->path ? req->path : "-"),
        LOG_STR ("route", server->router.name (req->route)),
        LOG_INT ("status", req->status),
        LOG_NUM ("ms", elapsed * 1000.0),
        LOG_STR ("client", req->client_ip[0] ? req->client_ip : "-"),
    };
    log_fields (level, fields, sizeof fields / sizeof fields[0], "request");
}

//  The HTTP request's span (OpenTelemetry HTTP server conventions): named by
//  method and route, never by the raw path or query, which may hold codes
//  or tokens.
static void
s_span_end (const http_server_t *server, gw_req_t *req, otlp_span_t *span)
{
    const char *route = server->router.name (req->route);
    char name[OTLP_NAME_MAX];
    snprintf (name, sizeof name, "%s %s", req->method ? req->method : "-", route);
    otlp_span_name (span, name);
    otlp_span_str (span, "http.request.method", req->method);
    otlp_span_str (span, "http.route", route);
    otlp_span_int (span, "http.response.status_code", req->status);
    otlp_span_str (span, "ostiary.request_id", req->request_id);
    otlp_span_str (span, "client.address", req->client_ip);
    if (req->status >= 500)
        otlp_span_error (span, "server error");
    otlp_span_end (span);
}

//  What civetweb's own refusals become. The text civetweb offers may quote
//  the request (e.g. a bad HTTP version), so it is never sent back; these
//  fixed descriptions are.
static const struct {
    int status;
    ost_err_t err;
    const char *description;
} s_civetweb_errors[] = {
    //  civetweb 1.15 says 400 both for a malformed request and for a request
    //  line or headers larger than max_request_size.
    {400, OST_ERR_INVALID_REQUEST, "the request is malformed or its head is too large"},
    {404, OST_ERR_NOT_FOUND, "no such resource"},
    {405, OST_ERR_INVALID_REQUEST, "method not allowed"},
    {411, OST_ERR_INVALID_REQUEST, "the Content-Length is invalid"},
    {413, OST_ERR_INVALID_REQUEST, "the request line or headers are too large"},
    {414, OST_ERR_INVALID_REQUEST, "the request URI is too long"},
    {417, OST_ERR_INVALID_REQUEST, "the expectation cannot be met"},
    {431, OST_ERR_INVALID_REQUEST, "the request headers are too large"},
    {505, OST_ERR_INVALID_REQUEST, "the HTTP version is not supported"},
};

static int
s_http_error (struct mg_connection *conn, int status, const char *errmsg)
{
    if (s_current && s_current->conn == conn) {
        //  civetweb reports an error while one of our handlers runs: answer
        //  it as ours unless an answer went out already.
        if (!s_current->status)
            http_send_error_status (s_current, status,
                                    status >= 500 ? OST_ERR_SERVER_ERROR : OST_ERR_INVALID_REQUEST,
                                    status >= 500 ? "internal error" : "the request was refused", NULL, 0);
        return 0;
    }
    const struct mg_request_info *ri = mg_get_request_info (conn);
    const http_server_t *server = mg_get_user_data (mg_get_context (conn));
    gw_t *gw = server->gw;
    gw_req_t req = {.conn = conn, .gw = gw, .bus = server->bus, .route = -1};
    req.method = ri ? ri->request_method : NULL;
    //  The head may be incomplete or malformed: no header of it is read.
    if (trace_start (&req.trace) == 0)
        snprintf (req.request_id, sizeof req.request_id, "%s", req.trace.trace_id);
    else
        s_new_request_id (req.request_id);
    trace_set_current (&req.trace);
    log_set_context (req.request_id, NULL);
    ost_err_t err = status >= 500 ? OST_ERR_SERVER_ERROR : OST_ERR_INVALID_REQUEST;
    const char *description = status >= 500 ? "internal error" : "the request was refused";
    for (size_t i = 0; i < sizeof s_civetweb_errors / sizeof s_civetweb_errors[0]; i++)
        if (s_civetweb_errors[i].status == status) {
            err = s_civetweb_errors[i].err;
            description = s_civetweb_errors[i].description;
        }
    //  The head may be incomplete: the TCP peer is logged, never a header.
    log_warn ("request refused by civetweb status=%d reason=\"%.100s\" peer=%s", status, errmsg ? errmsg : "",
              ri ? ri->remote_addr : "-");
    //  The connection is not reused after civetweb refuses a request.
    http_header_t extra[] = {{"Connection", "close"}};
    char clean[HTTP_DESCRIPTION_MAX];
    http_clean_header_value (description, clean, sizeof clean);
    json_t *body = json_pack ("{s:s,s:s}", "error", proto_err (err)->code, "error_description", clean);
    req.head = req.method && strcmp (req.method, "HEAD") == 0;
    http_send_json (&req, status, body, "no-store", extra, 1);
    json_decref (body);
    s_count_request ("none", status, 0.0);
    log_set_context (NULL, NULL);
    trace_set_current (NULL);
    return 0;
}

//  The one request handler: every path comes here and goes through the
//  route table.
static int
s_handle (struct mg_connection *conn, void *cbdata)
{
    atomic_fetch_add (&s_in_flight, 1);
    double started = s_now_s ();
    const struct mg_request_info *ri = mg_get_request_info (conn);
    const http_server_t *server = cbdata;
    gw_req_t req = {.conn = conn, .gw = server->gw, .bus = server->bus, .route = -1};
    s_client_address (server, conn, req.client_ip);
    req.method = ri->request_method ? ri->request_method : "";
    //  decode_url is off: the path is compared byte for byte, as sent.
    req.path = ri->local_uri_raw ? ri->local_uri_raw : (ri->local_uri ? ri->local_uri : "");
    req.query = ri->query_string;
    req.head = strcmp (req.method, "HEAD") == 0;
    s_trace_begin (&req);
    log_set_context (req.request_id, NULL);
    req.lang = i18n_pick_accept (req.gw->i18n, mg_get_header (conn, "Accept-Language"));
    if (!req.lang)
        req.lang = "en";
    //  Without an exporter no span is built: this one branch is the cost.
    otlp_span_t span;
    int traced = otlp_enabled ();
    if (traced)
        otlp_span_begin (&span, "HTTP", OTLP_SERVER, &req.trace);
    s_current = &req;

    server->router.dispatch (&req);
    if (!req.status) {
        log_error ("route %s returned without an answer", server->router.name (req.route));
        http_send_error (&req, OST_ERR_SERVER_ERROR, "internal error");
    }
    s_finish_body (&req);
    s_finish (server, &req, started);

    s_current = NULL;
    if (traced)
        s_span_end (server, &req, &span);
    log_set_context (NULL, NULL);
    trace_set_current (NULL);
    atomic_fetch_sub (&s_in_flight, 1);
    return req.status;
}

//  ---------------------------------------------------------------------------
//  Server

//  Every route authenticates what it needs by itself (client
//  authentication, bearer tokens, the admin token). With no authorization
//  handler civetweb looks for a per-directory password file on every
//  request ("/.htpasswd" at the file system's root, as there is no document
//  root): one failed stat per request, and digest authentication in front
//  of every route the day such a file appears.
static int
s_authorize_all (struct mg_connection *conn, void *cbdata)
{
    OST_UNUSED (conn);
    OST_UNUSED (cbdata);
    return 1;
}

//  The port of a host:port listen address (config.c checked its form).
static unsigned
s_listen_port (const char *listen)
{
    const char *colon = strrchr (listen, ':');
    long port = colon ? strtol (colon + 1, NULL, 10) : 0;
    return port > 0 && port < 65536 ? (unsigned)port : 0;
}

//  Each pooled bus client holds a descriptor (its mailbox), up to one per
//  worker thread, and each connection one more: with hundreds of both, a
//  soft limit of 1024 would make accept(2) fail. The soft limit goes up to
//  the hard one.
static void
s_raise_fd_limit (long threads)
{
    struct rlimit lim;
    if (getrlimit (RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == lim.rlim_max)
        return;
    rlim_t was = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit (RLIMIT_NOFILE, &lim) != 0)
        log_warn ("http: cannot raise the open file limit from %llu", (unsigned long long)was);
    if (lim.rlim_cur < (rlim_t)(threads * 3))
        log_warn ("http: the open file limit (%llu) is low for %ld threads and their connections",
                  (unsigned long long)lim.rlim_cur, threads);
}

//  civetweb's first look at every request: until the handlers are in
//  place, the answer is 503 temporarily_unavailable with Retry-After (what
//  a client retries), never the 404 civetweb would give for a path that has
//  no handler yet.
static int
s_begin_request (struct mg_connection *conn)
{
    const http_server_t *server = mg_get_user_data (mg_get_context (conn));
    if (server && atomic_load (&((http_server_t *)server)->ready))
        return 0;
    const err_def_t *err = proto_err (OST_ERR_TEMPORARILY_UNAVAILABLE);
    char body[160];
    int len = snprintf (body, sizeof body,
                        "{\"error\":\"%s\",\"error_description\":\"the gateway is starting\"}", err->code);
    mg_printf (
        conn,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
        "Retry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
        err->retry_after > 0 ? err->retry_after : 1, len, body);
    return 503;
}

http_server_t *
http_server_new (gw_t *gw, const http_router_t *router)
{
    http_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->gw = gw;
    self->router = *router;
    s_raise_fd_limit (gw->cfg->http_threads);
    const char *why = NULL;
    self->trusted_proxies = cidr_set_new (gw->cfg->trusted_proxies, &why);
    if (!self->trusted_proxies) {
        log_error ("http: OSTIARY_TRUSTED_PROXIES: %s", why ? why : "invalid");
        free (self);
        return NULL;
    }
    //  A worker thread holds at most one client at a time.
    self->bus = bus_pool_new (BROKER_LOCAL_ENDPOINT, (size_t)gw->cfg->bus_max_msg, NULL,
                              (size_t)gw->cfg->http_threads, BUS_CLIENT_IDLE_MS);
    if (!self->bus) {
        log_error ("http: no memory for the bus clients");
        cidr_set_destroy (&self->trusted_proxies);
        free (self);
        return NULL;
    }
    //  Before civetweb listens, so that every connection it accepts is
    //  counted and each release matches a count.
    unsigned port = s_listen_port (gw->cfg->http_listen);
    if (port && conngate_open (port, (size_t)gw->cfg->http_max_conn_per_ip, self->trusted_proxies) == 0)
        self->gate_open = 1;
    else
        log_warn (
            "http: no per-address connection cap (the listen port is unknown or a cap is open already)");
    char threads[16], head_timeout[16], keep_alive[16];
    snprintf (threads, sizeof threads, "%ld", gw->cfg->http_threads);
    snprintf (head_timeout, sizeof head_timeout, "%ld", gw->cfg->http_header_timeout_ms);
    snprintf (keep_alive, sizeof keep_alive, "%ld", gw->cfg->http_keep_alive_ms);
    //  ARCHITECTURE.md: no document root (so no file is ever served), no
    //  directory listing, no WebSocket handler, bounded request head. URLs
    //  are not decoded so that routes match the path exactly as sent. The
    //  CORS settings are emptied so that civetweb does not answer preflights
    //  itself, without our headers.
    //  civetweb 1.15 serves one connection per worker thread: the head must
    //  arrive whole within request_timeout_ms of the worker starting to read
    //  it (keep_alive_timeout_ms for a connection's later requests), and
    //  each body read or response write waits at most request_timeout_ms.
    const char *options[] = {"listening_ports",
                             gw->cfg->http_listen,
                             "num_threads",
                             threads,
                             "enable_directory_listing",
                             "no",
                             "enable_keep_alive",
                             "yes",
                             "request_timeout_ms",
                             head_timeout,
                             "keep_alive_timeout_ms",
                             keep_alive,
                             "max_request_size",
                             HTTP_MAX_REQUEST_HEAD,
                             "decode_url",
                             "no",
                             "tcp_nodelay",
                             "1",
                             "access_control_allow_origin",
                             "",
                             "access_control_allow_methods",
                             "",
                             "access_control_allow_headers",
                             "",
                             NULL};
    struct mg_callbacks callbacks;
    memset (&callbacks, 0, sizeof callbacks);
    callbacks.init_thread = s_init_thread;
    callbacks.log_message = s_log_message;
    callbacks.http_error = s_http_error;
    callbacks.connection_close = s_connection_close;
    callbacks.begin_request = s_begin_request;

    mg_init_library (0);
    char error_text[256] = "";
    unsigned code = 0;
    struct mg_init_data init = {.callbacks = &callbacks, .user_data = self, .configuration_options = options};
    struct mg_error_data error = {.code = &code, .text = error_text, .text_buffer_size = sizeof error_text};
    self->ctx = mg_start2 (&init, &error);
    if (!self->ctx) {
        log_error ("http: cannot start on %s: %s", gw->cfg->http_listen,
                   error_text[0] ? error_text : "unknown error");
        mg_exit_library ();
        if (self->gate_open)
            conngate_close ();
        cidr_set_destroy (&self->trusted_proxies);
        bus_pool_destroy (&self->bus);
        free (self);
        return NULL;
    }
    //  The authorization handler first: no request reaches a route before it.
    mg_set_auth_handler (self->ctx, "/", s_authorize_all, NULL);
    mg_set_request_handler (self->ctx, "/", s_handle, self);
    atomic_store (&self->ready, 1);
    log_info (
        "http: listening on %s with %s threads, head timeout %s ms, at most %ld connections per address, "
        "%zu trusted proxy block(s)",
        gw->cfg->http_listen, threads, head_timeout, gw->cfg->http_max_conn_per_ip,
        cidr_set_count (self->trusted_proxies));
    return self;
}

//  The local TCP port of a listening socket fd, 0 when fd is not one.
static int
s_listening_port (int fd)
{
    int listening = 0, type = 0;
    socklen_t len = sizeof listening;
    if (getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
        return 0;
    len = sizeof type;
    if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        return 0;
    struct sockaddr_storage addr;
    len = sizeof addr;
    if (getsockname (fd, (struct sockaddr *)&addr, &len) != 0)
        return 0;
    if (addr.ss_family == AF_INET)
        return ntohs (((struct sockaddr_in *)&addr)->sin_port);
    if (addr.ss_family == AF_INET6)
        return ntohs (((struct sockaddr_in6 *)&addr)->sin6_port);
    return 0;
}

//  Closes civetweb's listening sockets under it: each fd is replaced
//  (dup2) by a UDP socket, which never reads, so the kernel refuses new
//  connections at once while civetweb's accept loop keeps a valid fd to
//  poll (and close at mg_stop). civetweb 1.15 has no call for this, and its
//  mg_stop makes every write fail at once. The bus's own listening socket
//  has another port and is left alone.
static int
s_stop_listening (http_server_t *self)
{
    struct mg_server_port ports[8];
    int nports = mg_get_server_ports (self->ctx, 8, ports);
    DIR *dir = nports > 0 ? opendir ("/proc/self/fd") : NULL;
    if (!dir)
        return -1;
    int closed = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        int fd = atoi (entry->d_name);
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9' || fd == dirfd (dir))
            continue;
        int port = s_listening_port (fd);
        for (int i = 0; port && i < nports; i++)
            if (ports[i].port == port) {
                int quiet = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (quiet >= 0 && dup2 (quiet, fd) == fd)
                    closed++;
                if (quiet >= 0)
                    close (quiet);
                break;
            }
    }
    closedir (dir);
    return closed;
}

int
http_server_drain (http_server_t *self, int timeout_ms)
{
    if (!self)
        return 0;
    int closed = s_stop_listening (self);
    if (closed > 0)
        log_info ("http: no longer accepting connections (%d listening sockets closed)", closed);
    else
        log_warn ("http: could not close the listening sockets; new connections are still taken");
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    double deadline = now.tv_sec + now.tv_nsec / 1e9 + timeout_ms / 1000.0;
    while (atomic_load (&s_in_flight) > 0) {
        clock_gettime (CLOCK_MONOTONIC, &now);
        if (now.tv_sec + now.tv_nsec / 1e9 >= deadline) {
            log_error ("http: %d requests still running at the drain deadline", atomic_load (&s_in_flight));
            return -1;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep (&pause, NULL);
    }
    return 0;
}

void
http_server_destroy (http_server_t **self_p)
{
    if (self_p && *self_p) {
        http_server_t *self = *self_p;
        //  Blocks until every worker has finished its request; each bus call
        //  has a deadline, so this ends.
        mg_stop (self->ctx);
        mg_exit_library ();
        if (self->gate_open)
            conngate_close ();
        cidr_set_destroy (&self->trusted_proxies);
        bus_pool_destroy (&self->bus);
        free (self);
        *self_p = NULL;
    }
}

//  RFC 6750 §2.1 (see http.h).
int
http_bearer_token (gw_req_t *req, char *out, size_t size)
{
    return http_bearer_parse (mg_get_header (req->conn, "Authorization"), out, size);
}

int
http_bearer_parse (const char *header, char *out, size_t size)
{
    if (!header)
        return 0;
    //  RFC 9110 §11.1: the scheme is case-insensitive. "Bearer" alone is
    //  bearer credentials without a token: malformed.
    if (strncasecmp (header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\0'))
        return 0;
    const char *token = header + 6;
    while (*token == ' ')
        token++;
    size_t len = strlen (token);
    while (len > 0 && token[len - 1] == ' ')
        len--;
    if (len == 0 || len >= size)
        return -1;
    //  b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    size_t i = 0;
    for (; i < len; i++) {
        char c = token[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
            break;
    }
    if (i == 0)
        return -1;
    for (size_t k = i; k < len; k++)
        if (token[k] != '=')
            return -1;
    memcpy (out, token, len);
    out[len] = '\0';
    return 1;
}
