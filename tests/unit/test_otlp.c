/*  Unit tests of the span exporter: spans and their attributes, the OTLP/HTTP
 *  JSON encoding (ids, parent links, times, kinds, status, resource), export
 *  to a collector (a one-shot HTTP receiver on a loopback port in a thread),
 *  and the bounded queue that drops and counts instead of waiting. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics.h"
#include "otlp.h"

#include <jansson.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TID "0af7651916cd43dd8448eb211c80319c"
#define SID "b7ad6b7169203331"
#define PID "00f067aa0ba902b7"

static trace_ctx_t
s_ctx (void)
{
    trace_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    strcpy (ctx.trace_id, TID);
    strcpy (ctx.span_id, SID);
    strcpy (ctx.parent_id, PID);
    ctx.flags = 1;
    return ctx;
}

static void
test_otlp_span_records_name_ids_attributes_and_status (void **state)
{
    (void)state;
    trace_ctx_t ctx = s_ctx ();
    otlp_span_t span;
    otlp_span_begin (&span, "token.token", OTLP_SERVER, &ctx);
    otlp_span_str (&span, "rpc.method", "token.token");
    otlp_span_int (&span, "http.response.status_code", 200);
    otlp_span_str (&span, "http.request.method", "G\xc3\x28T\n");
    for (int i = 0; i < OTLP_ATTRS_MAX; i++)
        otlp_span_str (&span, "extra", "ignored past the limit");
    otlp_span_error (&span, "invalid_grant");
    //  Not started: nothing is queued, nothing counted.
    assert_false (otlp_enabled ());
    otlp_span_end (&span);
    assert_int_equal (otlp_dropped (), 0);
    assert_string_equal (span.name, "token.token");
    assert_string_equal (span.ctx.span_id, SID);
    assert_int_equal (span.nattrs, OTLP_ATTRS_MAX);
    assert_true (span.attrs[1].is_int);
    //  Only printable ASCII is kept: the span always encodes as JSON.
    assert_string_equal (span.attrs[2].str_value, "G?(T?");
    otlp_span_name (&span, "POST\xff token");
    assert_string_equal (span.name, "POST? token");
    assert_int_equal (span.attrs[1].int_value, 200);
    assert_true (span.error);
    assert_string_equal (span.status_message, "invalid_grant");
    assert_true (span.end_ns >= span.start_ns && span.start_ns > 0);
}

static void
test_otlp_encode_is_the_otlp_json_mapping (void **state)
{
    (void)state;
    trace_ctx_t ctx = s_ctx ();
    otlp_span_t spans[2];
    otlp_span_begin (&spans[0], "POST /token", OTLP_SERVER, &ctx);
    otlp_span_int (&spans[0], "http.response.status_code", 200);
    otlp_span_end (&spans[0]);
    ctx.parent_id[0] = '\0';
    otlp_span_begin (&spans[1], "db", OTLP_CLIENT, &ctx);
    otlp_span_str (&spans[1], "db.system", "postgresql");
    otlp_span_error (&spans[1], "unavailable");
    otlp_span_end (&spans[1]);
    size_t len = 0;
    char *text = otlp_encode (spans, 2, "token-svc", &len);
    assert_non_null (text);
    assert_int_equal (len, strlen (text));
    json_error_t error;
    json_t *body = json_loads (text, JSON_REJECT_DUPLICATES, &error);
    if (!body)
        fail_msg ("not JSON: %s (%s)", text, error.text);
    free (text);
    json_t *rs = json_array_get (json_object_get (body, "resourceSpans"), 0);
    json_t *res = json_array_get (json_object_get (json_object_get (rs, "resource"), "attributes"), 0);
    assert_string_equal (json_string_value (json_object_get (res, "key")), "service.name");
    assert_string_equal (json_string_value (json_object_get (json_object_get (res, "value"), "stringValue")),
                         "token-svc");
    json_t *ss = json_array_get (json_object_get (rs, "scopeSpans"), 0);
    json_t *list = json_object_get (ss, "spans");
    assert_int_equal (json_array_size (list), 2);
    json_t *a = json_array_get (list, 0), *b = json_array_get (list, 1);
    assert_string_equal (json_string_value (json_object_get (a, "traceId")), TID);
    assert_string_equal (json_string_value (json_object_get (a, "spanId")), SID);
    assert_string_equal (json_string_value (json_object_get (a, "parentSpanId")), PID);
    assert_string_equal (json_string_value (json_object_get (a, "name")), "POST /token");
    assert_int_equal (json_integer_value (json_object_get (a, "kind")), 2);
    char start[24];
    snprintf (start, sizeof start, "%llu", (unsigned long long)spans[0].start_ns);
    assert_string_equal (json_string_value (json_object_get (a, "startTimeUnixNano")), start);
    json_t *attr = json_array_get (json_object_get (a, "attributes"), 0);
    assert_string_equal (json_string_value (json_object_get (json_object_get (attr, "value"), "intValue")),
                         "200");
    assert_int_equal (json_integer_value (json_object_get (json_object_get (a, "status"), "code")), 0);
    assert_null (json_object_get (b, "parentSpanId"));
    assert_int_equal (json_integer_value (json_object_get (json_object_get (b, "status"), "code")), 2);
    assert_string_equal (json_string_value (json_object_get (json_object_get (b, "status"), "message")),
                         "unavailable");
    json_decref (body);
    text = otlp_encode (NULL, 0, "gate\"way\n", NULL);
    body = json_loads (text, 0, NULL);
    assert_non_null (body);
    json_t *rs0 = json_array_get (json_object_get (body, "resourceSpans"), 0);
    json_t *name = json_array_get (json_object_get (json_object_get (rs0, "resource"), "attributes"), 0);
    assert_string_equal (json_string_value (json_object_get (json_object_get (name, "value"), "stringValue")),
                         "gate\"way\n");
    assert_int_equal (
        json_array_size (json_object_get (json_array_get (json_object_get (rs0, "scopeSpans"), 0), "spans")),
        0);
    json_decref (body);
    free (text);
}

//  A collector that accepts one connection, reads one request and answers
//  200 (or `status`), keeping the request body.
typedef struct {
    int fd;
    int status;
    char *body;
} s_collector_t;

static void *
s_collector_main (void *arg)
{
    s_collector_t *c = arg;
    int conn = accept (c->fd, NULL, NULL);
    if (conn < 0)
        return NULL;
    size_t cap = 1 << 20, len = 0;
    char *buf = calloc (1, cap + 1);
    char *body = NULL;
    long want = -1;
    while (len < cap) {
        ssize_t n = read (conn, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        char *end = strstr (buf, "\r\n\r\n");
        if (end && want < 0) {
            char *cl = strcasestr (buf, "Content-Length:");
            want = cl ? strtol (cl + 15, NULL, 10) : 0;
            body = end + 4;
        }
        if (body && (long)(len - (size_t)(body - buf)) >= want)
            break;
    }
    c->body = body ? strdup (body) : NULL;
    free (buf);
    char answer[128];
    snprintf (answer, sizeof answer, "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
              c->status);
    ssize_t w = write (conn, answer, strlen (answer));
    (void)w;
    close (conn);
    return NULL;
}

static int
s_listen (int *port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (bind (fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal (listen (fd, 4), 0);
    socklen_t alen = sizeof addr;
    assert_int_equal (getsockname (fd, (struct sockaddr *)&addr, &alen), 0);
    *port = ntohs (addr.sin_port);
    return fd;
}

static void
test_otlp_exports_batches_to_the_collector (void **state)
{
    (void)state;
    int port;
    s_collector_t c = {.fd = s_listen (&port), .status = 200};
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_collector_main, &c), 0);
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1/traces", port);
    assert_int_equal (otlp_start (url, "keys-svc", 64, 50), 0);
    assert_true (otlp_enabled ());
    assert_int_equal (otlp_start (url, "keys-svc", 64, 50), -1);
    trace_ctx_t ctx = s_ctx ();
    otlp_span_t span;
    otlp_span_begin (&span, "keys.sign", OTLP_SERVER, &ctx);
    otlp_span_end (&span);
    pthread_join (thread, NULL);
    otlp_stop ();
    otlp_stop ();
    assert_false (otlp_enabled ());
    close (c.fd);
    assert_non_null (c.body);
    json_t *body = json_loads (c.body, 0, NULL);
    assert_non_null (body);
    json_t *rs = json_array_get (json_object_get (body, "resourceSpans"), 0);
    json_t *sp =
        json_array_get (json_object_get (json_array_get (json_object_get (rs, "scopeSpans"), 0), "spans"), 0);
    assert_string_equal (json_string_value (json_object_get (sp, "name")), "keys.sign");
    json_decref (body);
    free (c.body);
    assert_int_equal (otlp_exported (), 1);
    assert_int_equal (otlp_export_failures (), 0);
    //  The counts are metrics too.
    assert_true (metrics_get (METRIC_OTLP_SPANS, METRICS_L ("exported")) == 1.0);
    assert_true (metrics_get (METRIC_OTLP_SPANS, METRICS_L ("failed")) == 0.0);
}

static void
test_otlp_full_queue_drops_and_counts (void **state)
{
    (void)state;
    //  A collector that answers 500: the batch counts as a failure.
    int port;
    s_collector_t c = {.fd = s_listen (&port), .status = 500};
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_collector_main, &c), 0);
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1/traces", port);
    uint64_t dropped = otlp_dropped (), failures = otlp_export_failures ();
    double m_dropped = metrics_get (METRIC_OTLP_SPANS, METRICS_L ("dropped"));
    double m_failed = metrics_get (METRIC_OTLP_SPANS, METRICS_L ("failed"));
    double m_failures = metrics_get (METRIC_OTLP_EXPORT_FAILURES, NULL);
    //  A queue of 16 sent once a minute: the 4 spans past 16 are dropped at once.
    assert_int_equal (otlp_start (url, "gateway", 16, 60000), 0);
    trace_ctx_t ctx = s_ctx ();
    for (int i = 0; i < 20; i++) {
        otlp_span_t span;
        otlp_span_begin (&span, "GET /jwks", OTLP_SERVER, &ctx);
        otlp_span_end (&span);
    }
    assert_int_equal (otlp_dropped () - dropped, 4);
    assert_true (metrics_get (METRIC_OTLP_SPANS, METRICS_L ("dropped")) - m_dropped == 4.0);
    otlp_stop ();
    pthread_join (thread, NULL);
    close (c.fd);
    free (c.body);
    //  The 16 queued went out at the stop and were refused.
    assert_int_equal (otlp_export_failures () - failures, 1);
    assert_int_equal (otlp_dropped () - dropped, 20);
    //  In the metrics, the spans of the refused batch are "failed", apart
    //  from the ones the full queue dropped.
    assert_true (metrics_get (METRIC_OTLP_SPANS, METRICS_L ("dropped")) - m_dropped == 4.0);
    assert_true (metrics_get (METRIC_OTLP_SPANS, METRICS_L ("failed")) - m_failed == 16.0);
    assert_true (metrics_get (METRIC_OTLP_EXPORT_FAILURES, NULL) - m_failures == 1.0);
}

//  A collector that takes the request and never answers: it reads until the
//  client closes the connection.
typedef struct {
    int fd;
    atomic_int got;
} s_silent_t;

static void *
s_silent_main (void *arg)
{
    s_silent_t *c = arg;
    int conn = accept (c->fd, NULL, NULL);
    if (conn < 0)
        return NULL;
    char buf[4096];
    ssize_t n = read (conn, buf, sizeof buf);
    atomic_store (&c->got, n > 0);
    while (read (conn, buf, sizeof buf) > 0)
        ;
    close (conn);
    return NULL;
}

static int64_t
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_otlp_stop_is_bounded_with_a_post_in_flight (void **state)
{
    (void)state;
    int port;
    s_silent_t c = {.fd = s_listen (&port)};
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_silent_main, &c), 0);
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1/traces", port);
    uint64_t failures = otlp_export_failures ();
    assert_int_equal (otlp_start (url, "gateway", 16, 10), 0);
    trace_ctx_t ctx = s_ctx ();
    otlp_span_t span;
    otlp_span_begin (&span, "GET /jwks", OTLP_SERVER, &ctx);
    otlp_span_end (&span);
    //  The POST is in flight once the collector has its request.
    for (int i = 0; i < 5000 && !atomic_load (&c.got); i++)
        usleep (1000);
    assert_true (atomic_load (&c.got));
    int64_t t0 = s_ms ();
    otlp_stop ();
    int64_t took = s_ms () - t0;
    pthread_join (thread, NULL);
    close (c.fd);
    if (took > 3000)
        fail_msg ("otlp_stop took %lld ms with a POST in flight", (long long)took);
    assert_int_equal (otlp_export_failures () - failures, 1);
}

static void
test_otlp_url_for_log_has_no_userinfo_nor_query (void **state)
{
    (void)state;
    char out[256];
    otlp_url_for_log ("https://user:s3cret@collector:4318/v1/traces?api_key=k3y#frag", out, sizeof out);
    assert_string_equal (out, "https://collector:4318/v1/traces");
    otlp_url_for_log ("http://a@b@collector/v1/traces", out, sizeof out);
    assert_string_equal (out, "http://collector/v1/traces");
    //  An '@' in the path is not userinfo.
    otlp_url_for_log ("http://collector:4318/v1/t@ces", out, sizeof out);
    assert_string_equal (out, "http://collector:4318/v1/t@ces");
    otlp_url_for_log ("http://u:p@collector?token=x", out, sizeof out);
    assert_string_equal (out, "http://collector");
    otlp_url_for_log (NULL, out, sizeof out);
    assert_string_equal (out, "");
    char small[12];
    otlp_url_for_log ("http://collector:4318/v1/traces", small, sizeof small);
    assert_string_equal (small, "http://coll");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_otlp_span_records_name_ids_attributes_and_status),
        cmocka_unit_test (test_otlp_encode_is_the_otlp_json_mapping),
        cmocka_unit_test (test_otlp_exports_batches_to_the_collector),
        cmocka_unit_test (test_otlp_full_queue_drops_and_counts),
        cmocka_unit_test (test_otlp_stop_is_bounded_with_a_post_in_flight),
        cmocka_unit_test (test_otlp_url_for_log_has_no_userinfo_nor_query),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
