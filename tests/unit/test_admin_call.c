/*  Unit tests of the admin envelopes' shared part (common/admin_call.c) and
 *  of the route lookup it uses (bus_route_find). */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin_call.h"
#include "ops.h"

#include <string.h>

//  What the last handler call saw.
static char s_actor[320];
static char s_client_id[80];
static int s_calls;

static int
s_client_get (bus_req_t *req, const json_t *body, json_t **result)
{
    (void)body;
    const token_client_get_in_t *in = BUS_IN (req, token_client_get);
    s_calls++;
    snprintf (s_actor, sizeof s_actor, "%s", req->actor ? req->actor : "(none)");
    snprintf (s_client_id, sizeof s_client_id, "%s", in->client_id);
    if (!strcmp (in->client_id, "missing")) {
        bus_req_fail (req, OST_ERR_NOT_FOUND, "no such client");
        return -1;
    }
    *result = json_pack ("{s:s}", "client_id", in->client_id);
    return 0;
}

static int
s_never (bus_req_t *req, const json_t *body, json_t **result)
{
    (void)req;
    (void)body;
    (void)result;
    fail_msg ("a handler the admin role may not reach was run");
    return -1;
}

//  A token-svc table: admin ops and one the gateway's alone.
static const bus_route_t s_routes[] = {
    {"token.client_get", s_client_get},
    {"token.exchange", s_never},
    {"token.client_list", NULL},
};
#define NROUTES (sizeof s_routes / sizeof s_routes[0])

static void
test_route_find_by_op_name (void **state)
{
    (void)state;
    assert_ptr_equal (bus_route_find (s_routes, NROUTES, "token.client_get"), &s_routes[0]);
    assert_ptr_equal (bus_route_find (s_routes, NROUTES, "token.exchange"), &s_routes[1]);
    assert_null (bus_route_find (s_routes, NROUTES, "token.client_add"));
    assert_null (bus_route_find (s_routes, NROUTES, NULL));
    assert_null (bus_route_find (NULL, 0, "token.client_get"));
}

static void
test_admin_call_op_allows_an_admin_op_of_the_service (void **state)
{
    (void)state;
    bus_handler_fn handler = NULL;
    const op_def_t *def = admin_call_op (s_routes, NROUTES, "token", "token.client_get", &handler);
    assert_non_null (def);
    assert_string_equal (def->name, "token.client_get");
    assert_ptr_equal (handler, s_client_get);
}

static void
test_admin_call_op_refuses_what_the_admin_role_may_not_call (void **state)
{
    (void)state;
    bus_handler_fn handler = s_never;
    //  In the table, but the gateway's op (proto/access.def).
    assert_null (admin_call_op (s_routes, NROUTES, "token", "token.exchange", &handler));
    assert_null (handler);
    //  Another service's admin op, named to this service's envelope.
    assert_null (admin_call_op (s_routes, NROUTES, "flow", "token.client_get", &handler));
    assert_null (admin_call_op (s_routes, NROUTES, "token", "flow.user_unlock", &handler));
    //  An admin op the table does not serve, or serves without a handler.
    assert_null (admin_call_op (s_routes, NROUTES, "token", "token.client_add", &handler));
    assert_null (admin_call_op (s_routes, NROUTES, "token", "token.client_list", &handler));
    //  No such op; the envelope itself.
    assert_null (admin_call_op (s_routes, NROUTES, "token", "token.nothing", &handler));
    assert_null (admin_call_op (s_routes, NROUTES, "token", "token.admin_call", &handler));
    assert_null (handler);
}

static bus_req_t
s_req (void)
{
    bus_req_t req = {.request_id = "00000000000000000000000000000001", .op = "token.admin_call"};
    return req;
}

static void
test_admin_call_run_runs_the_op_as_the_admin (void **state)
{
    (void)state;
    bus_req_t req = s_req ();
    const op_def_t *def = proto_op ("token.client_get");
    json_t *body = json_pack ("{s:s}", "client_id", "app");
    json_t *result = NULL;
    s_calls = 0;
    assert_int_equal (admin_call_run (&req, def, s_client_get, "alice-sub", body, &result), 0);
    assert_int_equal (s_calls, 1);
    assert_string_equal (s_actor, "admin:alice-sub");
    assert_string_equal (s_client_id, "app");
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (result, "result"), "client_id")), "app");
    //  The envelope's own request is left as it was.
    assert_string_equal (req.op, "token.admin_call");
    assert_null (req.actor);
    json_decref (result);
    json_decref (body);
}

static void
test_admin_call_run_checks_the_body_against_the_op_schema (void **state)
{
    (void)state;
    bus_req_t req = s_req ();
    const op_def_t *def = proto_op ("token.client_get");
    json_t *result = NULL;
    s_calls = 0;
    //  A member the op does not have, then a required one missing (no body).
    json_t *body = json_pack ("{s:s, s:i}", "client_id", "app", "extra", 1);
    assert_int_equal (admin_call_run (&req, def, s_client_get, "alice-sub", body, &result), -1);
    assert_int_equal (req.err, OST_ERR_INVALID_REQUEST);
    assert_non_null (strstr (req.err_description, "invalid request: extra"));
    json_decref (body);
    assert_int_equal (admin_call_run (&req, def, s_client_get, "alice-sub", NULL, &result), -1);
    assert_int_equal (req.err, OST_ERR_INVALID_REQUEST);
    assert_non_null (strstr (req.err_description, "client_id"));
    assert_int_equal (s_calls, 0);
    assert_null (result);
}

static void
test_admin_call_run_passes_the_op_error_on (void **state)
{
    (void)state;
    bus_req_t req = s_req ();
    const op_def_t *def = proto_op ("token.client_get");
    json_t *body = json_pack ("{s:s}", "client_id", "missing");
    json_t *result = NULL;
    assert_int_equal (admin_call_run (&req, def, s_client_get, "alice-sub", body, &result), -1);
    assert_int_equal (req.err, OST_ERR_NOT_FOUND);
    assert_string_equal (req.err_description, "no such client");
    assert_null (result);
    json_decref (body);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_route_find_by_op_name),
        cmocka_unit_test (test_admin_call_op_allows_an_admin_op_of_the_service),
        cmocka_unit_test (test_admin_call_op_refuses_what_the_admin_role_may_not_call),
        cmocka_unit_test (test_admin_call_run_runs_the_op_as_the_admin),
        cmocka_unit_test (test_admin_call_run_checks_the_body_against_the_op_schema),
        cmocka_unit_test (test_admin_call_run_passes_the_op_error_on),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
