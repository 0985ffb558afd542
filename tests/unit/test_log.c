/*  Unit tests of the structured log: the line format, the threshold, the
 *  per-thread context, escaping, and that lines from many threads never mix.
 *  stderr is redirected to a temporary file around each check. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"
#include "trace.h"

#include <jansson.h>

#include <math.h>

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_saved_fd = -1;
static FILE *s_capture;

static void
s_capture_begin (void)
{
    fflush (stderr);
    s_capture = tmpfile ();
    assert_non_null (s_capture);
    s_saved_fd = dup (STDERR_FILENO);
    assert_true (s_saved_fd >= 0);
    assert_true (dup2 (fileno (s_capture), STDERR_FILENO) >= 0);
}

//  Restores stderr and returns what was written (free it).
static char *
s_capture_end (void)
{
    fflush (stderr);
    dup2 (s_saved_fd, STDERR_FILENO);
    close (s_saved_fd);
    fseek (s_capture, 0, SEEK_END);
    long size = ftell (s_capture);
    assert_true (size >= 0);
    rewind (s_capture);
    char *text = calloc (1, (size_t)size + 1);
    assert_non_null (text);
    assert_int_equal (fread (text, 1, (size_t)size, s_capture), (size_t)size);
    fclose (s_capture);
    return text;
}

static size_t
s_count_lines (const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void
s_assert_matches (const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal (regcomp (&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec (&re, text, 0, NULL, 0);
    regfree (&re);
    if (rc != 0)
        fail_msg ("'%s' does not match /%s/", text, pattern);
}

static int
s_setup (void **state)
{
    (void)state;
    log_init ("token", OST_LOG_DEBUG);
    log_set_format (LOG_FORMAT_LOGFMT);
    log_set_context (NULL, NULL);
    trace_set_current (NULL);
    return 0;
}

static void
test_log_line_is_logfmt_with_ts_level_svc_msg (void **state)
{
    (void)state;
    s_capture_begin ();
    log_info ("hello %d", 42);
    char *out = s_capture_end ();
    s_assert_matches (out, "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                           "level=info svc=token msg=\"hello 42\"\n$");
    free (out);
}

static void
test_log_levels_are_named (void **state)
{
    (void)state;
    s_capture_begin ();
    log_debug ("d");
    log_warn ("w");
    log_error ("e");
    char *out = s_capture_end ();
    assert_int_equal (s_count_lines (out), 3);
    assert_non_null (strstr (out, "level=debug svc=token msg=\"d\""));
    assert_non_null (strstr (out, "level=warn svc=token msg=\"w\""));
    assert_non_null (strstr (out, "level=error svc=token msg=\"e\""));
    free (out);
}

static void
test_log_threshold_drops_lower_levels (void **state)
{
    (void)state;
    log_init ("keys", OST_LOG_WARN);
    s_capture_begin ();
    log_debug ("not shown");
    log_info ("not shown");
    log_warn ("shown");
    log_error ("shown too");
    char *out = s_capture_end ();
    assert_int_equal (s_count_lines (out), 2);
    assert_null (strstr (out, "not shown"));
    assert_non_null (strstr (out, "svc=keys"));
    free (out);
}

static void
test_log_level_parse_accepts_the_four_names (void **state)
{
    (void)state;
    assert_int_equal (log_level_parse ("debug"), OST_LOG_DEBUG);
    assert_int_equal (log_level_parse ("info"), OST_LOG_INFO);
    assert_int_equal (log_level_parse ("warn"), OST_LOG_WARN);
    assert_int_equal (log_level_parse ("error"), OST_LOG_ERROR);
    assert_int_equal (log_level_parse ("INFO"), -1);
    assert_int_equal (log_level_parse ("warning"), -1);
    assert_int_equal (log_level_parse (""), -1);
    assert_int_equal (log_level_parse (NULL), -1);
}

static void
test_log_context_adds_request_id_and_op (void **state)
{
    (void)state;
    log_set_context ("0123456789abcdef0123456789abcdef", "token.health");
    s_capture_begin ();
    log_info ("in a request");
    assert_string_equal (log_trace_id (), "0123456789abcdef0123456789abcdef");
    log_set_context (NULL, NULL);
    assert_string_equal (log_trace_id (), "");
    log_info ("outside");
    char *out = s_capture_end ();
    s_assert_matches (out, "^ts=[^ ]+ level=info svc=token rid=0123456789abcdef0123456789abcdef "
                           "op=token.health msg=\"in a request\"\n"
                           "ts=[^ ]+ level=info svc=token msg=\"outside\"\n$");
    free (out);
}

static void *
s_log_from_other_thread (void *arg)
{
    (void)arg;
    log_info ("other thread");
    return NULL;
}

static void
test_log_context_is_per_thread (void **state)
{
    (void)state;
    log_set_context ("rid-main", "keys.sign");
    s_capture_begin ();
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_log_from_other_thread, NULL), 0);
    pthread_join (thread, NULL);
    char *out = s_capture_end ();
    log_set_context (NULL, NULL);
    assert_null (strstr (out, "rid="));
    assert_null (strstr (out, "op="));
    assert_non_null (strstr (out, "msg=\"other thread\""));
    free (out);
}

static void
test_log_context_cannot_inject_fields_or_lines (void **state)
{
    (void)state;
    //  A request id can come from a client's X-Request-Id header.
    log_set_context ("x msg=\"evil\"\nts=forged", "op\r\n");
    s_capture_begin ();
    log_info ("m");
    char *out = s_capture_end ();
    log_set_context (NULL, NULL);
    assert_int_equal (s_count_lines (out), 1);
    assert_non_null (strstr (out, " rid=x_msg__evil__ts_forged op=op__ msg=\"m\""));
    free (out);
}

static void
test_log_escapes_quotes_backslashes_and_control_bytes (void **state)
{
    (void)state;
    s_capture_begin ();
    log_error ("a\"b\\c\nd\re\tf\x01g\x7fh");
    char *out = s_capture_end ();
    assert_int_equal (s_count_lines (out), 1);
    assert_non_null (strstr (out, "msg=\"a\\\"b\\\\c\\nd\\re\\tf\\x01g\\x7fh\"\n"));
    free (out);
}

static void
test_log_long_message_is_cut_on_one_line (void **state)
{
    (void)state;
    size_t n = 20000;
    char *big = malloc (n + 1);
    assert_non_null (big);
    memset (big, '"', n); //  every byte doubles when escaped
    big[n] = '\0';
    s_capture_begin ();
    log_info ("%s", big);
    char *out = s_capture_end ();
    free (big);
    assert_int_equal (s_count_lines (out), 1);
    size_t len = strlen (out);
    assert_true (len < 8192);
    assert_string_equal (out + len - strlen ("\" truncated=1\n"), "\" truncated=1\n");
    free (out);
}

#define LOG_THREADS 8
#define LOG_LINES 400

static void *
s_hammer (void *arg)
{
    int id = (int)(intptr_t)arg;
    char rid[16];
    snprintf (rid, sizeof rid, "t%d", id);
    log_set_context (rid, "flow.health");
    char payload[600];
    memset (payload, 'a' + id, sizeof payload - 1);
    payload[sizeof payload - 1] = '\0';
    for (int i = 0; i < LOG_LINES; i++)
        log_info ("%d %d %s end", id, i, payload);
    return NULL;
}

static void
test_log_lines_from_threads_never_interleave (void **state)
{
    (void)state;
    s_capture_begin ();
    pthread_t threads[LOG_THREADS];
    for (int t = 0; t < LOG_THREADS; t++)
        assert_int_equal (pthread_create (&threads[t], NULL, s_hammer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < LOG_THREADS; t++)
        pthread_join (threads[t], NULL);
    char *out = s_capture_end ();
    assert_int_equal (s_count_lines (out), LOG_THREADS * LOG_LINES);
    int seen[LOG_THREADS] = {0};
    char *save = NULL;
    for (char *line = strtok_r (out, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        int id, i, off = 0;
        char *msg = strstr (line, "msg=\"");
        assert_non_null (msg);
        assert_int_equal (strncmp (line, "ts=", 3), 0);
        assert_int_equal (sscanf (msg, "msg=\"%d %d %n", &id, &i, &off), 2);
        assert_true (id >= 0 && id < LOG_THREADS);
        char rid[32];
        snprintf (rid, sizeof rid, " rid=t%d op=flow.health ", id);
        assert_non_null (strstr (line, rid));
        //  The payload is one letter repeated: a byte from another thread's
        //  line would show up as another letter.
        const char *p = msg + off;
        assert_int_equal (strspn (p, (char[]){(char)('a' + id), 0}), 599);
        assert_string_equal (p + 599, " end\"");
        seen[id]++;
    }
    for (int t = 0; t < LOG_THREADS; t++)
        assert_int_equal (seen[t], LOG_LINES);
    free (out);
}

#define TID "0af7651916cd43dd8448eb211c80319c"
#define SID "b7ad6b7169203331"

static void
s_set_trace (void)
{
    trace_ctx_t ctx;
    assert_int_equal (trace_parse ("00-" TID "-" SID "-01", &ctx), 0);
    trace_set_current (&ctx);
}

static void
test_log_line_carries_trace_id_and_span_id (void **state)
{
    (void)state;
    s_set_trace ();
    log_set_context ("rid1", "token.token");
    s_capture_begin ();
    log_info ("traced");
    char *out = s_capture_end ();
    s_assert_matches (out, "^ts=[^ ]+ level=info svc=token trace_id=" TID " span_id=" SID
                           " rid=rid1 op=token.token msg=\"traced\"\n$");
    free (out);
    trace_set_current (NULL);
    log_set_context (NULL, NULL);
}

static void
test_log_trace_id_is_the_trace_context_then_the_request_id (void **state)
{
    (void)state;
    log_set_context ("rid-only", NULL);
    assert_string_equal (log_trace_id (), "rid-only");
    s_set_trace ();
    assert_string_equal (log_trace_id (), TID);
    trace_set_current (NULL);
    log_set_context (NULL, NULL);
    assert_string_equal (log_trace_id (), "");
}

static void
test_log_format_parse_accepts_logfmt_and_json (void **state)
{
    (void)state;
    assert_int_equal (log_format_parse ("logfmt"), LOG_FORMAT_LOGFMT);
    assert_int_equal (log_format_parse ("json"), LOG_FORMAT_JSON);
    assert_int_equal (log_format_parse ("JSON"), -1);
    assert_int_equal (log_format_parse (""), -1);
    assert_int_equal (log_format_parse (NULL), -1);
}

//  Parses the one line of out as JSON (fails the test otherwise).
static json_t *
s_json_line (const char *out)
{
    assert_int_equal (s_count_lines (out), 1);
    json_error_t error;
    json_t *line = json_loads (out, JSON_REJECT_DUPLICATES, &error);
    if (!line)
        fail_msg ("not JSON: %s (%s)", out, error.text);
    assert_true (json_is_object (line));
    return line;
}

static void
test_log_json_line_has_the_fields_as_members (void **state)
{
    (void)state;
    log_set_format (LOG_FORMAT_JSON);
    s_set_trace ();
    log_set_context ("rid1", "token.token");
    s_capture_begin ();
    log_warn ("hello %d", 7);
    char *out = s_capture_end ();
    log_set_format (LOG_FORMAT_LOGFMT);
    trace_set_current (NULL);
    log_set_context (NULL, NULL);
    json_t *line = s_json_line (out);
    s_assert_matches (json_string_value (json_object_get (line, "ts")),
                      "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$");
    assert_string_equal (json_string_value (json_object_get (line, "level")), "warn");
    assert_string_equal (json_string_value (json_object_get (line, "svc")), "token");
    assert_string_equal (json_string_value (json_object_get (line, "trace_id")), TID);
    assert_string_equal (json_string_value (json_object_get (line, "span_id")), SID);
    assert_string_equal (json_string_value (json_object_get (line, "rid")), "rid1");
    assert_string_equal (json_string_value (json_object_get (line, "op")), "token.token");
    assert_string_equal (json_string_value (json_object_get (line, "msg")), "hello 7");
    assert_int_equal (json_object_size (line), 8);
    json_decref (line);
    free (out);
}

static void
test_log_json_escapes_quotes_controls_and_bad_utf8 (void **state)
{
    (void)state;
    log_set_format (LOG_FORMAT_JSON);
    s_capture_begin ();
    log_error ("a\"b\\c\nd\x01\x7f caf\xc3\xa9 \xff\xc3(\xed\xa0\x80 \"}{\"x\":1");
    char *out = s_capture_end ();
    log_set_format (LOG_FORMAT_LOGFMT);
    json_t *line = s_json_line (out);
    assert_null (json_object_get (line, "trace_id"));
    assert_null (json_object_get (line, "x"));
    assert_string_equal (
        json_string_value (json_object_get (line, "msg")),
        "a\"b\\c\nd\x01\x7f caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
        "\"}{\"x\":1");
    json_decref (line);
    free (out);
}

static void
test_log_json_long_message_is_cut_and_marked (void **state)
{
    (void)state;
    size_t n = 20000;
    char *big = malloc (n + 1);
    assert_non_null (big);
    memset (big, '\x01', n); //  every byte becomes six when escaped
    big[n] = '\0';
    log_set_format (LOG_FORMAT_JSON);
    s_capture_begin ();
    log_info ("%s", big);
    char *out = s_capture_end ();
    log_set_format (LOG_FORMAT_LOGFMT);
    free (big);
    json_t *line = s_json_line (out);
    assert_true (json_is_true (json_object_get (line, "truncated")));
    json_decref (line);
    free (out);
}

static void
test_log_fields_are_key_values_in_logfmt (void **state)
{
    (void)state;
    log_field_t f[] = {LOG_STR ("method", "GET"), LOG_STR ("path", "/a b\"c=\n"), LOG_STR ("route", "token"),
                       LOG_INT ("status", 200),   LOG_NUM ("ms", 1.25),           LOG_STR ("client", NULL),
                       LOG_STR ("msg", "forged"), LOG_STR ("bad key\n", ""),      LOG_NUM ("nan", NAN)};
    s_capture_begin ();
    log_fields (OST_LOG_INFO, f, sizeof f / sizeof f[0], "request %d", 1);
    char *out = s_capture_end ();
    s_assert_matches (out,
                      " level=info svc=token method=GET path=\"/a b\\\\\"c=\\\\n\" route=token status=200 "
                      "ms=1\\.250 client=- f_msg=forged bad_key_=\"\" nan=- msg=\"request 1\"\n$");
    free (out);
}

static void
test_log_fields_are_members_in_json (void **state)
{
    (void)state;
    log_field_t f[] = {LOG_STR ("path", "/x\"}{\"y\":1 \xff"), LOG_INT ("status", 404), LOG_NUM ("ms", 0.5),
                       LOG_STR ("level", "forged"), LOG_NUM ("inf", INFINITY)};
    log_set_format (LOG_FORMAT_JSON);
    s_capture_begin ();
    log_fields (OST_LOG_WARN, f, sizeof f / sizeof f[0], "request");
    char *out = s_capture_end ();
    log_set_format (LOG_FORMAT_LOGFMT);
    json_t *line = s_json_line (out);
    assert_string_equal (json_string_value (json_object_get (line, "path")), "/x\"}{\"y\":1 \xef\xbf\xbd");
    assert_int_equal (json_integer_value (json_object_get (line, "status")), 404);
    assert_true (json_real_value (json_object_get (line, "ms")) == 0.5);
    assert_string_equal (json_string_value (json_object_get (line, "level")), "warn");
    assert_string_equal (json_string_value (json_object_get (line, "f_level")), "forged");
    assert_true (json_is_null (json_object_get (line, "inf")));
    assert_null (json_object_get (line, "y"));
    assert_string_equal (json_string_value (json_object_get (line, "msg")), "request");
    json_decref (line);
    free (out);
}

static void
test_log_fields_are_bounded (void **state)
{
    (void)state;
    char big[4 * LOG_FIELD_VALUE_MAX];
    memset (big, 'p', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_field_t f[LOG_FIELDS_MAX + 4];
    char keys[LOG_FIELDS_MAX + 4][8];
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        snprintf (keys[i], sizeof keys[i], "k%zu", i);
        f[i] = LOG_STR (keys[i], big);
    }
    log_set_format (LOG_FORMAT_JSON);
    s_capture_begin ();
    log_fields (OST_LOG_INFO, f, 1, "one");
    log_fields (OST_LOG_INFO, f, sizeof f / sizeof f[0], "many");
    char *out = s_capture_end ();
    log_set_format (LOG_FORMAT_LOGFMT);
    assert_int_equal (s_count_lines (out), 2);
    char *second = strchr (out, '\n') + 1;
    char *first = strndup (out, (size_t)(second - out));
    json_t *line = s_json_line (first);
    free (first);
    assert_int_equal (strlen (json_string_value (json_object_get (line, "k0"))), LOG_FIELD_VALUE_MAX);
    assert_true (json_is_true (json_object_get (line, "truncated")));
    json_decref (line);
    //  Past the room for fields the last ones are left out; the line stays
    //  one JSON object with its msg.
    line = s_json_line (second);
    assert_string_equal (json_string_value (json_object_get (line, "msg")), "many");
    assert_true (json_is_true (json_object_get (line, "truncated")));
    json_decref (line);
    free (out);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup (test_log_line_is_logfmt_with_ts_level_svc_msg, s_setup),
        cmocka_unit_test_setup (test_log_levels_are_named, s_setup),
        cmocka_unit_test_setup (test_log_threshold_drops_lower_levels, s_setup),
        cmocka_unit_test_setup (test_log_level_parse_accepts_the_four_names, s_setup),
        cmocka_unit_test_setup (test_log_context_adds_request_id_and_op, s_setup),
        cmocka_unit_test_setup (test_log_context_is_per_thread, s_setup),
        cmocka_unit_test_setup (test_log_context_cannot_inject_fields_or_lines, s_setup),
        cmocka_unit_test_setup (test_log_escapes_quotes_backslashes_and_control_bytes, s_setup),
        cmocka_unit_test_setup (test_log_long_message_is_cut_on_one_line, s_setup),
        cmocka_unit_test_setup (test_log_lines_from_threads_never_interleave, s_setup),
        cmocka_unit_test_setup (test_log_line_carries_trace_id_and_span_id, s_setup),
        cmocka_unit_test_setup (test_log_trace_id_is_the_trace_context_then_the_request_id, s_setup),
        cmocka_unit_test_setup (test_log_format_parse_accepts_logfmt_and_json, s_setup),
        cmocka_unit_test_setup (test_log_json_line_has_the_fields_as_members, s_setup),
        cmocka_unit_test_setup (test_log_json_escapes_quotes_controls_and_bad_utf8, s_setup),
        cmocka_unit_test_setup (test_log_json_long_message_is_cut_and_marked, s_setup),
        cmocka_unit_test_setup (test_log_fields_are_key_values_in_logfmt, s_setup),
        cmocka_unit_test_setup (test_log_fields_are_members_in_json, s_setup),
        cmocka_unit_test_setup (test_log_fields_are_bounded, s_setup),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
