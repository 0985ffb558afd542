/*  Unit tests of the metrics registry (common/metrics.h) and its listener
 *  (common/metrics_http.h): the table, counters, gauges and histograms,
 *  bounded label sets, the text exposition format (escaping, buckets,
 *  +Inf), updates from many threads, and the listener's answers over a real
 *  loopback socket. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics.h"
#include "metrics_http.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
s_reset (void **state)
{
    (void)state;
    metrics_reset ();
    return 0;
}

//  The rendered text (freed by the caller).
static char *
s_render (void)
{
    size_t len = 0;
    char *text = metrics_render (&len);
    assert_non_null (text);
    assert_int_equal (strlen (text), len);
    return text;
}

static void
test_table_is_well_formed (void **state)
{
    (void)state;
    for (int i = 0; i < METRIC__COUNT; i++) {
        const metric_def_t *def = metrics_def ((metric_id_t)i);
        assert_non_null (def);
        //  Prometheus names: [a-zA-Z_:][a-zA-Z0-9_:]*
        for (const char *p = def->name; *p; p++)
            assert_true ((*p >= 'a' && *p <= 'z') || *p == '_' || (p != def->name && *p >= '0' && *p <= '9'));
        assert_true (def->max_series >= 1);
        assert_true (def->processes != 0);
        assert_true (strlen (def->help) > 0);
        if (def->type == METRIC_COUNTER)
            assert_non_null (strstr (def->name, "_total"));
        if (def->type == METRIC_HISTOGRAM) {
            assert_true (strlen (def->buckets) > 0);
            //  Ascending bounds.
            char buf[256];
            snprintf (buf, sizeof buf, "%s", def->buckets);
            double last = -INFINITY;
            for (char *save = NULL, *tok = strtok_r (buf, ",", &save); tok;
                 tok = strtok_r (NULL, ",", &save)) {
                double b = strtod (tok, NULL);
                assert_true (b > last);
                last = b;
            }
        } else
            assert_string_equal (def->buckets, "");
        assert_int_equal (metrics_find (def->name), i);
        //  No two rows share a name.
        for (int j = i + 1; j < METRIC__COUNT; j++)
            assert_string_not_equal (def->name, metrics_def ((metric_id_t)j)->name);
    }
    assert_null (metrics_def (METRIC__COUNT));
    assert_int_equal (metrics_find ("no_such_metric"), -1);
}

static void
test_counter_adds_and_refuses_decrease (void **state)
{
    (void)state;
    assert_true (metrics_get (METRIC_REFRESH_ROTATIONS, NULL) == 0);
    metrics_inc (METRIC_REFRESH_ROTATIONS, NULL);
    metrics_add (METRIC_REFRESH_ROTATIONS, NULL, 2.5);
    metrics_add (METRIC_REFRESH_ROTATIONS, NULL, -10);
    metrics_add (METRIC_REFRESH_ROTATIONS, NULL, NAN);
    assert_true (metrics_get (METRIC_REFRESH_ROTATIONS, NULL) == 3.5);
    //  A histogram is not a counter.
    metrics_inc (METRIC_HTTP_REQUEST, METRICS_L ("token", "2xx"));
    assert_true (metrics_get (METRIC_HTTP_REQUEST, METRICS_L ("token", "2xx")) == 0);
}

static void
test_gauge_sets_and_moves (void **state)
{
    (void)state;
    metrics_set (METRIC_DB_CONNECTIONS, NULL, 4);
    metrics_add (METRIC_DB_CONNECTIONS, NULL, -1);
    assert_true (metrics_get (METRIC_DB_CONNECTIONS, NULL) == 3);
    metrics_set (METRIC_BROKER_WORKERS, METRICS_L ("token"), 2);
    metrics_set (METRIC_BROKER_WORKERS, METRICS_L ("flow"), 0);
    assert_true (metrics_get (METRIC_BROKER_WORKERS, METRICS_L ("token")) == 2);
    assert_true (metrics_get (METRIC_BROKER_WORKERS, METRICS_L ("flow")) == 0);
    assert_true (metrics_get (METRIC_BROKER_WORKERS, METRICS_L ("keys")) == 0);
}

static void
test_labels_keep_series_apart (void **state)
{
    (void)state;
    metrics_inc (METRIC_TOKENS_ISSUED, METRICS_L ("authorization_code", "RS256"));
    metrics_inc (METRIC_TOKENS_ISSUED, METRICS_L ("refresh_token", "RS256"));
    metrics_inc (METRIC_TOKENS_ISSUED, METRICS_L ("refresh_token", "RS256"));
    metrics_inc (METRIC_TOKENS_ISSUED, METRICS_L ("refresh_token", "ES256"));
    assert_true (metrics_get (METRIC_TOKENS_ISSUED, METRICS_L ("authorization_code", "RS256")) == 1);
    assert_true (metrics_get (METRIC_TOKENS_ISSUED, METRICS_L ("refresh_token", "RS256")) == 2);
    assert_true (metrics_get (METRIC_TOKENS_ISSUED, METRICS_L ("refresh_token", "ES256")) == 1);
    char *text = s_render ();
    assert_non_null (
        strstr (text, "ostiary_tokens_issued_total{grant_type=\"refresh_token\",alg=\"RS256\"} 2\n"));
    assert_non_null (
        strstr (text, "ostiary_tokens_issued_total{grant_type=\"authorization_code\",alg=\"RS256\"} 1\n"));
    free (text);
}

static void
test_label_set_is_bounded (void **state)
{
    (void)state;
    //  METRIC_GW_JWKS_REFRESH keeps 4 series: the fifth value and beyond
    //  share "_other".
    const char *values[] = {"a", "b", "c", "d", "e", "f", "g"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        metrics_inc (METRIC_GW_JWKS_REFRESH, METRICS_L (values[i]));
    char *text = s_render ();
    assert_non_null (strstr (text, "ostiary_gateway_jwks_refreshes_total{result=\"d\"} 1\n"));
    assert_null (strstr (text, "result=\"e\""));
    assert_non_null (strstr (text, "ostiary_gateway_jwks_refreshes_total{result=\"_other\"} 3\n"));
    free (text);
}

static void
test_histogram_buckets_sum_count (void **state)
{
    (void)state;
    const char *const *l = METRICS_L ("token", "2xx");
    metrics_observe (METRIC_HTTP_REQUEST, l, 0.0003); //  first bucket (le 0.0005)
    metrics_observe (METRIC_HTTP_REQUEST, l, 0.001);  //  le 0.001 exactly
    metrics_observe (METRIC_HTTP_REQUEST, l, 0.2);    //  le 0.25
    metrics_observe (METRIC_HTTP_REQUEST, l, 99);     //  only +Inf
    metrics_observe (METRIC_HTTP_REQUEST, l, NAN);    //  ignored
    assert_true (metrics_get (METRIC_HTTP_REQUEST, l) == 4);
    assert_true (fabs (metrics_get_sum (METRIC_HTTP_REQUEST, l) - 99.2013) < 1e-9);
    char *text = s_render ();
    const char *h = "ostiary_http_request_duration_seconds";
    char line[256];
    snprintf (line, sizeof line, "# TYPE %s histogram\n", h);
    assert_non_null (strstr (text, line));
    snprintf (line, sizeof line, "%s_bucket{route=\"token\",status_class=\"2xx\",le=\"0.0005\"} 1\n", h);
    assert_non_null (strstr (text, line));
    snprintf (line, sizeof line, "%s_bucket{route=\"token\",status_class=\"2xx\",le=\"0.001\"} 2\n", h);
    assert_non_null (strstr (text, line));
    snprintf (line, sizeof line, "%s_bucket{route=\"token\",status_class=\"2xx\",le=\"0.1\"} 2\n", h);
    assert_non_null (strstr (text, line));
    snprintf (line, sizeof line, "%s_bucket{route=\"token\",status_class=\"2xx\",le=\"0.25\"} 3\n", h);
    assert_non_null (strstr (text, line));
    snprintf (line, sizeof line, "%s_bucket{route=\"token\",status_class=\"2xx\",le=\"10\"} 3\n", h);
    assert_non_null (strstr (text, line));
    snprintf (line, sizeof line, "%s_bucket{route=\"token\",status_class=\"2xx\",le=\"+Inf\"} 4\n", h);
    assert_non_null (strstr (text, line));
    snprintf (line, sizeof line, "%s_sum{route=\"token\",status_class=\"2xx\"} 99.2013\n", h);
    assert_non_null (strstr (text, line));
    snprintf (line, sizeof line, "%s_count{route=\"token\",status_class=\"2xx\"} 4\n", h);
    assert_non_null (strstr (text, line));
    free (text);
    //  Not a histogram: nothing.
    metrics_observe (METRIC_REFRESH_ROTATIONS, NULL, 1);
    assert_true (metrics_get (METRIC_REFRESH_ROTATIONS, NULL) == 0);
}

static void
test_escape (void **state)
{
    (void)state;
    char out[64];
    assert_int_equal (metrics_escape ("a\\b\"c\nd", 1, out, sizeof out), strlen ("a\\\\b\\\"c\\nd"));
    assert_string_equal (out, "a\\\\b\\\"c\\nd");
    //  HELP text keeps its double quotes.
    metrics_escape ("say \"hi\"\n", 0, out, sizeof out);
    assert_string_equal (out, "say \"hi\"\\n");
    //  Never cuts an escape in half, always terminated.
    char small[4];
    metrics_escape ("ab\"", 1, small, sizeof small);
    assert_string_equal (small, "ab");
    assert_int_equal (metrics_escape ("x", 1, small, 0), 0);
    //  Label values are escaped when rendered.
    metrics_inc (METRIC_LOGINS_FAILED, METRICS_L ("odd\"value\\\n"));
    char *text = s_render ();
    assert_non_null (strstr (text, "ostiary_logins_failed_total{reason=\"odd\\\"value\\\\\\n\"} 1\n"));
    free (text);
}

static void
test_format_number (void **state)
{
    (void)state;
    char out[32];
    metrics_format_number (0.005, out, sizeof out);
    assert_string_equal (out, "0.005");
    metrics_format_number (10, out, sizeof out);
    assert_string_equal (out, "10");
    metrics_format_number (INFINITY, out, sizeof out);
    assert_string_equal (out, "+Inf");
    metrics_format_number (-INFINITY, out, sizeof out);
    assert_string_equal (out, "-Inf");
    metrics_format_number (NAN, out, sizeof out);
    assert_string_equal (out, "NaN");
    metrics_format_number (0.1 + 0.2, out, sizeof out);
    assert_true (strtod (out, NULL) == 0.1 + 0.2);
    metrics_format_number (1234567890123.0, out, sizeof out);
    assert_string_equal (out, "1234567890123");
}

static void
test_init_shows_the_process_metrics (void **state)
{
    (void)state;
    metrics_init (M_TOK);
    char *text = s_render ();
    //  Unlabelled metrics of token-svc read 0 before anything happened ...
    assert_non_null (
        strstr (text, "# TYPE ostiary_refresh_rotations_total counter\nostiary_refresh_rotations_total 0\n"));
    assert_non_null (strstr (text, "# HELP ostiary_refresh_rotations_total "));
    //  ... those of other processes are absent, and so are labelled ones
    //  without a series.
    assert_null (strstr (text, "ostiary_logins_succeeded_total"));
    assert_null (strstr (text, "ostiary_tokens_issued_total"));
    //  The process basics.
    assert_non_null (strstr (text, "\nprocess_open_fds "));
    assert_non_null (strstr (text, "\nprocess_max_fds "));
    assert_non_null (strstr (text, "\nprocess_cpu_seconds_total "));
    const char *rss = strstr (text, "\nprocess_resident_memory_bytes ");
    assert_non_null (rss);
    assert_true (strtod (rss + strlen ("\nprocess_resident_memory_bytes "), NULL) > 100000);
    const char *start = strstr (text, "\nprocess_start_time_seconds ");
    assert_non_null (start);
    assert_true (strtod (start + strlen ("\nprocess_start_time_seconds "), NULL) > 1.7e9);
    free (text);
}

static void
test_now_is_monotonic (void **state)
{
    (void)state;
    double a = metrics_now ();
    double b = metrics_now ();
    assert_true (a > 0 && b >= a);
}

#define THREADS 8
#define ROUNDS 20000

static void *
s_hammer (void *arg)
{
    const char *label = arg;
    for (int i = 0; i < ROUNDS; i++) {
        metrics_inc (METRIC_REFRESH_ROTATIONS, NULL);
        metrics_observe (METRIC_BUS_OP, METRICS_L ("token.exchange", label), 0.001);
        metrics_add (METRIC_DB_IN_USE, NULL, 1);
        metrics_add (METRIC_DB_IN_USE, NULL, -1);
    }
    return NULL;
}

static void
test_updates_from_many_threads_are_not_lost (void **state)
{
    (void)state;
    pthread_t threads[THREADS];
    const char *labels[THREADS] = {"ok", "ok", "ok", "ok", "invalid_grant", "invalid_grant", "a", "b"};
    for (int i = 0; i < THREADS; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_hammer, (void *)labels[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join (threads[i], NULL);
    assert_true (metrics_get (METRIC_REFRESH_ROTATIONS, NULL) == THREADS * ROUNDS);
    assert_true (metrics_get (METRIC_BUS_OP, METRICS_L ("token.exchange", "ok")) == 4 * ROUNDS);
    assert_true (metrics_get (METRIC_BUS_OP, METRICS_L ("token.exchange", "invalid_grant")) == 2 * ROUNDS);
    assert_true (fabs (metrics_get_sum (METRIC_BUS_OP, METRICS_L ("token.exchange", "a")) - ROUNDS * 0.001) <
                 1e-6);
    assert_true (metrics_get (METRIC_DB_IN_USE, NULL) == 0);
}

//  ------------------------------------------------------------ the listener

static void
test_address_defaults_and_off (void **state)
{
    (void)state;
    int off = 0;
    assert_string_equal (metrics_http_address ("", "gateway", &off), "127.0.0.1:9464");
    assert_int_equal (off, 0);
    assert_string_equal (metrics_http_address (NULL, "token-svc", &off), "127.0.0.1:9465");
    assert_string_equal (metrics_http_address ("", "flow-svc", &off), "127.0.0.1:9466");
    assert_string_equal (metrics_http_address ("", "keys-svc", &off), "127.0.0.1:9467");
    assert_string_equal (metrics_http_address ("0.0.0.0:9000", "keys-svc", &off), "0.0.0.0:9000");
    assert_null (metrics_http_address ("off", "gateway", &off));
    assert_int_equal (off, 1);
    assert_null (metrics_http_address ("", "ostiaryctl", &off));
    assert_int_equal (off, 1);
}

static char *
s_answer (const char *request, size_t *len)
{
    return metrics_http_answer (request, strlen (request), len);
}

static void
test_answer_get_metrics (void **state)
{
    (void)state;
    metrics_inc (METRIC_REFRESH_ROTATIONS, NULL);
    size_t len = 0;
    char *out = s_answer ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &len);
    assert_non_null (out);
    assert_int_equal (strlen (out), len);
    assert_true (strncmp (out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null (strstr (out, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null (strstr (out, "Connection: close\r\n"));
    const char *body = strstr (out, "\r\n\r\n");
    assert_non_null (body);
    body += 4;
    char cl[64];
    snprintf (cl, sizeof cl, "Content-Length: %zu\r\n", strlen (body));
    assert_non_null (strstr (out, cl));
    assert_non_null (strstr (body, "ostiary_refresh_rotations_total 1\n"));
    free (out);
    //  A query string is allowed; HTTP/1.0 too.
    out = s_answer ("GET /metrics?x=1 HTTP/1.0\r\n\r\n", &len);
    assert_true (strncmp (out, "HTTP/1.1 200 ", 13) == 0);
    free (out);
}

static void
test_answer_refuses_other_methods_and_paths (void **state)
{
    (void)state;
    size_t len;
    char *out = s_answer ("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &len);
    assert_true (strncmp (out, "HTTP/1.1 405 ", 13) == 0);
    assert_non_null (strstr (out, "Allow: GET\r\n"));
    free (out);
    out = s_answer ("HEAD /metrics HTTP/1.1\r\n\r\n", &len);
    assert_true (strncmp (out, "HTTP/1.1 405 ", 13) == 0);
    free (out);
    out = s_answer ("GET / HTTP/1.1\r\n\r\n", &len);
    assert_true (strncmp (out, "HTTP/1.1 404 ", 13) == 0);
    free (out);
    out = s_answer ("GET /metricsx HTTP/1.1\r\n\r\n", &len);
    assert_true (strncmp (out, "HTTP/1.1 404 ", 13) == 0);
    free (out);
    out = s_answer ("GET /metrics\r\n\r\n", &len);
    assert_true (strncmp (out, "HTTP/1.1 400 ", 13) == 0);
    free (out);
    out = s_answer ("GET  /metrics HTTP/1.1\r\n\r\n", &len);
    assert_true (strncmp (out, "HTTP/1.1 400 ", 13) == 0);
    free (out);
    out = s_answer ("GET /metrics SPDY/3\r\n\r\n", &len);
    assert_true (strncmp (out, "HTTP/1.1 400 ", 13) == 0);
    free (out);
}

static void
test_answer_waits_for_the_head_and_bounds_it (void **state)
{
    (void)state;
    size_t len;
    assert_null (s_answer ("GET /metrics HTTP/1.1\r\nHost: x\r\n", &len));
    //  A head that never ends within the bound is refused.
    char *big = malloc (METRICS_HTTP_MAX_REQUEST);
    memset (big, 'a', METRICS_HTTP_MAX_REQUEST);
    char *out = metrics_http_answer (big, METRICS_HTTP_MAX_REQUEST, &len);
    assert_non_null (out);
    assert_true (strncmp (out, "HTTP/1.1 400 ", 13) == 0);
    free (out);
    free (big);
}

//  Sends request to 127.0.0.1:port and returns the whole answer (free it).
static char *
s_exchange (int port, const char *request)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)port)};
    inet_pton (AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal (connect (fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal (send (fd, request, strlen (request), 0), (ssize_t)strlen (request));
    size_t cap = 1 << 20, len = 0;
    char *out = malloc (cap);
    ssize_t n;
    while ((n = recv (fd, out + len, cap - len - 1, 0)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close (fd);
    return out;
}

static void
test_listener_serves_over_tcp (void **state)
{
    (void)state;
    const char *why = NULL;
    metrics_http_t *http = metrics_http_new ("127.0.0.1:0", &why);
    assert_non_null (http);
    assert_null (why);
    int port = metrics_http_port (http);
    assert_true (port > 0);
    metrics_inc (METRIC_LOGINS_SUCCEEDED, NULL);
    char *out = s_exchange (port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_true (strncmp (out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null (strstr (out, "ostiary_logins_succeeded_total 1\n"));
    free (out);
    out = s_exchange (port, "DELETE /metrics HTTP/1.1\r\n\r\n");
    assert_true (strncmp (out, "HTTP/1.1 405 ", 13) == 0);
    free (out);
    //  The port is taken: a second listener cannot bind it.
    char address[32];
    snprintf (address, sizeof address, "127.0.0.1:%d", port);
    assert_null (metrics_http_new (address, &why));
    assert_non_null (why);
    metrics_http_destroy (&http);
    assert_null (http);
    metrics_http_destroy (&http);
    //  Bad addresses.
    assert_null (metrics_http_new ("nocolon", &why));
    assert_null (metrics_http_new ("127.0.0.1:99999", &why));
    assert_null (metrics_http_new ("127.0.0.1:", &why));
    //  IPv6 in brackets.
    http = metrics_http_new ("[::1]:0", &why);
    if (http) {
        assert_true (metrics_http_port (http) > 0);
        metrics_http_destroy (&http);
    }
}

static void
test_start_off_and_failing (void **state)
{
    (void)state;
    int failed = 1;
    assert_null (metrics_http_start ("off", "gateway", M_GW, &failed));
    assert_int_equal (failed, 0);
    metrics_http_t *http = metrics_http_start ("127.0.0.1:0", "gateway", M_GW, &failed);
    assert_non_null (http);
    assert_int_equal (failed, 0);
    char address[32];
    snprintf (address, sizeof address, "127.0.0.1:%d", metrics_http_port (http));
    assert_null (metrics_http_start (address, "gateway", M_GW, &failed));
    assert_int_equal (failed, 1);
    metrics_http_destroy (&http);
}

static void
test_gauge_cleared_leaves_the_exposition_until_set_again (void **state)
{
    (void)state;
    metrics_set (METRIC_KEY_ACTIVE_SINCE, METRICS_L ("ES256"), 1700000000);
    metrics_set (METRIC_KEY_ACTIVE_SINCE, METRICS_L ("RS256"), 1700000001);
    metrics_clear (METRIC_KEY_ACTIVE_SINCE, METRICS_L ("ES256"));
    metrics_clear (METRIC_KEY_ACTIVE_SINCE, METRICS_L ("EdDSA")); //  no such series: nothing
    metrics_clear (METRIC_REFRESH_ROTATIONS, NULL);               //  a counter: left alone
    metrics_inc (METRIC_REFRESH_ROTATIONS, NULL);
    size_t len;
    char *text = metrics_render (&len);
    assert_non_null (text);
    assert_null (strstr (text, "alg=\"ES256\""));
    assert_null (strstr (text, "alg=\"EdDSA\""));
    assert_non_null (strstr (text, "ostiary_signing_key_active_since_seconds{alg=\"RS256\"} 1700000001\n"));
    assert_non_null (strstr (text, "ostiary_refresh_rotations_total 1\n"));
    free (text);
    assert_true (metrics_get (METRIC_KEY_ACTIVE_SINCE, METRICS_L ("ES256")) == 0);
    metrics_set (METRIC_KEY_ACTIVE_SINCE, METRICS_L ("ES256"), 1700000002);
    text = metrics_render (&len);
    assert_non_null (strstr (text, "ostiary_signing_key_active_since_seconds{alg=\"ES256\"} 1700000002\n"));
    free (text);
    //  Every series of the metric cleared: not even its HELP remains.
    metrics_clear (METRIC_KEY_ACTIVE_SINCE, METRICS_L ("ES256"));
    metrics_clear (METRIC_KEY_ACTIVE_SINCE, METRICS_L ("RS256"));
    text = metrics_render (&len);
    assert_null (strstr (text, "ostiary_signing_key_active_since_seconds"));
    free (text);
}

//  A broker's refusal of a role's call is counted once, in
//  ostiary_bus_refusals_total{component="broker",reason="role"}, not in a
//  second counter of its own.
static void
test_a_refusal_has_one_metric (void **state)
{
    (void)state;
    assert_int_equal (metrics_find ("ostiary_broker_forbidden_total"), -1);
    assert_true (metrics_find ("ostiary_bus_refusals_total") >= 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup (test_table_is_well_formed, s_reset),
        cmocka_unit_test_setup (test_counter_adds_and_refuses_decrease, s_reset),
        cmocka_unit_test_setup (test_gauge_sets_and_moves, s_reset),
        cmocka_unit_test_setup (test_a_refusal_has_one_metric, s_reset),
        cmocka_unit_test_setup (test_gauge_cleared_leaves_the_exposition_until_set_again, s_reset),
        cmocka_unit_test_setup (test_labels_keep_series_apart, s_reset),
        cmocka_unit_test_setup (test_label_set_is_bounded, s_reset),
        cmocka_unit_test_setup (test_histogram_buckets_sum_count, s_reset),
        cmocka_unit_test_setup (test_escape, s_reset),
        cmocka_unit_test_setup (test_format_number, s_reset),
        cmocka_unit_test_setup (test_init_shows_the_process_metrics, s_reset),
        cmocka_unit_test_setup (test_now_is_monotonic, s_reset),
        cmocka_unit_test_setup (test_updates_from_many_threads_are_not_lost, s_reset),
        cmocka_unit_test_setup (test_address_defaults_and_off, s_reset),
        cmocka_unit_test_setup (test_answer_get_metrics, s_reset),
        cmocka_unit_test_setup (test_answer_refuses_other_methods_and_paths, s_reset),
        cmocka_unit_test_setup (test_answer_waits_for_the_head_and_bounds_it, s_reset),
        cmocka_unit_test_setup (test_listener_serves_over_tcp, s_reset),
        cmocka_unit_test_setup (test_start_off_and_failing, s_reset),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
