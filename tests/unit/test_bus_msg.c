/*  Unit tests of the bus message codec: round trips, and every way a frame or
 *  a msgpack body can lie about its size or shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "bus_msg.h"
#include "log.h"

#include <string.h>

//  Builds the one wire frame by hand, field by field, so that each field
//  can be made wrong on its own. deadline_len other than 8 writes that many
//  bytes of the deadline.
static size_t
s_wire_bytes (unsigned char *out, const char *proto, unsigned char type, const char *service, const char *op,
              const char *rid, const void *deadline, size_t deadline_len, const void *body, size_t body_len)
{
    size_t n = 0;
    memcpy (out + n, proto, strlen (proto));
    n += strlen (proto);
    out[n++] = type;
    const char *fields[3] = {service, op, rid};
    for (int i = 0; i < 3; i++) {
        out[n++] = (unsigned char)strlen (fields[i]);
        memcpy (out + n, fields[i], strlen (fields[i]));
        n += strlen (fields[i]);
    }
    memcpy (out + n, deadline, deadline_len);
    n += deadline_len;
    out[n++] = 0; //  empty trace
    memcpy (out + n, body, body_len);
    return n + body_len;
}

static zmsg_t *
s_wire (const char *proto, unsigned char type, const char *service, const char *op, const char *rid,
        const void *deadline, size_t deadline_len, const void *body, size_t body_len)
{
    unsigned char *buf = malloc (BUS_MAX_HEADER + 16 + body_len);
    size_t n = s_wire_bytes (buf, proto, type, service, op, rid, deadline, deadline_len, body, body_len);
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, buf, n);
    free (buf);
    return msg;
}

static const unsigned char s_deadline[8] = {0, 0, 0x01, 0x90, 0, 0, 0, 0};
static const unsigned char s_empty_map[1] = {0x80};

static void
test_codec_roundtrip_request (void **state)
{
    (void)state;
    bus_msg_t *msg = bus_msg_new (BUS_REQUEST);
    assert_int_equal (bus_msg_set_service (msg, "token"), 0);
    assert_int_equal (bus_msg_set_op (msg, "token.health"), 0);
    assert_int_equal (bus_msg_set_request_id (msg, "0123456789abcdef0123456789abcdef"), 0);
    assert_int_equal (bus_msg_set_trace (msg, "00-abc-def-01"), 0);
    bus_msg_set_deadline (msg, 1800000000123);
    json_t *body =
        json_loads ("{\"a\":1,\"neg\":-70000,\"big\":9007199254740993,\"f\":1.5,\"s\":\"h\\u00e9\","
                    "\"l\":[true,false,null,\"x\"],\"m\":{\"d\":{}}}",
                    0, NULL);
    assert_non_null (body);
    assert_int_equal (bus_msg_set_body_json (msg, body), 0);

    zmsg_t *wire = bus_msg_encode (msg);
    assert_non_null (wire);
    //  One frame on the wire: CurveZMQ seals each frame on its own.
    assert_int_equal (zmsg_size (wire), 1);
    bus_msg_t *back = bus_msg_decode (&wire, 65536);
    assert_null (wire);
    assert_non_null (back);
    assert_int_equal (bus_msg_type (back), BUS_REQUEST);
    assert_string_equal (bus_msg_service (back), "token");
    assert_string_equal (bus_msg_op (back), "token.health");
    assert_string_equal (bus_msg_request_id (back), "0123456789abcdef0123456789abcdef");
    assert_string_equal (bus_msg_trace (back), "00-abc-def-01");
    assert_true (bus_msg_deadline (back) == 1800000000123);
    size_t len;
    const unsigned char *data = bus_msg_body (back, &len);
    json_t *decoded = bus_body_to_json (data, len);
    assert_non_null (decoded);
    assert_true (json_equal (decoded, body));
    json_decref (decoded);
    json_decref (body);
    bus_msg_destroy (&back);
    bus_msg_destroy (&msg);
    assert_null (msg);
    bus_msg_destroy (&msg); //  idempotent
}

static void
test_codec_dup_copies_everything (void **state)
{
    (void)state;
    bus_msg_t *msg = bus_msg_new (BUS_REPLY);
    assert_int_equal (bus_msg_set_request_id (msg, "r1"), 0);
    json_t *result = json_pack ("{s:i}", "n", 7);
    assert_int_equal (bus_msg_set_result (msg, result), 0);
    bus_msg_t *copy = bus_msg_dup (msg);
    bus_msg_destroy (&msg);
    assert_string_equal (bus_msg_request_id (copy), "r1");
    size_t len;
    const unsigned char *data = bus_msg_body (copy, &len);
    json_t *back = bus_body_to_json (data, len);
    assert_true (json_equal (json_object_get (back, "ok"), result));
    json_decref (back);
    json_decref (result);
    bus_msg_destroy (&copy);
}

static void
test_error_body_carries_code_status_and_retry_after (void **state)
{
    (void)state;
    bus_msg_t *msg = bus_msg_new (BUS_REPLY);
    assert_int_equal (bus_msg_set_error (msg, OST_ERR_TEMPORARILY_UNAVAILABLE, "busy"), 0);
    size_t len;
    const unsigned char *data = bus_msg_body (msg, &len);
    json_t *back = bus_body_to_json (data, len);
    json_t *err = json_object_get (back, "error");
    assert_string_equal (json_string_value (json_object_get (err, "code")), "temporarily_unavailable");
    assert_string_equal (json_string_value (json_object_get (err, "description")), "busy");
    assert_int_equal (json_integer_value (json_object_get (err, "http_status")), 503);
    assert_int_equal (json_integer_value (json_object_get (err, "retry_after")), 1);
    json_decref (back);
    bus_msg_destroy (&msg);
}

static void
test_codec_rejects_every_truncation_and_extra_parts (void **state)
{
    (void)state;
    unsigned char buf[512];
    size_t full = s_wire_bytes (buf, BUS_PROTOCOL, BUS_REQUEST, "token", "token.health", "r", s_deadline, 8,
                                s_empty_map, 1);
    zmsg_t *wire = zmsg_new ();
    zmsg_addmem (wire, buf, full);
    bus_msg_t *ok = bus_msg_decode (&wire, 1024);
    assert_non_null (ok);
    bus_msg_destroy (&ok);
    //  Every strict prefix of a good frame lacks a field or the body.
    for (size_t n = 0; n < full; n++) {
        wire = zmsg_new ();
        zmsg_addmem (wire, buf, n);
        assert_null (bus_msg_decode (&wire, 1024));
        assert_null (wire);
    }
    //  No part, or a second part, is as wrong as a short one.
    wire = zmsg_new ();
    assert_null (bus_msg_decode (&wire, 1024));
    wire = zmsg_new ();
    zmsg_addmem (wire, buf, full);
    zmsg_addstr (wire, "extra");
    assert_null (bus_msg_decode (&wire, 1024));
    //  A header length that runs past the end of the frame.
    unsigned char liar[16] = {'O', 'S', 'T', 'B', '2', BUS_REQUEST, 200, 't', 'o', 'k', 'e', 'n'};
    wire = zmsg_new ();
    zmsg_addmem (wire, liar, 12);
    assert_null (bus_msg_decode (&wire, 1024));
}

static void
test_codec_rejects_unknown_protocol_and_type (void **state)
{
    (void)state;
    zmsg_t *wire =
        s_wire ("MDPW01", BUS_REQUEST, "token", "token.health", "r", s_deadline, 8, s_empty_map, 1);
    assert_null (bus_msg_decode (&wire, 1024));
    //  The previous version of the bus, and a later one, are refused by name.
    wire = s_wire ("OSTB1", BUS_REQUEST, "token", "token.health", "r", s_deadline, 8, s_empty_map, 1);
    assert_null (bus_msg_decode (&wire, 1024));
    wire = s_wire ("OSTB3", BUS_REQUEST, "token", "token.health", "r", s_deadline, 8, s_empty_map, 1);
    assert_null (bus_msg_decode (&wire, 1024));
    wire = s_wire (BUS_PROTOCOL, 0, "token", "token.health", "r", s_deadline, 8, s_empty_map, 1);
    assert_null (bus_msg_decode (&wire, 1024));
    wire = s_wire (BUS_PROTOCOL, 9, "token", "token.health", "r", s_deadline, 8, s_empty_map, 1);
    assert_null (bus_msg_decode (&wire, 1024));
}

static void
test_codec_rejects_bad_header_frames (void **state)
{
    (void)state;
    //  a deadline beyond INT64_MAX
    const unsigned char huge[8] = {0x80, 0, 0, 0, 0, 0, 0, 1};
    zmsg_t *wire = s_wire (BUS_PROTOCOL, BUS_REQUEST, "token", "token.health", "r", huge, 8, s_empty_map, 1);
    assert_null (bus_msg_decode (&wire, 1024));
    //  service longer than 32
    wire = s_wire (BUS_PROTOCOL, BUS_REQUEST, "abcdefghijklmnopqrstuvwxyzabcdefg", "token.health", "r",
                   s_deadline, 8, s_empty_map, 1);
    assert_null (bus_msg_decode (&wire, 1024));
    //  control byte in the op
    wire = s_wire (BUS_PROTOCOL, BUS_REQUEST, "token", "token\n", "r", s_deadline, 8, s_empty_map, 1);
    assert_null (bus_msg_decode (&wire, 1024));
    //  REQUEST without a request id
    wire = s_wire (BUS_PROTOCOL, BUS_REQUEST, "token", "token.health", "", s_deadline, 8, s_empty_map, 1);
    assert_null (bus_msg_decode (&wire, 1024));
    //  READY with an invalid service name
    wire = s_wire (BUS_PROTOCOL, BUS_READY, "Token!", "", "", s_deadline, 8, "", 0);
    assert_null (bus_msg_decode (&wire, 1024));
    //  setters refuse what decode would refuse
    bus_msg_t *msg = bus_msg_new (BUS_REQUEST);
    assert_int_equal (bus_msg_set_op (msg, "a b"), -1);
    assert_int_equal (bus_msg_set_service (msg, "abcdefghijklmnopqrstuvwxyzabcdefg"), -1);
    bus_msg_destroy (&msg);
}

static void
test_codec_rejects_oversized_body_frame (void **state)
{
    (void)state;
    unsigned char big[2048];
    memset (big, 0xa0, sizeof big); //  2048 empty strings: valid shape, too many bytes
    big[0] = 0xdc;
    big[1] = 0x07;
    big[2] = 0xfd; //  array16 of 2045 elements
    zmsg_t *wire =
        s_wire (BUS_PROTOCOL, BUS_REQUEST, "token", "token.health", "r", s_deadline, 8, big, sizeof big);
    assert_null (bus_msg_decode (&wire, 1024));
    wire = s_wire (BUS_PROTOCOL, BUS_REQUEST, "token", "token.health", "r", s_deadline, 8, big, sizeof big);
    bus_msg_t *ok = bus_msg_decode (&wire, 4096);
    assert_non_null (ok);
    bus_msg_destroy (&ok);
}

static void
test_body_rejects_count_of_2_pow_32_in_5_bytes (void **state)
{
    (void)state;
    //  array32 and map32 declaring 4,294,967,295 elements with nothing behind them
    const unsigned char arr[5] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    const unsigned char map[5] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal (bus_body_validate (arr, sizeof arr, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (map, sizeof map, BUS_MAX_DEPTH), -1);
    assert_null (bus_body_to_json (arr, sizeof arr));
    assert_null (bus_body_to_json (map, sizeof map));
    zmsg_t *wire =
        s_wire (BUS_PROTOCOL, BUS_REQUEST, "token", "token.health", "r", s_deadline, 8, arr, sizeof arr);
    assert_null (bus_msg_decode (&wire, 1024));
}

static void
test_body_rejects_lengths_beyond_the_data (void **state)
{
    (void)state;
    const unsigned char str32[6] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    const unsigned char str8[3] = {0xd9, 0x05, 'a'};
    const unsigned char fix[2] = {0xa5, 'a'};
    const unsigned char map16[4] = {0xde, 0x00, 0x02, 0xa0}; //  2 pairs need 4 bytes at least
    const unsigned char u64[5] = {0xcf, 1, 2, 3, 4};
    const unsigned char cut_header[2] = {0xdd, 0xff};
    assert_int_equal (bus_body_validate (str32, sizeof str32, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (str8, sizeof str8, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (fix, sizeof fix, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (map16, sizeof map16, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (u64, sizeof u64, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (cut_header, sizeof cut_header, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (NULL, 0, BUS_MAX_DEPTH), -1);
}

static void
test_body_rejects_wrong_types (void **state)
{
    (void)state;
    const unsigned char int_key[3] = {0x81, 0x01, 0x01}; //  {1: 1}
    const unsigned char bin[3] = {0xc4, 0x01, 0x00};     //  bin 8
    const unsigned char ext[3] = {0xd4, 0x01, 0x00};     //  fixext 1
    const unsigned char never[1] = {0xc1};               //  never used
    const unsigned char two_values[2] = {0x01, 0x02};    //  trailing bytes
    const unsigned char bad_utf8[3] = {0xa2, 0xff, 0xfe};
    const unsigned char dup_key[7] = {0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02};
    const unsigned char nul_key[5] = {0x81, 0xa2, 'a', 0x00, 0x01};
    const unsigned char huge_uint[9] = {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal (bus_body_validate (int_key, sizeof int_key, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (bin, sizeof bin, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (ext, sizeof ext, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (never, sizeof never, BUS_MAX_DEPTH), -1);
    assert_int_equal (bus_body_validate (two_values, sizeof two_values, BUS_MAX_DEPTH), -1);
    //  well-formed msgpack that JSON cannot represent faithfully
    assert_null (bus_body_to_json (bad_utf8, sizeof bad_utf8));
    assert_null (bus_body_to_json (dup_key, sizeof dup_key));
    assert_null (bus_body_to_json (nul_key, sizeof nul_key));
    assert_null (bus_body_to_json (huge_uint, sizeof huge_uint));
}

//  msgpack-c hands an empty string over as a NULL pointer and a length of 0,
//  which jansson's json_stringn refuses: "" as a value or as a key must still
//  convert, in every width of the str family.
static void
test_body_empty_string_and_empty_key_convert (void **state)
{
    (void)state;
    json_t *value = json_pack ("{s:s,s:[s,i],s:s}", "", "", "a", "", 1, "b", "x");
    char *data = NULL;
    size_t len = 0;
    assert_int_equal (bus_body_from_json (value, &data, &len), 0);
    json_t *back = bus_body_to_json (data, len);
    assert_non_null (back);
    assert_true (json_equal (back, value));
    json_decref (back);
    free (data);
    json_decref (value);
    const unsigned char fixstr[1] = {0xa0};
    const unsigned char str8[2] = {0xd9, 0x00};
    const unsigned char str16[3] = {0xda, 0x00, 0x00};
    const unsigned char str32[5] = {0xdb, 0x00, 0x00, 0x00, 0x00};
    const unsigned char *const empties[] = {fixstr, str8, str16, str32};
    const size_t sizes[] = {sizeof fixstr, sizeof str8, sizeof str16, sizeof str32};
    for (size_t i = 0; i < 4; i++) {
        json_t *s = bus_body_to_json (empties[i], sizes[i]);
        assert_non_null (s);
        assert_string_equal (json_string_value (s), "");
        json_decref (s);
    }
}

static void
test_body_rejects_nesting_deeper_than_limit (void **state)
{
    (void)state;
    unsigned char deep[BUS_MAX_DEPTH + 2];
    memset (deep, 0x91, sizeof deep); //  [[[[...]]]]
    deep[sizeof deep - 1] = 0x01;
    assert_int_equal (bus_body_validate (deep, sizeof deep, BUS_MAX_DEPTH), -1);
    //  exactly at the limit is fine
    assert_int_equal (bus_body_validate (deep + 2, sizeof deep - 2, BUS_MAX_DEPTH), 0);
    json_t *v = json_array ();
    json_t *inner = v;
    for (int i = 0; i < BUS_MAX_DEPTH + 2; i++) {
        json_t *next = json_array ();
        json_array_append_new (inner, next);
        inner = next;
    }
    char *data;
    size_t len;
    assert_int_equal (bus_body_from_json (v, &data, &len), -1);
    json_decref (v);
}

static void
test_recv_wait_times_out_takes_messages_and_bounds_parts (void **state)
{
    (void)state;
    zsock_t *server = zsock_new_router ("inproc://codec-recv-wait");
    zsock_t *client = zsock_new_dealer (">inproc://codec-recv-wait");
    assert_non_null (server);
    assert_non_null (client);
    zframe_t *id = NULL;
    int arrived = 7;
    //  Nothing queued: 0 at once with a zero timeout, 0 after the wait otherwise.
    assert_null (bus_msg_recv_wait (server, &id, 1024, 0, &arrived));
    assert_int_equal (arrived, 0);
    assert_null (id);
    int64_t t0 = zclock_mono ();
    assert_null (bus_msg_recv_wait (server, &id, 1024, 50, &arrived));
    assert_int_equal (arrived, 0);
    assert_true (zclock_mono () - t0 >= 40);
    //  A good message: its sender's id and the decoded message.
    bus_msg_t *good = bus_msg_new (BUS_REQUEST);
    assert_int_equal (bus_msg_set_service (good, "token"), 0);
    assert_int_equal (bus_msg_set_op (good, "token.health"), 0);
    assert_int_equal (bus_msg_set_request_id (good, "0123456789abcdef0123456789abcdef"), 0);
    bus_msg_set_deadline (good, 1800000000123);
    json_t *empty = json_object ();
    assert_int_equal (bus_msg_set_body_json (good, empty), 0);
    json_decref (empty);
    assert_int_equal (bus_msg_send (&good, client, NULL), 0);
    bus_msg_t *msg = bus_msg_recv_wait (server, &id, 1024, 1000, &arrived);
    assert_int_equal (arrived, 1);
    assert_non_null (msg);
    assert_non_null (id);
    assert_int_equal (bus_msg_type (msg), BUS_REQUEST);
    assert_string_equal (bus_msg_service (msg), "token");
    assert_string_equal (bus_msg_request_id (msg), "0123456789abcdef0123456789abcdef");
    bus_msg_destroy (&msg);
    zframe_destroy (&id);
    //  Malformed: taken off the socket (arrived 1) and dropped (NULL, no id).
    zstr_send (client, "garbage");
    assert_null (bus_msg_recv_wait (server, &id, 1024, 1000, &arrived));
    assert_int_equal (arrived, 1);
    assert_null (id);
    //  Far more parts than a message has: dropped whole, and the next
    //  message is read intact (the rest of the long one was not left behind).
    zmsg_t *many = zmsg_new ();
    for (int i = 0; i < 1000; i++)
        zmsg_addstr (many, "x");
    assert_int_equal (zmsg_send (&many, client), 0);
    good = bus_msg_new (BUS_HEARTBEAT);
    assert_int_equal (bus_msg_send (&good, client, NULL), 0);
    assert_null (bus_msg_recv_wait (server, &id, 1024, 1000, &arrived));
    assert_int_equal (arrived, 1);
    assert_null (id);
    msg = bus_msg_recv_wait (server, &id, 1024, 1000, &arrived);
    assert_int_equal (arrived, 1);
    assert_non_null (msg);
    assert_int_equal (bus_msg_type (msg), BUS_HEARTBEAT);
    bus_msg_destroy (&msg);
    zframe_destroy (&id);
    //  A DEALER (no routing id asked for) gets the reply the same way.
    bus_msg_t *hb = bus_msg_new (BUS_HEARTBEAT);
    zframe_t *to = NULL;
    good = bus_msg_new (BUS_HEARTBEAT);
    assert_int_equal (bus_msg_send (&good, client, NULL), 0);
    msg = bus_msg_recv_wait (server, &to, 1024, 1000, &arrived);
    assert_non_null (msg);
    bus_msg_destroy (&msg);
    assert_int_equal (bus_msg_send (&hb, server, to), 0);
    msg = bus_msg_recv_wait (client, NULL, 1024, 1000, &arrived);
    assert_int_equal (arrived, 1);
    assert_non_null (msg);
    assert_int_equal (bus_msg_type (msg), BUS_HEARTBEAT);
    bus_msg_destroy (&msg);
    zframe_destroy (&to);
    zsock_destroy (&client);
    zsock_destroy (&server);
}

static void
test_wire_max_is_the_frame_of_a_full_header (void **state)
{
    (void)state;
    //  Every header field at its limit: the frame is exactly the bound.
    char service[BUS_MAX_SERVICE + 1], op[BUS_MAX_OP + 1], rid[BUS_MAX_RID + 1], trace[BUS_MAX_TRACE + 1];
    memset (service, 's', BUS_MAX_SERVICE);
    service[BUS_MAX_SERVICE] = 0;
    memset (op, 'o', BUS_MAX_OP);
    op[BUS_MAX_OP] = 0;
    memset (rid, 'r', BUS_MAX_RID);
    rid[BUS_MAX_RID] = 0;
    memset (trace, 't', BUS_MAX_TRACE);
    trace[BUS_MAX_TRACE] = 0;
    bus_msg_t *msg = bus_msg_new (BUS_REQUEST);
    assert_int_equal (bus_msg_set_service (msg, service), 0);
    assert_int_equal (bus_msg_set_op (msg, op), 0);
    assert_int_equal (bus_msg_set_request_id (msg, rid), 0);
    assert_int_equal (bus_msg_set_trace (msg, trace), 0);
    bus_msg_set_deadline (msg, 1800000000123);
    assert_int_equal (bus_msg_set_body (msg, s_empty_map, 1), 0);
    zmsg_t *wire = bus_msg_encode (msg);
    assert_int_equal (zmsg_size (wire), 1);
    assert_int_equal (zframe_size (zmsg_first (wire)), bus_msg_wire_max (1));
    //  ... and decodes with a body bound of exactly its body.
    bus_msg_t *back = bus_msg_decode (&wire, 1);
    assert_non_null (back);
    assert_string_equal (bus_msg_trace (back), trace);
    bus_msg_destroy (&back);
    bus_msg_destroy (&msg);
    assert_true (bus_msg_wire_max (SIZE_MAX) == SIZE_MAX);
}

static void
test_socket_max_message_size_drops_oversized (void **state)
{
    (void)state;
    //  ZMQ_MAXMSGSIZE is enforced by the TCP decoder: an oversized part ends the
    //  connection and the message never reaches the application.
    zsock_t *server = zsock_new (ZMQ_ROUTER);
    zsock_set_maxmsgsize (server, 4096);
    int port = zsock_bind (server, "tcp://127.0.0.1:*[60000-]");
    assert_true (port > 0);
    zsock_t *client = zsock_new (ZMQ_DEALER);
    zsock_connect (client, "tcp://127.0.0.1:%d", port);
    bus_msg_t *big = bus_msg_new (BUS_REQUEST);
    char *blob = calloc (1, 8192);
    memset (blob, 'x', 8191);
    json_t *body = json_pack ("{s:s}", "x", blob);
    assert_int_equal (bus_msg_set_body_json (big, body), 0);
    assert_int_equal (bus_msg_send (&big, client, NULL), 0);
    zsock_set_rcvtimeo (server, 500);
    zmsg_t *got = zmsg_recv (server);
    assert_null (got);
    json_decref (body);
    free (blob);
    zsock_destroy (&client);
    zsock_destroy (&server);
}

int
main (void)
{
    log_init ("test", OST_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_codec_roundtrip_request),
        cmocka_unit_test (test_codec_dup_copies_everything),
        cmocka_unit_test (test_error_body_carries_code_status_and_retry_after),
        cmocka_unit_test (test_codec_rejects_every_truncation_and_extra_parts),
        cmocka_unit_test (test_codec_rejects_unknown_protocol_and_type),
        cmocka_unit_test (test_codec_rejects_bad_header_frames),
        cmocka_unit_test (test_codec_rejects_oversized_body_frame),
        cmocka_unit_test (test_body_rejects_count_of_2_pow_32_in_5_bytes),
        cmocka_unit_test (test_body_rejects_lengths_beyond_the_data),
        cmocka_unit_test (test_body_rejects_wrong_types),
        cmocka_unit_test (test_body_empty_string_and_empty_key_convert),
        cmocka_unit_test (test_body_rejects_nesting_deeper_than_limit),
        cmocka_unit_test (test_recv_wait_times_out_takes_messages_and_bounds_parts),
        cmocka_unit_test (test_wire_max_is_the_frame_of_a_full_header),
        cmocka_unit_test (test_socket_max_message_size_drops_oversized),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
