/*  Unit tests of the broker, the bus client and the bus worker, all over
 *  inproc:// with a fast heartbeat (100 ms, liveness 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "broker.h"
#include "bus_client.h"
#include "bus_msg.h"
#include "bus_worker.h"
#include "log.h"
#include "metrics.h"
#include "trace.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define HB 100

static int s_counter;
//  Liveness of the next fixture: tests whose raw worker cannot heartbeat while
//  the same thread waits on a call use a long one.
static int s_liveness = 3;

typedef struct {
    char endpoint[64];
    zactor_t *broker;
    bus_client_t *client;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->endpoint, sizeof f->endpoint, "inproc://broker-test-%d", ++s_counter);
    broker_cfg_t cfg = {.endpoint = f->endpoint,
                        .heartbeat_ms = HB,
                        .liveness = s_liveness,
                        .queue_max = 2,
                        .max_msg = 65536};
    f->broker = broker_new (&cfg);
    assert_non_null (f->broker);
    f->client = bus_client_new (f->endpoint, 65536, NULL);
    assert_non_null (f->client);
    *state = f;
    return 0;
}

static int
s_setup_patient (void **state)
{
    s_liveness = 50;
    int rc = s_setup (state);
    s_liveness = 3;
    return rc;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    bus_client_destroy (&f->client);
    zactor_destroy (&f->broker);
    free (f);
    return 0;
}

//  The echo worker serves keys.sign, a READ op whose request carries an
//  object of the caller's (claims): the tests put their controls there
//  (sleep_ms, fail), and the echo goes back as a string in jws, so that
//  requests and results fit the op's table in proto/ops.def (which the
//  worker checks).
//  Claims "gate": the handler counts itself in s_gated and waits until
//  s_gate_open (at most 5 s). Claims "count": it counts itself in s_counted.
static atomic_int s_gated, s_gate_open, s_counted;

static int
s_echo (bus_req_t *req, const json_t *body, json_t **result)
{
    const keys_sign_in_t *in = BUS_IN (req, keys_sign);
    (void)body;
    if (json_object_get (in->claims, "count"))
        atomic_fetch_add (&s_counted, 1);
    if (json_object_get (in->claims, "gate")) {
        atomic_fetch_add (&s_gated, 1);
        int64_t end = bus_now_ms () + 5000;
        while (!atomic_load (&s_gate_open) && bus_now_ms () < end)
            zclock_sleep (2);
    }
    json_t *sleep_ms = json_object_get (in->claims, "sleep_ms");
    if (json_is_integer (sleep_ms))
        zclock_sleep ((int)json_integer_value (sleep_ms));
    if (json_object_get (in->claims, "fail")) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, "asked to fail");
        return -1;
    }
    char *echo = json_dumps (in->claims, JSON_COMPACT | JSON_SORT_KEYS);
    *result = json_pack ("{s:s,s:s,s:s}", "jws", echo, "kid", req->request_id, "alg", in->alg);
    free (echo);
    return 0;
}

//  A keys.sign body carrying claims (stolen; NULL: none).
static json_t *
s_body (json_t *claims)
{
    return json_pack ("{s:o,s:s}", "claims", claims ? claims : json_object (), "alg", "RS256");
}

//  The claims an echo result carries back (a new reference).
static json_t *
s_echoed (const json_t *result)
{
    return json_loads (json_string_value (json_object_get (result, "jws")), 0, NULL);
}

//  1 when result echoes the claims of body.
static int
s_echoes (const json_t *result, const json_t *body)
{
    json_t *echoed = s_echoed (result);
    int same = json_equal (echoed, json_object_get (body, "claims"));
    json_decref (echoed);
    return same;
}

//  A body without claims of its own, for calls that need any body.
static json_t *s_empty;

static const bus_route_t s_routes[] = {{"keys.sign", s_echo}};
//  A READ op for the direct endpoint, and a WRITE one (of service token) to
//  show that the direct endpoint refuses writes.
static const bus_route_t s_direct_routes[] = {{"keys.sign", s_echo}};
static const bus_route_t s_write_routes[] = {{"token.client_remove", s_echo}};

//  A worker of service keys (token when writes is set) whose broker
//  endpoint is f's (or nowhere when f is NULL) and that also serves at direct.
static bus_worker_t *
s_direct_worker (fixture_t *f, const char *direct, int writes)
{
    bus_worker_cfg_t cfg = {.service = writes ? "token" : "keys",
                            .endpoint = f ? f->endpoint : "inproc://nobody-binds-this",
                            .threads = 1,
                            .heartbeat_ms = HB,
                            .liveness = 3,
                            .routes = writes ? s_write_routes : s_direct_routes,
                            .nroutes = 1,
                            .direct_endpoint = direct};
    return bus_worker_new (&cfg);
}

static bus_worker_t *
s_worker (fixture_t *f, int threads)
{
    bus_worker_cfg_t cfg = {.service = "keys",
                            .endpoint = f->endpoint,
                            .threads = threads,
                            .heartbeat_ms = HB,
                            .liveness = 3,
                            .routes = s_routes,
                            .nroutes = 1};
    return bus_worker_new (&cfg);
}

//  Waits until the broker reports `want` for service readiness.
static int
s_wait_ready (fixture_t *f, const char *service, int want, int timeout_ms)
{
    int64_t end = bus_now_ms () + timeout_ms;
    while (bus_now_ms () < end) {
        if (bus_client_service_ready (f->client, service, 500) == want)
            return 1;
        zclock_sleep (20);
    }
    return 0;
}

//  A hand-driven worker socket, for misbehaving on purpose.
static zsock_t *
s_raw_worker (fixture_t *f, const char *service)
{
    zsock_t *sock = zsock_new_dealer (f->endpoint);
    assert_non_null (sock);
    bus_msg_t *ready = bus_msg_new (BUS_READY);
    assert_int_equal (bus_msg_set_service (ready, service), 0);
    assert_int_equal (bus_msg_send (&ready, sock, NULL), 0);
    return sock;
}

//  Receives the next REQUEST on a raw worker, skipping heartbeats.
static bus_msg_t *
s_raw_next_request (zsock_t *sock, int timeout_ms)
{
    while (true) {
        int arrived = 0;
        bus_msg_t *msg = bus_msg_recv_wait (sock, NULL, 65536, timeout_ms, &arrived);
        if (!msg)
            return NULL;
        if (bus_msg_type (msg) == BUS_REQUEST)
            return msg;
        bus_msg_destroy (&msg);
    }
}

static void
s_raw_heartbeat (zsock_t *sock)
{
    bus_msg_t *hb = bus_msg_new (BUS_HEARTBEAT);
    assert_int_equal (bus_msg_send (&hb, sock, NULL), 0);
}

//  Sends a keys.health REQUEST from a raw client socket.
static void
s_raw_request (zsock_t *client, const char *rid, int64_t deadline)
{
    bus_msg_t *req = bus_msg_new (BUS_REQUEST);
    assert_int_equal (bus_msg_set_service (req, "keys"), 0);
    assert_int_equal (bus_msg_set_op (req, "keys.health"), 0);
    assert_int_equal (bus_msg_set_request_id (req, rid), 0);
    bus_msg_set_deadline (req, deadline);
    json_t *empty = json_object ();
    assert_int_equal (bus_msg_set_body_json (req, empty), 0);
    json_decref (empty);
    assert_int_equal (bus_msg_send (&req, client, NULL), 0);
}

//  The error code of a REPLY received on a raw client socket.
static void
s_expect_error_reply (zsock_t *client, const char *rid, const char *code, int timeout_ms)
{
    int arrived = 0;
    bus_msg_t *reply = bus_msg_recv_wait (client, NULL, 65536, timeout_ms, &arrived);
    assert_non_null (reply);
    assert_string_equal (bus_msg_request_id (reply), rid);
    size_t len;
    const unsigned char *data = bus_msg_body (reply, &len);
    json_t *body = bus_body_to_json (data, len);
    assert_string_equal (json_string_value (json_object_get (json_object_get (body, "error"), "code")), code);
    json_decref (body);
    bus_msg_destroy (&reply);
}

static void
test_broker_routes_request_to_worker_and_back (void **state)
{
    fixture_t *f = *state;
    bus_worker_t *worker = s_worker (f, 2);
    assert_non_null (worker);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    json_t *body = s_body (json_pack ("{s:s}", "hello", "world"));
    const char *const ok[] = {"keys.sign", "ok"};
    const char *const keys[] = {"keys"};
    double calls = metrics_get (METRIC_BUS_CALL, ok), ops = metrics_get (METRIC_BUS_OP, ok);
    double served = metrics_get (METRIC_BROKER_SERVED, NULL);
    double waits = metrics_get (METRIC_BROKER_QUEUE_WAIT, keys);
    for (int i = 0; i < 20; i++) {
        json_t *result = NULL;
        bus_error_t error;
        assert_int_equal (bus_client_call (f->client, "keys.sign", body, 1000, &result, &error), 0);
        assert_true (s_echoes (result, body));
        json_decref (result);
    }
    json_decref (body);
    //  Each call measured by the client, the broker and the worker (the
    //  broker and the worker count a reply once it is sent, so they may lag
    //  the last call a little).
    assert_true (metrics_get (METRIC_BUS_CALL, ok) == calls + 20);
    assert_true (metrics_get (METRIC_BROKER_QUEUE_WAIT, keys) == waits + 20);
    for (int i = 0; i < 400 && (metrics_get (METRIC_BUS_OP, ok) < ops + 20 ||
                                metrics_get (METRIC_BROKER_SERVED, NULL) < served + 20);
         i++)
        zclock_sleep (5);
    assert_true (metrics_get (METRIC_BROKER_SERVED, NULL) == served + 20);
    assert_true (metrics_get (METRIC_BUS_OP, ok) == ops + 20);
    bus_worker_destroy (&worker);
    assert_null (worker);
}

//  The worker checks every request against its op's table before the
//  handler runs: a body that does not fit never reaches it.
static atomic_int s_bad_runs;
static int
s_count_and_echo (bus_req_t *req, const json_t *body, json_t **result)
{
    atomic_fetch_add (&s_bad_runs, 1);
    return s_echo (req, body, result);
}

static void
test_worker_refuses_a_body_outside_the_op_table (void **state)
{
    fixture_t *f = *state;
    static const bus_route_t routes[] = {{"keys.sign", s_count_and_echo}};
    bus_worker_cfg_t cfg = {.service = "keys",
                            .endpoint = f->endpoint,
                            .threads = 1,
                            .heartbeat_ms = HB,
                            .liveness = 3,
                            .routes = routes,
                            .nroutes = 1};
    bus_worker_t *worker = bus_worker_new (&cfg);
    assert_non_null (worker);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    atomic_store (&s_bad_runs, 0);
    static const struct {
        const char *json;
        const char *why;
    } cases[] = {
        {"{\"claims\": {}, \"alg\": \"RS256\", \"kid\": \"evil\"}", "invalid request: kid: unknown member"},
        {"{\"alg\": \"RS256\"}", "invalid request: claims: required"},
        {"{\"claims\": [], \"alg\": \"RS256\"}", "invalid request: claims: must be an object"},
        {"{\"claims\": {}, \"alg\": \"RS\\n256\"}",
         "invalid request: alg: must not contain control characters"},
        {"{\"claims\": {}, \"alg\": \"RS256\", \"id_token\": {\"claims\": {}}}",
         "invalid request: id_token.alg: required"},
    };
    //  Sent by hand: the bus client refuses such a body itself, before it
    //  travels, in the same words.
    zsock_t *raw = zsock_new_dealer (f->endpoint);
    assert_non_null (raw);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *body = json_loads (cases[i].json, 0, NULL);
        assert_non_null (body);
        bus_msg_t *req = bus_msg_new (BUS_REQUEST);
        assert_int_equal (bus_msg_set_service (req, "keys"), 0);
        assert_int_equal (bus_msg_set_op (req, "keys.sign"), 0);
        assert_int_equal (bus_msg_set_request_id (req, "0123456789abcdef0123456789abcdef"), 0);
        bus_msg_set_deadline (req, bus_now_ms () + 2000);
        assert_int_equal (bus_msg_set_body_json (req, body), 0);
        assert_int_equal (bus_msg_send (&req, raw, NULL), 0);
        int arrived = 0;
        bus_msg_t *reply = bus_msg_recv_wait (raw, NULL, 65536, 2000, &arrived);
        assert_non_null (reply);
        size_t len;
        const unsigned char *data = bus_msg_body (reply, &len);
        json_t *answer = bus_body_to_json (data, len);
        const json_t *err = json_object_get (answer, "error");
        assert_string_equal (json_string_value (json_object_get (err, "code")), "invalid_request");
        assert_string_equal (json_string_value (json_object_get (err, "description")), cases[i].why);
        json_decref (answer);
        bus_msg_destroy (&reply);
        json_t *result = NULL;
        bus_error_t error;
        assert_int_equal (bus_client_call (f->client, "keys.sign", body, 1000, &result, &error), -1);
        assert_int_equal (error.err, OST_ERR_INVALID_REQUEST);
        assert_string_equal (error.description, cases[i].why);
        json_decref (body);
    }
    zsock_destroy (&raw);
    assert_int_equal (atomic_load (&s_bad_runs), 0);
    //  A body that fits does run.
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 1000, &result, &error), 0);
    json_decref (result);
    assert_int_equal (atomic_load (&s_bad_runs), 1);
    bus_worker_destroy (&worker);
}

#ifndef NDEBUG
//  A handler whose result does not fit its op's table: builds with
//  assertions answer server_error instead (and log it) so tests catch it.
static int
s_wrong_result (bus_req_t *req, const json_t *body, json_t **result)
{
    (void)req;
    (void)body;
    *result = json_pack ("{s:s}", "jws", "only");
    return 0;
}

static void
test_worker_replaces_a_result_outside_the_op_table (void **state)
{
    fixture_t *f = *state;
    static const bus_route_t routes[] = {{"keys.sign", s_wrong_result}};
    bus_worker_cfg_t cfg = {.service = "keys",
                            .endpoint = f->endpoint,
                            .threads = 1,
                            .heartbeat_ms = HB,
                            .liveness = 3,
                            .routes = routes,
                            .nroutes = 1};
    bus_worker_t *worker = bus_worker_new (&cfg);
    assert_non_null (worker);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 1000, &result, &error), -1);
    assert_int_equal (error.err, OST_ERR_SERVER_ERROR);
    assert_string_equal (error.description, "the result does not match proto/ops.def: kid: required");
    bus_worker_destroy (&worker);
}
#endif

static void
test_error_reply_travels_as_data (void **state)
{
    fixture_t *f = *state;
    bus_worker_t *worker = s_worker (f, 1);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    json_t *body = s_body (json_pack ("{s:b}", "fail", 1));
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "keys.sign", body, 1000, &result, &error), -1);
    assert_null (result);
    assert_int_equal (error.err, OST_ERR_INVALID_REQUEST);
    assert_string_equal (error.code, "invalid_request");
    assert_string_equal (error.description, "asked to fail");
    assert_int_equal (error.http_status, 400);
    json_decref (body);
    bus_worker_destroy (&worker);
}

static void
test_mmi_service_reports_live_workers (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (bus_client_service_ready (f->client, "keys", 1000), 0);
    bus_worker_t *worker = s_worker (f, 1);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    assert_int_equal (bus_client_service_ready (f->client, "flow", 1000), 0);
    //  A clean stop sends DISCONNECT: the broker forgets the worker at once.
    bus_worker_destroy (&worker);
    assert_true (s_wait_ready (f, "keys", 0, HB * 2));
}

static void
test_no_worker_is_temporarily_unavailable_before_deadline (void **state)
{
    fixture_t *f = *state;
    int64_t start = bus_now_ms ();
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "flow.health", NULL, 3000, &result, &error), -1);
    assert_int_equal (error.err, OST_ERR_TEMPORARILY_UNAVAILABLE);
    assert_int_equal (error.http_status, 503);
    assert_int_equal (error.retry_after, 1);
    assert_true (bus_now_ms () - start < 1000);
}

static void
test_unknown_op_is_refused_by_client (void **state)
{
    fixture_t *f = *state;
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "token.nope", NULL, 1000, &result, &error), -1);
    assert_int_equal (error.err, OST_ERR_UNKNOWN_OP);
}

static void
test_oversized_request_body_refused_before_sending (void **state)
{
    fixture_t *f = *state;
    char big[1024];
    memset (big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    json_t *body = json_pack ("{s:s}", "x", big); //  keys.health allows 256 bytes
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "keys.health", body, 1000, &result, &error), -1);
    assert_int_equal (error.err, OST_ERR_INVALID_REQUEST);
    json_decref (body);
}

static void
test_silent_worker_dropped_after_three_heartbeats (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    int64_t start = bus_now_ms ();
    //  It never heartbeats: gone within liveness * interval, plus one tick.
    assert_true (s_wait_ready (f, "keys", 0, HB * 3 + 500));
    int64_t took = bus_now_ms () - start;
    assert_true (took <= HB * 3 + 500);
    zsock_destroy (&raw);
}

static void
test_heartbeating_worker_is_kept (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    for (int i = 0; i < 8; i++) {
        zclock_sleep (HB);
        s_raw_heartbeat (raw);
    }
    assert_int_equal (bus_client_service_ready (f->client, "keys", 500), 1);
    zsock_destroy (&raw);
}

static void
test_dead_worker_fails_only_its_request_in_flight (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    //  The raw worker takes the request and dies silently.
    zsock_t *client = zsock_new_dealer (f->endpoint);
    s_raw_request (client, "inflight-1", bus_now_ms () + 5000);
    bus_msg_t *got = s_raw_next_request (raw, 1000);
    assert_non_null (got);
    bus_msg_destroy (&got);
    //  The broker answers it: temporarily_unavailable (503), never a resend.
    s_expect_error_reply (client, "inflight-1", "temporarily_unavailable", HB * 3 + 1000);
    assert_int_equal (bus_client_service_ready (f->client, "keys", 500), 0);
    zsock_destroy (&client);
    zsock_destroy (&raw);
}

//  A worker whose connection closed without a DISCONNECT (SIGKILL) is known
//  at the broker's next send to it (ZMQ_ROUTER_MANDATORY), not after its
//  missed heartbeats (50 here): the next request goes to a live worker.
static void
test_worker_gone_without_goodbye_is_skipped_at_once (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    zsock_destroy (&raw);
    bus_worker_t *worker = s_worker (f, 1);
    assert_non_null (worker);
    json_t *body = s_body (json_pack ("{s:s}", "after", "kill"));
    int64_t start = bus_now_ms ();
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "keys.sign", body, 2000, &result, &error), 0);
    assert_true (s_echoes (result, body));
    //  Far less than the 5 s the dead worker's heartbeats would take.
    assert_true (bus_now_ms () - start < 1500);
    json_decref (result);
    json_decref (body);
    bus_worker_destroy (&worker);
}

static void
test_slow_worker_gets_deadline_exceeded_and_stale_reply_is_dropped (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    json_t *result = NULL;
    bus_error_t error;
    int64_t start = bus_now_ms ();
    //  Nobody answers: the call returns at its deadline, not later.
    assert_int_equal (bus_client_call (f->client, "keys.health", NULL, 300, &result, &error), -1);
    assert_int_equal (error.err, OST_ERR_DEADLINE_EXCEEDED);
    assert_int_equal (error.http_status, 504);
    assert_true (bus_now_ms () - start < 800);
    //  The late answer arrives now; the next call must not take it for its own.
    bus_msg_t *req = s_raw_next_request (raw, 500);
    assert_non_null (req);
    bus_msg_t *late = bus_msg_new (BUS_REPLY);
    assert_int_equal (bus_msg_set_request_id (late, bus_msg_request_id (req)), 0);
    json_t *stale = json_pack ("{s:s}", "stale", "yes");
    assert_int_equal (bus_msg_set_result (late, stale), 0);
    json_decref (stale);
    assert_int_equal (bus_msg_send (&late, raw, NULL), 0);
    bus_msg_destroy (&req);
    s_raw_heartbeat (raw);
    zclock_sleep (50);
    //  Second request: the worker is idle again and gets the new id, not the old one.
    zsock_t *answerer = raw;
    bus_msg_t *req2 = NULL;
    zsock_t *client = zsock_new_dealer (f->endpoint);
    s_raw_request (client, "second", bus_now_ms () + 2000);
    req2 = s_raw_next_request (answerer, 1000);
    assert_non_null (req2);
    assert_string_equal (bus_msg_request_id (req2), "second");
    bus_msg_destroy (&req2);
    zsock_destroy (&client);
    zsock_destroy (&raw);
}

static void
test_full_queue_rejects_at_once (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    zsock_t *client = zsock_new_dealer (f->endpoint);
    //  1 in flight + 2 queued (queue_max = 2), the 4th is refused at once.
    for (int i = 0; i < 4; i++) {
        char rid[16];
        snprintf (rid, sizeof rid, "q%d", i);
        s_raw_request (client, rid, bus_now_ms () + 5000);
    }
    s_expect_error_reply (client, "q3", "temporarily_unavailable", 50);
    zsock_destroy (&client);
    zsock_destroy (&raw);
}

static void
test_queued_request_past_deadline_is_answered_by_broker (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    zsock_t *client = zsock_new_dealer (f->endpoint);
    s_raw_request (client, "busy", bus_now_ms () + 5000);
    s_raw_request (client, "queued", bus_now_ms () + 200);
    for (int i = 0; i < 5; i++) {
        zclock_sleep (HB);
        s_raw_heartbeat (raw);
    }
    s_expect_error_reply (client, "queued", "deadline_exceeded", 200);
    zsock_destroy (&client);
    zsock_destroy (&raw);
}

static void
test_malformed_message_does_not_hurt_broker (void **state)
{
    fixture_t *f = *state;
    bus_worker_t *worker = s_worker (f, 1);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    zsock_t *evil = zsock_new_dealer (f->endpoint);
    const unsigned char bomb[5] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    zsock_send (evil, "ssssssss", "garbage", "x", "", "", "", "", "", "");
    zmsg_t *m = zmsg_new ();
    unsigned char type = BUS_REQUEST;
    unsigned char deadline[8] = {0, 0, 0x7f, 0, 0, 0, 0, 0};
    zmsg_addstr (m, BUS_PROTOCOL);
    zmsg_addmem (m, &type, 1);
    zmsg_addstr (m, "keys");
    zmsg_addstr (m, "keys.sign");
    zmsg_addstr (m, "bomb");
    zmsg_addmem (m, deadline, 8);
    zmsg_addstr (m, "");
    zmsg_addmem (m, bomb, sizeof bomb);
    zmsg_send (&m, evil);
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 1000, &result, &error), 0);
    json_decref (result);
    zsock_destroy (&evil);
    bus_worker_destroy (&worker);
}

static void
test_worker_reconnects_after_broker_restart (void **state)
{
    fixture_t *f = *state;
    bus_worker_t *worker = s_worker (f, 1);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    bus_client_destroy (&f->client);
    zactor_destroy (&f->broker);
    broker_cfg_t cfg = {.endpoint = f->endpoint, .heartbeat_ms = HB, .liveness = 3, .queue_max = 2};
    //  libzmq releases an endpoint name asynchronously after close: retry briefly.
    for (int i = 0; i < 50 && !f->broker; i++) {
        f->broker = broker_new (&cfg);
        if (!f->broker)
            zclock_sleep (20);
    }
    assert_non_null (f->broker);
    f->client = bus_client_new (f->endpoint, 65536, NULL);
    assert_true (s_wait_ready (f, "keys", 1, 3000));
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 1000, &result, &error), 0);
    json_decref (result);
    bus_worker_destroy (&worker);
}

static void
test_broker_refuses_second_bind_of_endpoint (void **state)
{
    (void)state;
    broker_cfg_t cfg = {.endpoint = "tcp://127.0.0.1:1"};
    //  Port 1 needs privileges we drop in production; as root it may bind, so
    //  use an endpoint that is malformed instead.
    cfg.endpoint = "bogus://nowhere";
    assert_null (broker_new (&cfg));
}

static void
test_worker_serves_every_broker_of_a_list (void **state)
{
    //  Two gateways, two brokers: one worker process registers with both
    //  (OSTIARY_WORKERS threads each) and answers calls through either.
    fixture_t *f = *state;
    fixture_t *g = NULL;
    assert_int_equal (s_setup ((void **)&g), 0);
    char list[160];
    snprintf (list, sizeof list, "%s, %s", f->endpoint, g->endpoint);
    bus_worker_cfg_t cfg = {.service = "keys",
                            .endpoint = list,
                            .threads = 1,
                            .heartbeat_ms = HB,
                            .liveness = 3,
                            .routes = s_routes,
                            .nroutes = 1};
    bus_worker_t *worker = bus_worker_new (&cfg);
    assert_non_null (worker);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    assert_true (s_wait_ready (g, "keys", 1, 2000));
    fixture_t *both[] = {f, g};
    for (int i = 0; i < 2; i++) {
        json_t *result = NULL;
        bus_error_t error;
        assert_int_equal (bus_client_call (both[i]->client, "keys.sign", s_empty, 1000, &result, &error), 0);
        json_decref (result);
    }
    bus_worker_destroy (&worker);
    //  A malformed list starts nothing.
    cfg.endpoint = "inproc://a,,inproc://b";
    assert_null (bus_worker_new (&cfg));
    s_teardown ((void **)&g);
}

static void
test_worker_refuses_route_outside_proto_table (void **state)
{
    fixture_t *f = *state;
    static const bus_route_t bad[] = {{"keys.sign", s_echo}};
    bus_worker_cfg_t cfg = {.service = "token", .endpoint = f->endpoint, .routes = bad, .nroutes = 1};
    assert_null (bus_worker_new (&cfg));
    static const bus_route_t unknown[] = {{"token.bogus", s_echo}};
    cfg.routes = unknown;
    assert_null (bus_worker_new (&cfg));
}

static void
test_broker_stats_counts (void **state)
{
    fixture_t *f = *state;
    zstr_send (f->broker, "STATS");
    char *text = zstr_recv (f->broker);
    assert_non_null (text);
    json_t *stats = json_loads (text, 0, NULL);
    assert_non_null (stats);
    assert_true (json_is_integer (json_object_get (stats, "served")));
    json_decref (stats);
    zstr_free (&text);
}

//  REFUSALS: two frames, the tag and the summary of refused calls; a broker
//  that refused nothing has an empty one (tests/e2e/test_audit.py has the
//  broker refuse a role's call and finds it in the audit trail).
static void
test_broker_refusals_summary_is_empty_without_refusals (void **state)
{
    fixture_t *f = *state;
    //  A broker that does not know the command never answers: wait 2 s.
    zsock_set_rcvtimeo (zactor_sock (f->broker), 2000);
    zstr_send (f->broker, "REFUSALS");
    zmsg_t *answer = zmsg_recv (f->broker);
    zsock_set_rcvtimeo (zactor_sock (f->broker), -1);
    assert_non_null (answer);
    assert_int_equal (zmsg_size (answer), 2);
    char *tag = zmsg_popstr (answer);
    char *text = zmsg_popstr (answer);
    assert_string_equal (tag, "REFUSALS");
    json_t *summary = json_loads (text, 0, NULL);
    assert_non_null (summary);
    assert_int_equal (json_array_size (json_object_get (summary, "refusals")), 0);
    assert_int_equal (json_integer_value (json_object_get (summary, "dropped")), 0);
    json_decref (summary);
    zstr_free (&tag);
    zstr_free (&text);
    zmsg_destroy (&answer);
    //  STATS still answers one frame.
    zstr_send (f->broker, "STATS");
    answer = zmsg_recv (f->broker);
    assert_int_equal (zmsg_size (answer), 1);
    zmsg_destroy (&answer);
}

//  What a handler has left for a call of its own: the deadline less the
//  margin, never negative, capped at ten minutes; and past it, expired.
static void
test_request_time_left_is_deadline_less_margin (void **state)
{
    (void)state;
    bus_req_t req = {0};
    req.deadline_ms = bus_now_ms () + 2000;
    int left = bus_req_time_left_ms (&req, 50);
    assert_true (left > 1900 && left <= 1950);
    assert_false (bus_req_expired (&req));
    req.deadline_ms = bus_now_ms () + 30;
    assert_int_equal (bus_req_time_left_ms (&req, 50), 0);
    req.deadline_ms = bus_now_ms () - 1;
    assert_int_equal (bus_req_time_left_ms (&req, 0), 0);
    assert_true (bus_req_expired (&req));
    req.deadline_ms = bus_now_ms () + 3600000;
    assert_int_equal (bus_req_time_left_ms (&req, 0), 600000);
}

static void
test_direct_spec_is_checked (void **state)
{
    (void)state;
    assert_int_equal (bus_client_direct (NULL, NULL), 0);
    assert_int_equal (bus_client_direct (NULL, ""), 0);
    assert_int_equal (bus_client_direct (NULL, "keys=tcp://127.0.0.1:5557"), 0);
    assert_int_equal (bus_client_direct (NULL, "keys=tcp://a:1,keys=tcp://b:2,flow=ipc:///tmp/x"), 0);
    const char *bad[] = {"keys",
                         "keys=",
                         "=tcp://a:1",
                         "nope=tcp://a:1",
                         "keys=http://a:1",
                         "keys=tcp://a:1,",
                         ",keys=tcp://a:1",
                         "keys=tcp://a:1,,keys=tcp://b:2",
                         "a-service-name-far-longer-than-thirty-two-bytes=tcp://a:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (bus_client_direct (NULL, bad[i]), -1);
}

//  With no broker at all, a READ op still gets its answer from the direct
//  endpoint; a WRITE op never goes there (it waits for a broker that is
//  not there and fails).
static void
test_direct_endpoint_answers_reads_without_the_broker (void **state)
{
    (void)state;
    bus_worker_t *worker = s_direct_worker (NULL, "inproc://direct-test-1", 0);
    assert_non_null (worker);
    bus_client_t *client = bus_client_new ("inproc://no-broker-here", 65536, NULL);
    assert_non_null (client);
    assert_int_equal (bus_client_direct (client, "keys=inproc://direct-test-1"), 0);
    json_t *body = s_body (json_pack ("{s:i}", "n", 7));
    json_t *result = NULL;
    bus_error_t error;
    for (int i = 0; i < 3; i++) {
        assert_int_equal (bus_client_call (client, "keys.sign", body, 1000, &result, &error), 0);
        json_t *echoed = s_echoed (result);
        assert_int_equal (json_integer_value (json_object_get (echoed, "n")), 7);
        json_decref (echoed);
        json_decref (result);
    }
    //  Errors travel as data on this path too.
    json_t *fail = s_body (json_pack ("{s:b}", "fail", 1));
    assert_int_equal (bus_client_call (client, "keys.sign", fail, 1000, &result, &error), -1);
    assert_int_equal (error.err, OST_ERR_INVALID_REQUEST);
    json_decref (fail);
    json_t *remove = json_pack ("{s:s}", "client_id", "c");
    assert_int_equal (bus_client_call (client, "token.client_remove", remove, 300, &result, &error), -1);
    json_decref (remove);
    assert_null (result);
    assert_true (error.err == OST_ERR_TEMPORARILY_UNAVAILABLE || error.err == OST_ERR_DEADLINE_EXCEEDED);
    json_decref (body);
    bus_client_destroy (&client);
    bus_worker_destroy (&worker);
}

//  A WRITE request sent to the direct endpoint by hand is refused there
//  (unknown_op), never run.
static void
test_direct_endpoint_refuses_write_ops (void **state)
{
    (void)state;
    bus_worker_t *worker = s_direct_worker (NULL, "inproc://direct-test-2", 1);
    assert_non_null (worker);
    zsock_t *sock = zsock_new_dealer (">inproc://direct-test-2");
    assert_non_null (sock);
    bus_msg_t *req = bus_msg_new (BUS_REQUEST);
    assert_int_equal (bus_msg_set_service (req, "token"), 0);
    assert_int_equal (bus_msg_set_op (req, "token.client_remove"), 0);
    assert_int_equal (bus_msg_set_request_id (req, "0123456789abcdef0123456789abcdef"), 0);
    bus_msg_set_deadline (req, bus_now_ms () + 2000);
    json_t *body = json_object ();
    assert_int_equal (bus_msg_set_body_json (req, body), 0);
    json_decref (body);
    assert_int_equal (bus_msg_send (&req, sock, NULL), 0);
    s_expect_error_reply (sock, "0123456789abcdef0123456789abcdef", "unknown_op", 2000);
    zsock_destroy (&sock);
    bus_worker_destroy (&worker);
}

//  A direct endpoint that nobody serves: READ ops go through the broker.
static void
test_reads_fall_back_to_the_broker_when_no_direct_endpoint_is_up (void **state)
{
    fixture_t *f = *state;
    bus_worker_t *worker = s_worker (f, 1);
    assert_non_null (worker);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    assert_int_equal (bus_client_direct (f->client, "keys=tcp://127.0.0.1:9"), 0);
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 1000, &result, &error), 0);
    assert_non_null (json_object_get (result, "jws"));
    json_decref (result);
    bus_worker_destroy (&worker);
}

//  A direct endpoint whose process hangs (bound, connected, never answers):
//  a READ op goes through the broker after the direct budget (250 ms), well
//  before its deadline, and the next calls skip the direct endpoint while it
//  rests.
static void
test_reads_leave_a_hung_direct_endpoint_for_the_broker (void **state)
{
    fixture_t *f = *state;
    bus_worker_t *worker = s_worker (f, 1);
    assert_non_null (worker);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    zsock_t *hung = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (hung, "tcp://127.0.0.1:*[61000-]");
    assert_true (port > 0);
    char spec[64];
    snprintf (spec, sizeof spec, "keys=tcp://127.0.0.1:%d", port);
    assert_int_equal (bus_client_direct (f->client, spec), 0);
    zclock_sleep (200); //  the connection is up: sends go to it
    json_t *result = NULL;
    bus_error_t error;
    int64_t t0 = bus_now_ms ();
    assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 2000, &result, &error), 0);
    int64_t first = bus_now_ms () - t0;
    assert_non_null (json_object_get (result, "jws"));
    json_decref (result);
    assert_true (first >= 200 && first < 1000);
    //  The hung endpoint got the request (and never answered it).
    zsock_set_rcvtimeo (hung, 0);
    zmsg_t *got = zmsg_recv (hung);
    assert_non_null (got);
    zmsg_destroy (&got);
    t0 = bus_now_ms ();
    for (int i = 0; i < 3; i++) {
        assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 2000, &result, &error), 0);
        json_decref (result);
    }
    assert_true (bus_now_ms () - t0 < 200);
    zsock_destroy (&hung);
    bus_worker_destroy (&worker);
}

//  A direct endpoint that cannot be bound fails the worker's start.
static void
test_worker_with_an_unbindable_direct_endpoint_does_not_start (void **state)
{
    (void)state;
    bus_worker_t *first = s_direct_worker (NULL, "inproc://direct-test-3", 0);
    assert_non_null (first);
    assert_null (s_direct_worker (NULL, "inproc://direct-test-3", 0));
    assert_null (s_direct_worker (NULL, "bogus://x", 0));
    bus_worker_destroy (&first);
}

//  A worker that leaves (DISCONNECT) after the broker handed it a request it
//  had not started: the request goes to the next worker, not back as an error.
static void
test_worker_leaving_hands_its_unstarted_request_to_the_next (void **state)
{
    fixture_t *f = *state;
    zsock_t *first = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    zsock_t *second = s_raw_worker (f, "keys");
    zclock_sleep (50);
    zsock_t *client = zsock_new_dealer (f->endpoint);
    s_raw_request (client, "left-1", bus_now_ms () + 5000);
    bus_msg_t *got = s_raw_next_request (first, 1000);
    assert_non_null (got);
    bus_msg_destroy (&got);
    bus_msg_t *bye = bus_msg_new (BUS_DISCONNECT);
    assert_int_equal (bus_msg_send (&bye, first, NULL), 0);
    //  The same request, now with the second worker, which answers it.
    got = s_raw_next_request (second, 1000);
    assert_non_null (got);
    assert_string_equal (bus_msg_request_id (got), "left-1");
    bus_msg_destroy (&got);
    bus_msg_t *reply = bus_msg_new (BUS_REPLY);
    assert_int_equal (bus_msg_set_request_id (reply, "left-1"), 0);
    json_t *ok = json_pack ("{s:b}", "served", 1);
    assert_int_equal (bus_msg_set_result (reply, ok), 0);
    json_decref (ok);
    assert_int_equal (bus_msg_send (&reply, second, NULL), 0);
    int arrived = 0;
    bus_msg_t *answer = bus_msg_recv_wait (client, NULL, 65536, 1000, &arrived);
    assert_non_null (answer);
    assert_string_equal (bus_msg_request_id (answer), "left-1");
    size_t len;
    const unsigned char *data = bus_msg_body (answer, &len);
    json_t *body = bus_body_to_json (data, len);
    assert_non_null (json_object_get (body, "ok"));
    json_decref (body);
    bus_msg_destroy (&answer);
    zsock_destroy (&client);
    zsock_destroy (&second);
    zsock_destroy (&first);
}

//  The last worker leaving with an unstarted request: answered at once.
static void
test_last_worker_leaving_fails_its_unstarted_request_at_once (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    zsock_t *client = zsock_new_dealer (f->endpoint);
    s_raw_request (client, "left-2", bus_now_ms () + 5000);
    bus_msg_t *got = s_raw_next_request (raw, 1000);
    assert_non_null (got);
    bus_msg_destroy (&got);
    bus_msg_t *bye = bus_msg_new (BUS_DISCONNECT);
    assert_int_equal (bus_msg_send (&bye, raw, NULL), 0);
    s_expect_error_reply (client, "left-2", "temporarily_unavailable", 500);
    zsock_destroy (&client);
    zsock_destroy (&raw);
}

static atomic_int s_can_serve = 1;

static int
s_check (void *arg, void *thread_state)
{
    (void)arg;
    (void)thread_state;
    return atomic_load (&s_can_serve);
}

//  thread_check: a thread that cannot serve leaves the broker (readiness
//  false, requests answered at once) and comes back when it can.
static void
test_worker_that_cannot_serve_leaves_and_comes_back (void **state)
{
    fixture_t *f = *state;
    atomic_store (&s_can_serve, 1);
    bus_worker_cfg_t cfg = {.service = "keys",
                            .endpoint = f->endpoint,
                            .threads = 2,
                            .heartbeat_ms = HB,
                            .liveness = 3,
                            .routes = s_routes,
                            .nroutes = 1,
                            .thread_check = s_check};
    bus_worker_t *worker = bus_worker_new (&cfg);
    assert_non_null (worker);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    atomic_store (&s_can_serve, 0);
    int64_t t0 = bus_now_ms ();
    assert_true (s_wait_ready (f, "keys", 0, 2000));
    assert_true (bus_now_ms () - t0 <= BUS_WORKER_CHECK_MS + 300);
    json_t *result = NULL;
    bus_error_t error;
    t0 = bus_now_ms ();
    assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 3000, &result, &error), -1);
    assert_int_equal (error.err, OST_ERR_TEMPORARILY_UNAVAILABLE);
    assert_int_equal (error.retry_after, 1);
    assert_true (bus_now_ms () - t0 < 1000);
    atomic_store (&s_can_serve, 1);
    t0 = bus_now_ms ();
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    assert_true (bus_now_ms () - t0 <= BUS_WORKER_CHECK_MS + 300);
    assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 1000, &result, &error), 0);
    json_decref (result);
    bus_worker_destroy (&worker);
}

typedef struct {
    const char *endpoint;
    int sleep_ms;
    int rc;
    int64_t started;
    bus_error_t error;
} s_slow_call_t;

//  One call from a thread of its own (a client belongs to one thread).
static void *
s_slow_call (void *arg)
{
    s_slow_call_t *c = arg;
    bus_client_t *client = bus_client_new (c->endpoint, 65536, NULL);
    json_t *body = s_body (json_pack ("{s:i}", "sleep_ms", c->sleep_ms));
    json_t *result = NULL;
    bus_error_t error;
    c->started = bus_now_ms ();
    c->rc = bus_client_call (client, "keys.sign", body, 3000, &result, &error);
    c->error = error;
    json_decref (result);
    json_decref (body);
    bus_client_destroy (&client);
    return NULL;
}

//  A result that does not fit the op's table is not handed to the caller,
//  whatever the build: the client answers server_error instead.
static void
test_client_refuses_a_result_outside_the_op_table (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    s_slow_call_t call = {.endpoint = f->endpoint, .sleep_ms = 0, .rc = 99};
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_slow_call, &call), 0);
    bus_msg_t *req = s_raw_next_request (raw, 2000);
    assert_non_null (req);
    bus_msg_t *reply = bus_msg_new (BUS_REPLY);
    assert_int_equal (bus_msg_set_request_id (reply, bus_msg_request_id (req)), 0);
    json_t *wrong =
        json_pack ("{s:s, s:s, s:s, s:b}", "jws", "a.b.c", "kid", "k", "alg", "RS256", "extra", 1);
    assert_int_equal (bus_msg_set_result (reply, wrong), 0);
    json_decref (wrong);
    assert_int_equal (bus_msg_send (&reply, raw, NULL), 0);
    bus_msg_destroy (&req);
    pthread_join (thread, NULL);
    assert_int_equal (call.rc, -1);
    assert_int_equal (call.error.err, OST_ERR_SERVER_ERROR);
    assert_string_equal (call.error.description, "the result does not match proto/ops.def");
    zsock_destroy (&raw);
}

//  The drain: the request in flight is answered, new requests go to the
//  other worker, and the drained worker's threads end.
static void
test_drain_finishes_the_request_in_flight (void **state)
{
    fixture_t *f = *state;
    bus_worker_t *draining = s_worker (f, 1);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    s_slow_call_t slow = {.endpoint = f->endpoint, .sleep_ms = 400, .rc = 99};
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_slow_call, &slow), 0);
    zclock_sleep (150); //  the request is in the only worker's hands
    bus_worker_t *other = s_worker (f, 1);
    zclock_sleep (100);
    int64_t t0 = bus_now_ms ();
    assert_int_equal (bus_worker_drain (draining, 2000), 0);
    //  It waited for the reply (~250 ms left), not for the whole deadline.
    assert_true (bus_now_ms () - t0 < 1500);
    pthread_join (thread, NULL);
    assert_int_equal (slow.rc, 0);
    bus_worker_destroy (&draining);
    //  What comes next goes to the other worker.
    for (int i = 0; i < 5; i++) {
        json_t *result = NULL;
        bus_error_t error;
        assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 1000, &result, &error), 0);
        json_decref (result);
    }
    bus_worker_destroy (&other);
    assert_int_equal (bus_worker_drain (NULL, 0), 0);
}

static void
test_drain_reports_a_request_still_running_at_its_deadline (void **state)
{
    fixture_t *f = *state;
    bus_worker_t *worker = s_worker (f, 1);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    s_slow_call_t slow = {.endpoint = f->endpoint, .sleep_ms = 600, .rc = 99};
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_slow_call, &slow), 0);
    zclock_sleep (150);
    assert_int_equal (bus_worker_drain (worker, 100), -1);
    //  (A service exits here; the test waits for the handler instead.)
    pthread_join (thread, NULL);
    assert_int_equal (slow.rc, 0);
    assert_int_equal (bus_worker_drain (worker, 1000), 0);
    bus_worker_destroy (&worker);
}

//  A handler that answers the trace context it runs in: its trace id, its
//  span id, its parent (the caller's span) and the log's trace id.
static int
s_trace_echo (bus_req_t *req, const json_t *body, json_t **result)
{
    (void)body;
    const trace_ctx_t *ctx = trace_current ();
    char *echo = NULL;
    json_t *seen = json_pack ("{s:s,s:s,s:s,s:s}", "trace_id", ctx->trace_id, "span_id", ctx->span_id,
                              "parent_id", ctx->parent_id, "log_trace_id", log_trace_id ());
    echo = json_dumps (seen, JSON_COMPACT);
    json_decref (seen);
    *result = json_pack ("{s:s,s:s,s:s}", "jws", echo, "kid", req->request_id, "alg", "RS256");
    free (echo);
    return 0;
}

static const bus_route_t s_trace_routes[] = {{"keys.sign", s_trace_echo}};

//  What the handler saw when client called it from a thread whose trace
//  context is ctx (NULL: none). A new reference.
static json_t *
s_trace_seen (bus_client_t *client, const trace_ctx_t *ctx)
{
    trace_set_current (ctx);
    json_t *result = NULL;
    bus_error_t error;
    assert_int_equal (bus_client_call (client, "keys.sign", s_empty, 1000, &result, &error), 0);
    trace_set_current (NULL);
    json_t *seen = s_echoed (result);
    json_decref (result);
    assert_non_null (seen);
    return seen;
}

static void
s_assert_child_of (json_t *seen, const trace_ctx_t *caller)
{
    const char *span_id = json_string_value (json_object_get (seen, "span_id"));
    assert_string_equal (json_string_value (json_object_get (seen, "trace_id")), caller->trace_id);
    assert_string_equal (json_string_value (json_object_get (seen, "parent_id")), caller->span_id);
    assert_string_equal (json_string_value (json_object_get (seen, "log_trace_id")), caller->trace_id);
    assert_true (trace_id_valid (span_id, TRACE_SPAN_HEX));
    assert_string_not_equal (span_id, caller->span_id);
}

//  The caller's trace context travels in the trace field (proto/bus.md):
//  the op runs in a child span of the caller's, in the caller's trace,
//  through the broker and through a direct endpoint alike; without one (or
//  with a field that is no traceparent) the op starts a trace.
static void
test_worker_runs_the_op_in_a_child_span_of_the_caller (void **state)
{
    fixture_t *f = *state;
    bus_worker_cfg_t cfg = {.service = "keys",
                            .endpoint = f->endpoint,
                            .threads = 1,
                            .heartbeat_ms = HB,
                            .liveness = 3,
                            .routes = s_trace_routes,
                            .nroutes = 1,
                            .direct_endpoint = "inproc://direct-trace-test"};
    bus_worker_t *worker = bus_worker_new (&cfg);
    assert_non_null (worker);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    trace_ctx_t caller;
    assert_int_equal (trace_start (&caller), 0);
    json_t *seen = s_trace_seen (f->client, &caller);
    s_assert_child_of (seen, &caller);
    json_decref (seen);

    bus_client_t *direct = bus_client_new ("inproc://no-broker-for-trace", 65536, NULL);
    assert_non_null (direct);
    assert_int_equal (bus_client_direct (direct, "keys=inproc://direct-trace-test"), 0);
    seen = s_trace_seen (direct, &caller);
    s_assert_child_of (seen, &caller);
    json_decref (seen);
    bus_client_destroy (&direct);

    seen = s_trace_seen (f->client, NULL);
    assert_true (trace_id_valid (json_string_value (json_object_get (seen, "trace_id")), TRACE_ID_HEX));
    assert_string_not_equal (json_string_value (json_object_get (seen, "trace_id")), caller.trace_id);
    assert_string_equal (json_string_value (json_object_get (seen, "parent_id")), "");
    json_decref (seen);

    bus_client_set_trace (f->client, "not a traceparent");
    seen = s_trace_seen (f->client, &caller);
    bus_client_set_trace (f->client, NULL);
    assert_string_not_equal (json_string_value (json_object_get (seen, "trace_id")), caller.trace_id);
    assert_string_equal (json_string_value (json_object_get (seen, "parent_id")), "");
    json_decref (seen);
    bus_worker_destroy (&worker);
}

//  Every service of proto/ops.def has its gauges from the broker's start, at
//  0 until a worker of it connects: an alert on no workers can fire for a
//  service that never connected.
static void
test_broker_gauges_exist_at_zero_for_every_service_from_the_start (void **state)
{
    (void)state;
    metrics_reset ();
    void *fixture = NULL;
    s_setup (&fixture);
    size_t len = 0;
    char *text = metrics_render (&len);
    assert_non_null (text);
    const char *lines[] = {
        "ostiary_broker_workers{service=\"token\"} 0\n", "ostiary_broker_workers{service=\"flow\"} 0\n",
        "ostiary_broker_workers{service=\"keys\"} 0\n", "ostiary_broker_idle_workers{service=\"keys\"} 0\n",
        "ostiary_broker_queued_requests{service=\"flow\"} 0\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr (text, lines[i]))
            fail_msg ("no %s in the metrics", lines[i]);
    free (text);
    s_teardown (&fixture);
}

//  ---------------------------------------------------------------------------
//  Credit (proto/bus.md, "Credit")

//  A worker of `threads` threads holding `credit` requests, heartbeating
//  every hb ms.
static bus_worker_t *
s_credit_worker (const char *endpoint, int threads, size_t credit, int hb)
{
    bus_worker_cfg_t cfg = {.service = "keys",
                            .endpoint = endpoint,
                            .threads = threads,
                            .credit = credit,
                            .heartbeat_ms = hb,
                            .liveness = 3,
                            .routes = s_routes,
                            .nroutes = 1};
    return bus_worker_new (&cfg);
}

//  The broker's STATS member of service keys, -1 when it has none.
static int
s_keys_stat (fixture_t *f, const char *member)
{
    zstr_send (f->broker, "STATS");
    char *text = zstr_recv (f->broker);
    json_t *stats = text ? json_loads (text, 0, NULL) : NULL;
    json_t *value = json_object_get (json_object_get (json_object_get (stats, "services"), "keys"), member);
    int n = json_is_integer (value) ? (int)json_integer_value (value) : -1;
    json_decref (stats);
    zstr_free (&text);
    return n;
}

//  Waits until condition() holds, at most timeout_ms.
#define WAIT_UNTIL(cond, timeout_ms)                                                                         \
    do {                                                                                                     \
        int64_t end_ = bus_now_ms () + (timeout_ms);                                                         \
        while (!(cond) && bus_now_ms () < end_)                                                              \
            zclock_sleep (5);                                                                                \
    } while (0)

typedef struct {
    const char *endpoint;
    json_t *claims; //  stolen
    int rc;
    int64_t done;
    bus_error_t error;
} s_call_t;

//  One call with the given claims, from a thread of its own.
static void *
s_call (void *arg)
{
    s_call_t *c = arg;
    bus_client_t *client = bus_client_new (c->endpoint, 65536, NULL);
    json_t *body = s_body (c->claims);
    json_t *result = NULL;
    c->rc = bus_client_call (client, "keys.sign", body, 3000, &result, &c->error);
    c->done = bus_now_ms ();
    json_decref (result);
    json_decref (body);
    bus_client_destroy (&client);
    return NULL;
}

//  A worker connection announces its credit and threads in READY, and the
//  broker hands it up to that many requests at once: with one thread
//  busy, the other three wait in the worker, none in the broker.
static void
test_worker_with_credit_4_receives_4_requests_in_one_burst (void **state)
{
    fixture_t *f = *state;
    //  READY as a broker sees it.
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://credit-ready-%d", ++s_counter);
    zsock_t *router = zsock_new_router (endpoint);
    assert_non_null (router);
    bus_worker_t *worker = s_credit_worker (endpoint, 1, 4, HB);
    assert_non_null (worker);
    zframe_t *id = NULL;
    int arrived = 0;
    bus_msg_t *ready = bus_msg_recv_wait (router, &id, 65536, 2000, &arrived);
    assert_non_null (ready);
    assert_int_equal (bus_msg_type (ready), BUS_READY);
    size_t len;
    const unsigned char *data = bus_msg_body (ready, &len);
    json_t *body = bus_body_to_json (data, len);
    assert_non_null (body);
    assert_int_equal (json_integer_value (json_object_get (body, "credit")), 4);
    assert_int_equal (json_integer_value (json_object_get (body, "threads")), 1);
    json_decref (body);
    bus_msg_destroy (&ready);
    zframe_destroy (&id);
    bus_worker_destroy (&worker);
    zsock_destroy (&router);

    //  The real broker: four requests, the first holds the only thread.
    atomic_store (&s_gated, 0);
    atomic_store (&s_gate_open, 0);
    worker = s_credit_worker (f->endpoint, 1, 4, HB);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    s_call_t calls[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        calls[i] = (s_call_t){
            .endpoint = f->endpoint, .claims = json_pack ("{s:b,s:i}", "gate", 1, "n", i), .rc = 99};
        assert_int_equal (pthread_create (&threads[i], NULL, s_call, &calls[i]), 0);
    }
    WAIT_UNTIL (s_keys_stat (f, "in_flight") == 4, 2000);
    assert_int_equal (s_keys_stat (f, "in_flight"), 4);
    assert_int_equal (s_keys_stat (f, "queued"), 0);
    assert_int_equal (s_keys_stat (f, "idle"), 0);
    assert_int_equal (atomic_load (&s_gated), 1);
    atomic_store (&s_gate_open, 1);
    for (int i = 0; i < 4; i++) {
        pthread_join (threads[i], NULL);
        assert_int_equal (calls[i].rc, 0);
    }
    assert_int_equal (atomic_load (&s_gated), 4);
    WAIT_UNTIL (s_keys_stat (f, "in_flight") == 0, 2000);
    assert_int_equal (s_keys_stat (f, "in_flight"), 0);
    assert_int_equal (s_keys_stat (f, "idle"), 1);
    bus_worker_destroy (&worker);
}

//  Two threads share a credit of 4: while one runs a slow request, every
//  other request is run by the idle thread, none waits behind the slow one.
static void
test_slow_op_does_not_delay_a_request_while_another_thread_is_idle (void **state)
{
    fixture_t *f = *state;
    atomic_store (&s_gated, 0);
    atomic_store (&s_gate_open, 0);
    //  A slow heartbeat: nothing but the idle thread's watch on the
    //  socket takes the requests in time (a thread that sends a heartbeat
    //  also drains the socket).
    bus_worker_t *worker = s_credit_worker (f->endpoint, 2, 4, 1000);
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    s_call_t slow = {.endpoint = f->endpoint, .claims = json_pack ("{s:b}", "gate", 1), .rc = 99};
    pthread_t slow_thread;
    assert_int_equal (pthread_create (&slow_thread, NULL, s_call, &slow), 0);
    WAIT_UNTIL (atomic_load (&s_gated) == 1, 2000);
    assert_int_equal (atomic_load (&s_gated), 1);
    //  Three at once, then one at a time: each is answered while the slow
    //  one still runs.
    s_call_t calls[3];
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) {
        calls[i] = (s_call_t){.endpoint = f->endpoint, .claims = json_pack ("{s:i}", "n", i), .rc = 99};
        assert_int_equal (pthread_create (&threads[i], NULL, s_call, &calls[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join (threads[i], NULL);
        assert_int_equal (calls[i].rc, 0);
    }
    //  Ten calls in a row take milliseconds each, far below a heartbeat.
    int64_t t0 = bus_now_ms ();
    for (int i = 0; i < 10; i++) {
        json_t *result = NULL;
        bus_error_t error;
        assert_int_equal (bus_client_call (f->client, "keys.sign", s_empty, 1000, &result, &error), 0);
        json_decref (result);
    }
    assert_true (bus_now_ms () - t0 < 500);
    assert_int_equal (slow.rc, 99);
    atomic_store (&s_gate_open, 1);
    pthread_join (slow_thread, NULL);
    assert_int_equal (slow.rc, 0);
    bus_worker_destroy (&worker);
}

//  A request whose deadline passes while it waits in the worker (its only
//  thread busy) is answered deadline_exceeded and never run.
static void
test_request_past_deadline_in_the_worker_is_answered_and_never_run (void **state)
{
    (void)state;
    atomic_store (&s_gated, 0);
    atomic_store (&s_gate_open, 0);
    atomic_store (&s_counted, 0);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://credit-deadline-%d", ++s_counter);
    zsock_t *router = zsock_new_router (endpoint);
    assert_non_null (router);
    bus_worker_t *worker = s_credit_worker (endpoint, 1, 2, HB);
    zframe_t *id = NULL;
    int arrived = 0;
    bus_msg_t *ready = bus_msg_recv_wait (router, &id, 65536, 2000, &arrived);
    assert_non_null (ready);
    bus_msg_destroy (&ready);
    //  The test is the broker: two requests, the first holds the thread.
    int64_t late = bus_now_ms () + 300;
    for (int i = 0; i < 2; i++) {
        bus_msg_t *req = bus_msg_new (BUS_REQUEST);
        assert_int_equal (bus_msg_set_service (req, "keys"), 0);
        assert_int_equal (bus_msg_set_op (req, "keys.sign"), 0);
        assert_int_equal (bus_msg_set_request_id (req, i == 0 ? "gated" : "late"), 0);
        bus_msg_set_deadline (req, i == 0 ? bus_now_ms () + 5000 : late);
        json_t *body = s_body (i == 0 ? json_pack ("{s:b}", "gate", 1) : json_pack ("{s:b}", "count", 1));
        assert_int_equal (bus_msg_set_body_json (req, body), 0);
        json_decref (body);
        assert_int_equal (bus_msg_send (&req, router, id), 0);
    }
    WAIT_UNTIL (atomic_load (&s_gated) == 1, 2000);
    assert_int_equal (atomic_load (&s_gated), 1);
    WAIT_UNTIL (bus_now_ms () > late, 1000);
    atomic_store (&s_gate_open, 1);
    //  Both answered, in order: the first ran, the second did not.
    for (int i = 0; i < 2; i++) {
        bus_msg_t *reply = NULL;
        while (!reply) {
            zframe_t *from = NULL;
            bus_msg_t *msg = bus_msg_recv_wait (router, &from, 65536, 2000, &arrived);
            zframe_destroy (&from);
            assert_non_null (msg);
            if (bus_msg_type (msg) == BUS_REPLY)
                reply = msg;
            else
                bus_msg_destroy (&msg);
        }
        size_t len;
        const unsigned char *data = bus_msg_body (reply, &len);
        json_t *body = bus_body_to_json (data, len);
        if (strcmp (bus_msg_request_id (reply), "late") == 0) {
            const char *code = json_string_value (json_object_get (json_object_get (body, "error"), "code"));
            assert_non_null (code);
            assert_string_equal (code, "deadline_exceeded");
        } else
            assert_non_null (json_object_get (body, "ok"));
        json_decref (body);
        bus_msg_destroy (&reply);
    }
    assert_int_equal (atomic_load (&s_counted), 0);
    bus_worker_destroy (&worker);
    zframe_destroy (&id);
    zsock_destroy (&router);
}

//  A REQUEST from the test, acting as the broker, on router to id.
static void
s_router_request (zsock_t *router, zframe_t *id, const char *rid, json_t *claims)
{
    bus_msg_t *req = bus_msg_new (BUS_REQUEST);
    assert_int_equal (bus_msg_set_service (req, "keys"), 0);
    assert_int_equal (bus_msg_set_op (req, "keys.sign"), 0);
    assert_int_equal (bus_msg_set_request_id (req, rid), 0);
    bus_msg_set_deadline (req, bus_now_ms () + 10000);
    json_t *body = s_body (claims);
    assert_int_equal (bus_msg_set_body_json (req, body), 0);
    json_decref (body);
    assert_int_equal (bus_msg_send (&req, router, id), 0);
}

//  The broker dies (SIGKILL: no DISCONNECT) while the worker holds a
//  request it has not started, and a new broker binds the same endpoint:
//  the worker's socket connects to it by itself. The request held is
//  dropped unexecuted (its client retries through the new broker, and a
//  WRITE run after that retry would look like a second use), and the
//  worker registers anew with READY.
static void
test_requests_held_when_the_broker_connection_drops_are_never_run (void **state)
{
    (void)state;
    atomic_store (&s_gated, 0);
    atomic_store (&s_gate_open, 0);
    atomic_store (&s_counted, 0);
    //  TCP, as between hosts: the connection drops when the broker's socket
    //  closes, and comes back when one binds the same port.
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    //  A slow heartbeat: the broker's silence is not what tells the worker.
    bus_worker_t *worker = s_credit_worker (endpoint, 1, 2, 1000);
    assert_non_null (worker);
    zframe_t *id = NULL;
    int arrived = 0;
    bus_msg_t *ready = bus_msg_recv_wait (router, &id, 65536, 2000, &arrived);
    assert_non_null (ready);
    assert_int_equal (bus_msg_type (ready), BUS_READY);
    bus_msg_destroy (&ready);
    //  Two requests: the first holds the only thread, the second waits in the worker.
    s_router_request (router, id, "gated", json_pack ("{s:b}", "gate", 1));
    s_router_request (router, id, "held", json_pack ("{s:b}", "count", 1));
    WAIT_UNTIL (atomic_load (&s_gated) == 1, 2000);
    assert_int_equal (atomic_load (&s_gated), 1);
    zframe_destroy (&id);
    zsock_destroy (&router);
    //  The new broker, and the worker's socket connected to it again.
    zactor_t *monitor = NULL;
    for (int i = 0; i < 50 && !router; i++) {
        router = zsock_new (ZMQ_ROUTER);
        monitor = zactor_new (zmonitor, router);
        zstr_sendx (monitor, "LISTEN", "ACCEPTED", NULL);
        zstr_sendx (monitor, "START", NULL);
        zsock_wait (monitor);
        if (zsock_bind (router, "%s", endpoint) != port) {
            zactor_destroy (&monitor);
            zsock_destroy (&router);
            zclock_sleep (20);
        }
    }
    assert_non_null (router);
    zsock_set_rcvtimeo (monitor, 3000);
    zmsg_t *accepted = zmsg_recv (monitor);
    assert_non_null (accepted);
    zmsg_destroy (&accepted);
    zactor_destroy (&monitor);
    //  The running request ends; the held one is never run, and the worker
    //  says READY to the new broker.
    atomic_store (&s_gate_open, 1);
    int ready_again = 0;
    int64_t end = bus_now_ms () + 5000;
    while (!ready_again && bus_now_ms () < end) {
        zframe_t *from = NULL;
        bus_msg_t *msg = bus_msg_recv_wait (router, &from, 65536, 500, &arrived);
        if (msg && bus_msg_type (msg) == BUS_READY)
            ready_again = 1;
        bus_msg_destroy (&msg);
        zframe_destroy (&from);
    }
    assert_true (ready_again);
    assert_int_equal (atomic_load (&s_counted), 0);
    bus_worker_destroy (&worker);
    zsock_destroy (&router);
}

//  A READY announcing a credit, from a hand-driven worker.
static zsock_t *
s_raw_credit_worker (fixture_t *f, const char *credit)
{
    zsock_t *sock = zsock_new_dealer (f->endpoint);
    assert_non_null (sock);
    bus_msg_t *ready = bus_msg_new (BUS_READY);
    assert_int_equal (bus_msg_set_service (ready, "keys"), 0);
    json_t *body = json_loads (credit, 0, NULL);
    assert_int_equal (bus_msg_set_body_json (ready, body), 0);
    json_decref (body);
    assert_int_equal (bus_msg_send (&ready, sock, NULL), 0);
    return sock;
}

static void
s_raw_reply (zsock_t *sock, const char *rid)
{
    bus_msg_t *reply = bus_msg_new (BUS_REPLY);
    assert_int_equal (bus_msg_set_request_id (reply, rid), 0);
    json_t *ok = json_pack ("{s:s}", "rid", rid);
    assert_int_equal (bus_msg_set_result (reply, ok), 0);
    json_decref (ok);
    assert_int_equal (bus_msg_send (&reply, sock, NULL), 0);
}

//  A worker holding two requests: a REPLY for an id it was not given, or
//  for one it answered already, is dropped; each client gets one answer.
static void
test_reply_for_an_unknown_or_answered_id_is_refused (void **state)
{
    fixture_t *f = *state;
    zsock_t *raw = s_raw_credit_worker (f, "{\"credit\": 2, \"threads\": 1}");
    assert_true (s_wait_ready (f, "keys", 1, 2000));
    zsock_t *client = zsock_new_dealer (f->endpoint);
    s_raw_request (client, "first", bus_now_ms () + 5000);
    s_raw_request (client, "second", bus_now_ms () + 5000);
    //  Both handed at once (credit 2).
    bus_msg_t *got = s_raw_next_request (raw, 1000);
    assert_non_null (got);
    assert_string_equal (bus_msg_request_id (got), "first");
    bus_msg_destroy (&got);
    got = s_raw_next_request (raw, 1000);
    assert_non_null (got);
    assert_string_equal (bus_msg_request_id (got), "second");
    bus_msg_destroy (&got);
    s_raw_reply (raw, "never-given");
    s_raw_reply (raw, "first");
    s_raw_reply (raw, "first");
    s_raw_reply (raw, "second");
    const char *expect[] = {"first", "second"};
    for (int i = 0; i < 2; i++) {
        int arrived = 0;
        bus_msg_t *answer = bus_msg_recv_wait (client, NULL, 65536, 1000, &arrived);
        assert_non_null (answer);
        assert_string_equal (bus_msg_request_id (answer), expect[i]);
        bus_msg_destroy (&answer);
    }
    int arrived = 0;
    bus_msg_t *extra = bus_msg_recv_wait (client, NULL, 65536, 200, &arrived);
    assert_null (extra);
    assert_int_equal (s_keys_stat (f, "in_flight"), 0);
    zsock_destroy (&client);
    zsock_destroy (&raw);
}

//  A READY whose credit is outside the protocol is refused (DISCONNECT);
//  an empty one (an older worker) counts as credit 1, one thread.
static void
test_ready_with_a_bad_credit_is_refused (void **state)
{
    fixture_t *f = *state;
    const char *bad[] = {"{\"credit\": 0, \"threads\": 1}",
                         "{\"credit\": 2, \"threads\": 3}",
                         "{\"credit\": 1025, \"threads\": 1}",
                         "{\"credit\": \"4\", \"threads\": 1}",
                         "{\"threads\": 1}",
                         "[4]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        zsock_t *raw = s_raw_credit_worker (f, bad[i]);
        int arrived = 0;
        bus_msg_t *bye = bus_msg_recv_wait (raw, NULL, 65536, 1000, &arrived);
        assert_non_null (bye);
        assert_int_equal (bus_msg_type (bye), BUS_DISCONNECT);
        bus_msg_destroy (&bye);
        zsock_destroy (&raw);
    }
    assert_int_equal (bus_client_service_ready (f->client, "keys", 1000), 0);
    zsock_t *old = s_raw_worker (f, "keys");
    assert_true (s_wait_ready (f, "keys", 1, 1000));
    assert_int_equal (s_keys_stat (f, "workers"), 1);
    assert_int_equal (s_keys_stat (f, "idle"), 1);
    zsock_destroy (&old);
}

int
main (void)
{
    log_init ("test", getenv ("TEST_LOG") ? OST_LOG_DEBUG : OST_LOG_ERROR);
    zsys_init ();
    zsys_set_logstream (NULL);
#define T(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T (test_broker_routes_request_to_worker_and_back),
        cmocka_unit_test_setup_teardown (test_worker_gone_without_goodbye_is_skipped_at_once, s_setup_patient,
                                         s_teardown),
        T (test_error_reply_travels_as_data),
        T (test_worker_refuses_a_body_outside_the_op_table),
        T (test_client_refuses_a_result_outside_the_op_table),
#ifndef NDEBUG
        T (test_worker_replaces_a_result_outside_the_op_table),
#endif
        T (test_mmi_service_reports_live_workers),
        T (test_no_worker_is_temporarily_unavailable_before_deadline),
        T (test_unknown_op_is_refused_by_client),
        T (test_oversized_request_body_refused_before_sending),
        T (test_silent_worker_dropped_after_three_heartbeats),
        T (test_heartbeating_worker_is_kept),
        T (test_dead_worker_fails_only_its_request_in_flight),
        cmocka_unit_test_setup_teardown (test_slow_worker_gets_deadline_exceeded_and_stale_reply_is_dropped,
                                         s_setup_patient, s_teardown),
        T (test_full_queue_rejects_at_once),
        T (test_queued_request_past_deadline_is_answered_by_broker),
        T (test_malformed_message_does_not_hurt_broker),
        T (test_worker_reconnects_after_broker_restart),
        T (test_broker_refuses_second_bind_of_endpoint),
        T (test_worker_refuses_route_outside_proto_table),
        T (test_worker_serves_every_broker_of_a_list),
        T (test_broker_stats_counts),
        T (test_broker_refusals_summary_is_empty_without_refusals),
        cmocka_unit_test (test_request_time_left_is_deadline_less_margin),
        cmocka_unit_test (test_broker_gauges_exist_at_zero_for_every_service_from_the_start),
        cmocka_unit_test (test_direct_spec_is_checked),
        cmocka_unit_test (test_direct_endpoint_answers_reads_without_the_broker),
        cmocka_unit_test (test_direct_endpoint_refuses_write_ops),
        T (test_reads_fall_back_to_the_broker_when_no_direct_endpoint_is_up),
        T (test_reads_leave_a_hung_direct_endpoint_for_the_broker),
        cmocka_unit_test (test_worker_with_an_unbindable_direct_endpoint_does_not_start),
        cmocka_unit_test_setup_teardown (test_worker_leaving_hands_its_unstarted_request_to_the_next,
                                         s_setup_patient, s_teardown),
        cmocka_unit_test_setup_teardown (test_last_worker_leaving_fails_its_unstarted_request_at_once,
                                         s_setup_patient, s_teardown),
        T (test_worker_that_cannot_serve_leaves_and_comes_back),
        //  Patient: the broker must not drop a worker busy for longer than 3 heartbeats.
        cmocka_unit_test_setup_teardown (test_drain_finishes_the_request_in_flight, s_setup_patient,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_drain_reports_a_request_still_running_at_its_deadline,
                                         s_setup_patient, s_teardown),
        cmocka_unit_test_setup_teardown (test_worker_runs_the_op_in_a_child_span_of_the_caller, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_worker_with_credit_4_receives_4_requests_in_one_burst,
                                         s_setup_patient, s_teardown),
        cmocka_unit_test_setup_teardown (test_slow_op_does_not_delay_a_request_while_another_thread_is_idle,
                                         s_setup_patient, s_teardown),
        cmocka_unit_test (test_request_past_deadline_in_the_worker_is_answered_and_never_run),
        cmocka_unit_test (test_requests_held_when_the_broker_connection_drops_are_never_run),
        T (test_reply_for_an_unknown_or_answered_id_is_refused),
        T (test_ready_with_a_bad_credit_is_refused),
    };
    s_empty = s_body (NULL);
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    json_decref (s_empty);
    zsys_shutdown ();
    return rc;
}
