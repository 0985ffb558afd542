/*  Unit tests of W3C Trace Context handling: traceparent parsing by the
 *  rules of the spec (version, lengths, case, all-zero ids, flags), its
 *  formatting, random ids, child spans, the X-Request-Id rule and the
 *  per-thread current context. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "trace.h"

#include <pthread.h>
#include <string.h>

#define TID "0af7651916cd43dd8448eb211c80319c"
#define SID "b7ad6b7169203331"

static void
test_trace_parse_accepts_the_spec_example (void **state)
{
    (void)state;
    trace_ctx_t ctx;
    assert_int_equal (trace_parse ("00-" TID "-" SID "-01", &ctx), 0);
    assert_string_equal (ctx.trace_id, TID);
    assert_string_equal (ctx.span_id, SID);
    assert_string_equal (ctx.parent_id, "");
    assert_int_equal (ctx.flags, TRACE_FLAG_SAMPLED);
    assert_int_equal (trace_parse ("00-" TID "-" SID "-00", &ctx), 0);
    assert_int_equal (ctx.flags, 0);
}

static void
test_trace_parse_rejects_all_zero_ids (void **state)
{
    (void)state;
    trace_ctx_t ctx;
    assert_int_equal (trace_parse ("00-00000000000000000000000000000000-" SID "-01", &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "-0000000000000000-01", &ctx), -1);
    assert_string_equal (ctx.trace_id, "");
}

static void
test_trace_parse_rejects_uppercase_and_non_hex (void **state)
{
    (void)state;
    trace_ctx_t ctx;
    assert_int_equal (trace_parse ("00-0AF7651916CD43DD8448EB211C80319C-" SID "-01", &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "-B7AD6B7169203331-01", &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "-" SID "-0A", &ctx), -1);
    assert_int_equal (trace_parse ("00-0af7651916cd43dd8448eb211c80319g-" SID "-01", &ctx), -1);
    assert_int_equal (trace_parse ("0A-" TID "-" SID "-01", &ctx), -1);
}

static void
test_trace_parse_rejects_wrong_lengths_and_separators (void **state)
{
    (void)state;
    trace_ctx_t ctx;
    assert_int_equal (trace_parse ("", &ctx), -1);
    assert_int_equal (trace_parse (NULL, &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "-" SID "-1", &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "-" SID "-011", &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "-" SID "-01-extra", &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "1-" SID "-01", &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "-" SID "1-01", &ctx), -1);
    assert_int_equal (trace_parse ("00_" TID "-" SID "-01", &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "_" SID "-01", &ctx), -1);
    assert_int_equal (trace_parse (" 00-" TID "-" SID "-01", &ctx), -1);
}

static void
test_trace_parse_bad_flags_and_versions (void **state)
{
    (void)state;
    trace_ctx_t ctx;
    //  Flags must be two hex digits; undefined bits are dropped.
    assert_int_equal (trace_parse ("00-" TID "-" SID "-xy", &ctx), -1);
    assert_int_equal (trace_parse ("00-" TID "-" SID "-ff", &ctx), 0);
    assert_int_equal (ctx.flags, TRACE_FLAG_SAMPLED);
    assert_int_equal (trace_parse ("00-" TID "-" SID "-02", &ctx), 0);
    assert_int_equal (ctx.flags, 0);
    //  Version ff is forbidden; a later version is read as 00, further
    //  fields after a dash.
    assert_int_equal (trace_parse ("ff-" TID "-" SID "-01", &ctx), -1);
    assert_int_equal (trace_parse ("01-" TID "-" SID "-01", &ctx), 0);
    assert_int_equal (trace_parse ("01-" TID "-" SID "-01-what-comes", &ctx), 0);
    assert_string_equal (ctx.trace_id, TID);
    assert_int_equal (trace_parse ("01-" TID "-" SID "-01what", &ctx), -1);
}

static void
test_trace_format_round_trips (void **state)
{
    (void)state;
    trace_ctx_t ctx;
    char out[TRACE_PARENT_LEN + 1];
    assert_int_equal (trace_parse ("00-" TID "-" SID "-01", &ctx), 0);
    assert_int_equal (trace_format (&ctx, out, sizeof out), 0);
    assert_string_equal (out, "00-" TID "-" SID "-01");
    assert_int_equal (trace_format (&ctx, out, sizeof out - 1), -1);
    trace_ctx_t empty;
    memset (&empty, 0, sizeof empty);
    assert_int_equal (trace_format (&empty, out, sizeof out), -1);
    assert_string_equal (out, "");
    assert_int_equal (trace_format (NULL, out, sizeof out), -1);
}

static void
test_trace_new_ids_are_valid_and_differ (void **state)
{
    (void)state;
    char a[TRACE_ID_HEX + 1], b[TRACE_ID_HEX + 1], s[TRACE_SPAN_HEX + 1], t[TRACE_SPAN_HEX + 1];
    assert_int_equal (trace_new_trace_id (a), 0);
    assert_int_equal (trace_new_trace_id (b), 0);
    assert_int_equal (trace_new_span_id (s), 0);
    assert_int_equal (trace_new_span_id (t), 0);
    assert_true (trace_id_valid (a, TRACE_ID_HEX));
    assert_true (trace_id_valid (s, TRACE_SPAN_HEX));
    assert_string_not_equal (a, b);
    assert_string_not_equal (s, t);
    //  Across refills of the thread's pool of random bytes, no id repeats.
    static char ids[1000][TRACE_ID_HEX + 1];
    for (int i = 0; i < 1000; i++) {
        assert_int_equal (trace_new_trace_id (ids[i]), 0);
        assert_true (trace_id_valid (ids[i], TRACE_ID_HEX));
        for (int j = 0; j < i; j++)
            assert_string_not_equal (ids[i], ids[j]);
    }
}

static void
test_trace_id_valid_checks_length_case_and_zeros (void **state)
{
    (void)state;
    assert_true (trace_id_valid (SID, TRACE_SPAN_HEX));
    assert_false (trace_id_valid (SID "0", TRACE_SPAN_HEX));
    assert_false (trace_id_valid ("b7ad6b716920333", TRACE_SPAN_HEX));
    assert_false (trace_id_valid ("B7AD6B7169203331", TRACE_SPAN_HEX));
    assert_false (trace_id_valid ("0000000000000000", TRACE_SPAN_HEX));
    assert_false (trace_id_valid (NULL, TRACE_SPAN_HEX));
}

static void
test_trace_start_and_child_link_spans (void **state)
{
    (void)state;
    trace_ctx_t root, child;
    assert_int_equal (trace_start (&root), 0);
    assert_true (trace_id_valid (root.trace_id, TRACE_ID_HEX));
    assert_true (trace_id_valid (root.span_id, TRACE_SPAN_HEX));
    assert_string_equal (root.parent_id, "");
    assert_int_equal (root.flags, TRACE_FLAG_SAMPLED);
    assert_int_equal (trace_child (&root, &child), 0);
    assert_string_equal (child.trace_id, root.trace_id);
    assert_string_equal (child.parent_id, root.span_id);
    assert_string_not_equal (child.span_id, root.span_id);
    //  No parent: a new trace.
    trace_ctx_t none, fresh;
    memset (&none, 0, sizeof none);
    assert_int_equal (trace_child (&none, &fresh), 0);
    assert_true (trace_id_valid (fresh.trace_id, TRACE_ID_HEX));
    assert_string_equal (fresh.parent_id, "");
    assert_int_equal (trace_child (NULL, &fresh), 0);
    assert_string_equal (fresh.parent_id, "");
}

static void
test_trace_request_id_ok_takes_only_sane_tokens (void **state)
{
    (void)state;
    assert_true (trace_request_id_ok ("3f2c1a9e-7b7d-4c1e-9a51-0c2b7e6f9d11"));
    assert_true (trace_request_id_ok ("req_42.a:b"));
    char max[TRACE_REQUEST_ID_MAX + 2];
    memset (max, 'a', TRACE_REQUEST_ID_MAX);
    max[TRACE_REQUEST_ID_MAX] = '\0';
    assert_true (trace_request_id_ok (max));
    max[TRACE_REQUEST_ID_MAX] = 'a';
    max[TRACE_REQUEST_ID_MAX + 1] = '\0';
    assert_false (trace_request_id_ok (max));
    assert_false (trace_request_id_ok (""));
    assert_false (trace_request_id_ok (NULL));
    assert_false (trace_request_id_ok ("a b"));
    assert_false (trace_request_id_ok ("a\"b"));
    assert_false (trace_request_id_ok ("a\nb"));
    assert_false (trace_request_id_ok ("a=b"));
    assert_false (trace_request_id_ok ("caf\xc3\xa9"));
}

static void *
s_read_current (void *arg)
{
    trace_ctx_t *seen = arg;
    *seen = *trace_current ();
    return NULL;
}

static void
test_trace_current_is_per_thread (void **state)
{
    (void)state;
    assert_string_equal (trace_current ()->trace_id, "");
    trace_ctx_t ctx;
    assert_int_equal (trace_start (&ctx), 0);
    trace_set_current (&ctx);
    assert_string_equal (trace_current ()->trace_id, ctx.trace_id);
    assert_string_equal (trace_current ()->span_id, ctx.span_id);
    trace_ctx_t other;
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_read_current, &other), 0);
    pthread_join (thread, NULL);
    assert_string_equal (other.trace_id, "");
    trace_set_current (NULL);
    assert_string_equal (trace_current ()->trace_id, "");
    assert_string_equal (trace_current ()->span_id, "");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_trace_parse_accepts_the_spec_example),
        cmocka_unit_test (test_trace_parse_rejects_all_zero_ids),
        cmocka_unit_test (test_trace_parse_rejects_uppercase_and_non_hex),
        cmocka_unit_test (test_trace_parse_rejects_wrong_lengths_and_separators),
        cmocka_unit_test (test_trace_parse_bad_flags_and_versions),
        cmocka_unit_test (test_trace_format_round_trips),
        cmocka_unit_test (test_trace_new_ids_are_valid_and_differ),
        cmocka_unit_test (test_trace_id_valid_checks_length_case_and_zeros),
        cmocka_unit_test (test_trace_start_and_child_link_spans),
        cmocka_unit_test (test_trace_request_id_ok_takes_only_sane_tokens),
        cmocka_unit_test (test_trace_current_is_per_thread),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
