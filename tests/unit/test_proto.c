/*  Unit tests of the op and error tables (proto/ops.def, proto/errors.def)
 *  as both ends of the bus see them. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto.h"

#include <string.h>

static void
test_proto_op_finds_every_op_of_the_table (void **state)
{
    (void)state;
    assert_true (proto_op_count () > 0);
    for (size_t i = 0; i < proto_op_count (); i++) {
        const op_def_t *op = proto_op_at (i);
        assert_non_null (op);
        assert_ptr_equal (proto_op (op->name), op);
        assert_true (op->max_body > 0);
        assert_true (op->timeout_ms > 0);
    }
}

static void
test_proto_op_names_are_prefixed_by_their_service (void **state)
{
    (void)state;
    for (size_t i = 0; i < proto_op_count (); i++) {
        const op_def_t *op = proto_op_at (i);
        size_t n = strlen (op->service);
        assert_true (proto_valid_service (op->service));
        assert_int_equal (strncmp (op->name, op->service, n), 0);
        assert_int_equal (op->name[n], '.');
    }
}

static void
test_proto_op_keeps_kind_and_limits (void **state)
{
    (void)state;
    const op_def_t *sign = proto_op ("keys.sign");
    assert_non_null (sign);
    assert_string_equal (sign->service, "keys");
    assert_int_equal (sign->kind, OP_READ);
    assert_int_equal (sign->max_body, 16384);
    assert_int_equal (sign->timeout_ms, 2000);
    const op_def_t *health = proto_op ("token.health");
    assert_non_null (health);
    assert_string_equal (health->service, "token");
}

static void
test_proto_op_unknown_is_null (void **state)
{
    (void)state;
    assert_null (proto_op (NULL));
    assert_null (proto_op (""));
    assert_null (proto_op ("keys.nope"));
    assert_null (proto_op ("KEYS.JWKS"));
    assert_null (proto_op ("keys.jwks "));
    assert_null (proto_op_at (proto_op_count ()));
}

static void
test_proto_err_maps_oauth_codes_to_http_status (void **state)
{
    (void)state;
    assert_string_equal (proto_err (OST_ERR_INVALID_REQUEST)->code, "invalid_request");
    assert_int_equal (proto_err (OST_ERR_INVALID_REQUEST)->http_status, 400);
    //  RFC 6749 §5.2: invalid_client is 401.
    assert_int_equal (proto_err (OST_ERR_INVALID_CLIENT)->http_status, 401);
    assert_int_equal (proto_err (OST_ERR_SERVER_ERROR)->http_status, 500);
    const err_def_t *busy = proto_err (OST_ERR_TEMPORARILY_UNAVAILABLE);
    assert_int_equal (busy->http_status, 503);
    assert_true (busy->retry_after > 0);
    assert_int_equal (proto_err (OST_ERR_DEADLINE_EXCEEDED)->http_status, 504);
}

static void
test_proto_err_by_code_roundtrips_every_error (void **state)
{
    (void)state;
    for (int id = 0; id < OST_ERR__COUNT; id++) {
        const err_def_t *err = proto_err ((ost_err_t)id);
        assert_int_equal (err->id, id);
        assert_ptr_equal (proto_err_by_code (err->code), err);
        assert_true (err->http_status >= 400 && err->http_status <= 599);
    }
}

static void
test_proto_err_unknown_is_server_error_or_null (void **state)
{
    (void)state;
    //  An id out of range is a bug; answer server_error rather than crash.
    assert_int_equal (proto_err (OST_ERR__COUNT)->id, OST_ERR_SERVER_ERROR);
    assert_int_equal (proto_err ((ost_err_t)-1)->id, OST_ERR_SERVER_ERROR);
    assert_null (proto_err_by_code ("no_such_error"));
    assert_null (proto_err_by_code (""));
    assert_null (proto_err_by_code (NULL));
}

//  The one bus error → HTTP mapping (errors.def's http column): a passed
//  deadline is answered temporarily_unavailable, 503 with Retry-After, at
//  every endpoint; our other internal codes are server_error.
static void
test_proto_err_http_deadline_is_temporarily_unavailable_with_retry_after (void **state)
{
    (void)state;
    const err_def_t *shown = proto_err_http (OST_ERR_DEADLINE_EXCEEDED);
    assert_int_equal (shown->id, OST_ERR_TEMPORARILY_UNAVAILABLE);
    assert_string_equal (shown->code, "temporarily_unavailable");
    assert_int_equal (shown->http_status, 503);
    assert_true (shown->retry_after > 0);
    assert_int_equal (proto_err_http (OST_ERR_TEMPORARILY_UNAVAILABLE)->http_status, 503);
    assert_int_equal (proto_err_http (OST_ERR_UNKNOWN_OP)->id, OST_ERR_SERVER_ERROR);
    assert_int_equal (proto_err_http (OST_ERR_DUPLICATE_REQUEST)->id, OST_ERR_SERVER_ERROR);
    assert_int_equal (proto_err_http (OST_ERR_NOT_FOUND)->id, OST_ERR_SERVER_ERROR);
    assert_int_equal (proto_err_http (OST_ERR_SERVER_ERROR)->http_status, 500);
    assert_int_equal (proto_err_http (OST_ERR__COUNT)->id, OST_ERR_SERVER_ERROR);
}

//  Page error reasons (proto/page_errors.def): distinct wire codes, one
//  lowercase word group each, NULL out of the table.
static void
test_proto_page_err_codes_are_distinct_and_bounded (void **state)
{
    (void)state;
    for (int i = 0; i < OST_PAGE_ERR__COUNT; i++) {
        const char *code = proto_page_err ((ost_page_err_t)i);
        assert_non_null (code);
        assert_true (strlen (code) > 0 && strlen (code) < 56);
        assert_int_equal (strspn (code, "abcdefghijklmnopqrstuvwxyz_"), strlen (code));
        for (int j = 0; j < i; j++)
            assert_string_not_equal (code, proto_page_err ((ost_page_err_t)j));
    }
    assert_string_equal (proto_page_err (OST_PAGE_ERR_UNKNOWN_CLIENT), "unknown_client");
    assert_null (proto_page_err (OST_PAGE_ERR__COUNT));
    assert_null (proto_page_err ((ost_page_err_t)-1));
}

static void
test_proto_err_http_keeps_oauth_codes_and_ends_in_one_step (void **state)
{
    (void)state;
    static const ost_err_t oauth[] = {
        OST_ERR_INVALID_REQUEST,    OST_ERR_INVALID_CLIENT, OST_ERR_INVALID_GRANT, OST_ERR_INVALID_TOKEN,
        OST_ERR_INSUFFICIENT_SCOPE, OST_ERR_LOGIN_REQUIRED, OST_ERR_ACCESS_DENIED};
    for (size_t i = 0; i < sizeof oauth / sizeof oauth[0]; i++)
        assert_ptr_equal (proto_err_http (oauth[i]), proto_err (oauth[i]));
    //  An HTTP answer is never mapped again, and every 503 says when to come
    //  back (Retry-After).
    for (int id = 0; id < OST_ERR__COUNT; id++) {
        const err_def_t *shown = proto_err_http ((ost_err_t)id);
        assert_ptr_equal (proto_err_http (shown->id), shown);
        if (shown->http_status == 503)
            assert_true (shown->retry_after > 0);
    }
}

static void
test_proto_valid_service_accepts_short_identifiers (void **state)
{
    (void)state;
    assert_true (proto_valid_service ("token"));
    assert_true (proto_valid_service ("keys"));
    assert_true (proto_valid_service ("a"));
    assert_true (proto_valid_service ("mmi.service"));
    assert_true (proto_valid_service ("a1-b_c.d"));
    assert_true (proto_valid_service ("abcdefghijklmnopqrstuvwxyz012345")); //  32
}

static void
test_proto_valid_service_rejects_everything_else (void **state)
{
    (void)state;
    assert_false (proto_valid_service (NULL));
    assert_false (proto_valid_service (""));
    assert_false (proto_valid_service ("Token"));
    assert_false (proto_valid_service ("1token"));
    assert_false (proto_valid_service ("-token"));
    assert_false (proto_valid_service ("to ken"));
    assert_false (proto_valid_service ("tok/en"));
    assert_false (proto_valid_service ("tok\"en"));
    assert_false (proto_valid_service ("abcdefghijklmnopqrstuvwxyz0123456")); //  33
}

static void
test_proto_roles_are_named_flags (void **state)
{
    (void)state;
    assert_int_equal (proto_role_count (), 5);
    unsigned all = 0;
    for (size_t i = 0; i < proto_role_count (); i++) {
        unsigned role = proto_role_at (i);
        assert_int_equal (role & (role - 1), 0); //  one bit
        assert_int_equal (proto_role (proto_role_name (role)), role);
        all |= role;
    }
    assert_int_equal (all, BUS_ROLE_ANY);
    assert_int_equal (proto_role ("admin"), BUS_ROLE_ADMIN);
    assert_int_equal (proto_role ("root"), 0);
    assert_int_equal (proto_role (NULL), 0);
    assert_null (proto_role_name (BUS_ROLE_TOKEN | BUS_ROLE_FLOW));
    assert_null (proto_role_name (0));
    assert_int_equal (proto_role_at (99), 0);
}

static void
test_proto_access_table_matches_the_op_table (void **state)
{
    (void)state;
    const char *why = "x", *what = "x";
    assert_int_equal (proto_access_check (&why, &what), 0);
    assert_null (why);
    for (size_t i = 0; i < proto_op_count (); i++)
        assert_int_not_equal (proto_op_roles (proto_op_at (i)->name), 0);
    assert_int_equal (proto_op_roles ("token.nope"), 0);
    assert_int_equal (proto_op_roles (NULL), 0);
}

static void
test_proto_may_call_follows_the_table (void **state)
{
    (void)state;
    assert_true (proto_may_call (BUS_ROLE_TOKEN, "keys.sign"));
    assert_false (proto_may_call (BUS_ROLE_GATEWAY, "keys.sign"));
    assert_false (proto_may_call (BUS_ROLE_ADMIN, "keys.sign"));
    assert_true (proto_may_call (BUS_ROLE_ADMIN, "token.client_add"));
    assert_false (proto_may_call (BUS_ROLE_TOKEN, "token.client_add"));
    assert_false (proto_may_call (BUS_ROLE_GATEWAY, "flow.settings_set"));
    assert_true (proto_may_call (BUS_ROLE_GATEWAY, "token.exchange"));
    assert_true (proto_may_call (BUS_ROLE_FLOW, "token.subject_revoke"));
    assert_true (proto_may_call (BUS_ROLE_KEYS, "token.health"));
    //  never more than one role at a time, never an unknown op
    assert_false (proto_may_call (BUS_ROLE_TOKEN | BUS_ROLE_ADMIN, "keys.sign"));
    assert_false (proto_may_call (0, "token.health"));
    assert_false (proto_may_call (BUS_ROLE_ADMIN, "token.nope"));
}

static void
test_proto_may_serve_only_its_own_service (void **state)
{
    (void)state;
    assert_true (proto_may_serve (BUS_ROLE_TOKEN, "token"));
    assert_true (proto_may_serve (BUS_ROLE_FLOW, "flow"));
    assert_true (proto_may_serve (BUS_ROLE_KEYS, "keys"));
    assert_false (proto_may_serve (BUS_ROLE_FLOW, "token"));
    assert_false (proto_may_serve (BUS_ROLE_GATEWAY, "keys"));
    assert_false (proto_may_serve (BUS_ROLE_ADMIN, "token"));
    assert_false (proto_may_serve (BUS_ROLE_TOKEN, "mmi.service"));
    assert_int_equal (proto_worker_roles ("token"), BUS_ROLE_TOKEN);
    assert_int_equal (proto_worker_roles ("nope"), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_proto_op_finds_every_op_of_the_table),
        cmocka_unit_test (test_proto_op_names_are_prefixed_by_their_service),
        cmocka_unit_test (test_proto_op_keeps_kind_and_limits),
        cmocka_unit_test (test_proto_op_unknown_is_null),
        cmocka_unit_test (test_proto_err_maps_oauth_codes_to_http_status),
        cmocka_unit_test (test_proto_err_by_code_roundtrips_every_error),
        cmocka_unit_test (test_proto_err_unknown_is_server_error_or_null),
        cmocka_unit_test (test_proto_err_http_deadline_is_temporarily_unavailable_with_retry_after),
        cmocka_unit_test (test_proto_err_http_keeps_oauth_codes_and_ends_in_one_step),
        cmocka_unit_test (test_proto_valid_service_accepts_short_identifiers),
        cmocka_unit_test (test_proto_valid_service_rejects_everything_else),
        cmocka_unit_test (test_proto_roles_are_named_flags),
        cmocka_unit_test (test_proto_page_err_codes_are_distinct_and_bounded),
        cmocka_unit_test (test_proto_access_table_matches_the_op_table),
        cmocka_unit_test (test_proto_may_call_follows_the_table),
        cmocka_unit_test (test_proto_may_serve_only_its_own_service),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
