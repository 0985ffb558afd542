/*  Unit tests of common/bus_curve: certificates, role folders, the ZAP
 *  handler and CURVE connections over tcp on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "bus_curve.h"
#include "bus_msg.h"
#include "log.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[256];
    char peers[300];
} keyset_t;

//  A key of role named name: dir/name.key (secret), and its public
//  certificate in dir/peers/role/name.pub when listed.
static void
s_make_key (keyset_t *k, const char *role, const char *name, int listed)
{
    char path[600];
    zcert_t *cert = zcert_new ();
    assert_non_null (cert);
    snprintf (path, sizeof path, "%s/%s.key", k->dir, name);
    assert_int_equal (zcert_save_secret (cert, path), 0);
    snprintf (path, sizeof path, "%s/%s", k->peers, role);
    mkdir (path, 0755);
    if (listed) {
        snprintf (path, sizeof path, "%s/%s/%s.pub", k->peers, role, name);
        assert_int_equal (zcert_save_public (cert, path), 0);
    }
    zcert_destroy (&cert);
}

static keyset_t *
s_keyset (void)
{
    keyset_t *k = calloc (1, sizeof *k);
    snprintf (k->dir, sizeof k->dir, "/tmp/ostiary-bus-curve-XXXXXX");
    assert_non_null (mkdtemp (k->dir));
    snprintf (k->peers, sizeof k->peers, "%s/peers", k->dir);
    assert_int_equal (mkdir (k->peers, 0755), 0);
    s_make_key (k, "gateway", "gateway", 1);
    s_make_key (k, "token", "token", 1);
    s_make_key (k, "admin", "admin", 1);
    s_make_key (k, "flow", "stranger", 0); //  a key nobody listed
    return k;
}

static void
s_keyset_free (keyset_t *k)
{
    char cmd[400];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", k->dir);
    assert_int_equal (system (cmd), 0);
    free (k);
}

static bus_curve_t *
s_curve (keyset_t *k, const char *name)
{
    char path[600];
    snprintf (path, sizeof path, "%s/%s.key", k->dir, name);
    const char *why = NULL;
    bus_curve_t *c = bus_curve_new (1, path, k->peers, &why);
    assert_non_null (c);
    assert_null (why);
    return c;
}

static void
test_bus_curve_new_off_does_nothing (void **state)
{
    (void)state;
    bus_curve_t *c = bus_curve_new (0, NULL, NULL, NULL);
    assert_non_null (c);
    assert_false (bus_curve_enabled (c));
    assert_string_equal (bus_curve_public_key (c), "");
    assert_false (bus_curve_enabled (NULL));
    bus_curve_destroy (&c);
    assert_null (c);
    bus_curve_destroy (&c);
}

static void
test_bus_curve_new_names_what_is_missing (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    const char *why = NULL;
    char path[600];
    assert_null (bus_curve_new (1, NULL, k->peers, &why));
    assert_non_null (strstr (why, "OSTIARY_BUS_CERT"));
    snprintf (path, sizeof path, "%s/token.key", k->dir);
    assert_null (bus_curve_new (1, path, "", &why));
    assert_non_null (strstr (why, "OSTIARY_BUS_PEERS"));
    assert_null (bus_curve_new (1, path, "/nonexistent/peers", &why));
    assert_non_null (strstr (why, "must be a folder"));
    //  a public certificate has no secret key
    snprintf (path, sizeof path, "%s/token/token.pub", k->peers);
    assert_null (bus_curve_new (1, path, k->peers, &why));
    assert_non_null (strstr (why, "secret key"));
    bus_curve_t *c = s_curve (k, "token");
    assert_true (bus_curve_enabled (c));
    assert_int_equal (strlen (bus_curve_public_key (c)), BUS_KEY_TXT);
    bus_curve_destroy (&c);
    s_keyset_free (k);
}

static void
test_bus_curve_open_reads_the_settings (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    config_t *cfg = config_new ();
    char path[600];
    snprintf (path, sizeof path, "%s/admin.key", k->dir);
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_CERT", path, NULL), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_PEERS", k->peers, NULL), 0);
    const char *why = NULL;
    bus_curve_t *c = bus_curve_open (cfg, "test", &why);
    assert_non_null (c);
    assert_true (bus_curve_enabled (c));
    bus_curve_destroy (&c);
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_CURVE", "0", NULL), 0);
    c = bus_curve_open (cfg, "test", &why);
    assert_non_null (c);
    assert_false (bus_curve_enabled (c));
    bus_curve_destroy (&c);
    config_destroy (&cfg);
    s_keyset_free (k);
}

static void
test_bus_peer_parse_takes_role_and_key (void **state)
{
    (void)state;
    unsigned role = 0;
    char key[BUS_KEY_TXT + 1];
    const char *k40 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    char user[80];
    snprintf (user, sizeof user, "token:%s", k40);
    assert_int_equal (bus_peer_parse (user, &role, key), 0);
    assert_int_equal (role, BUS_ROLE_TOKEN);
    assert_string_equal (key, k40);
    snprintf (user, sizeof user, "root:%s", k40);
    assert_int_equal (bus_peer_parse (user, &role, key), -1);
    assert_int_equal (bus_peer_parse ("token:short", &role, key), -1);
    assert_int_equal (bus_peer_parse (k40, &role, key), -1);
    assert_int_equal (bus_peer_parse ("", &role, key), -1);
    assert_int_equal (bus_peer_parse (NULL, &role, key), -1);
}

static void
test_bus_key_fingerprint_is_sha256_hex (void **state)
{
    (void)state;
    char fp[BUS_FINGERPRINT_LEN + 1], again[BUS_FINGERPRINT_LEN + 1];
    const char *k40 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    bus_key_fingerprint (k40, fp);
    assert_int_equal (strlen (fp), BUS_FINGERPRINT_LEN);
    assert_int_equal (strspn (fp, "0123456789abcdef"), BUS_FINGERPRINT_LEN);
    bus_key_fingerprint (k40, again);
    assert_string_equal (fp, again);
    bus_key_fingerprint ("Hz:", fp);
    assert_string_equal (fp, "?");
    bus_key_fingerprint (NULL, fp);
    assert_string_equal (fp, "?");
}

//  A user id's role comes from the table now, and a key added since the
//  table last looked is found at once (the ZAP handler admitted it).
static void
test_bus_peers_peer_role_follows_the_folders (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    bus_peers_t *p = bus_peers_new (k->peers);
    bus_curve_t *token = s_curve (k, "token");
    char user[BUS_PEER_MAX + 1];
    snprintf (user, sizeof user, "token:%s", bus_curve_public_key (token));
    assert_int_equal (bus_peers_peer_role (p, user), BUS_ROLE_TOKEN);
    //  the right key under another role's name is no one
    snprintf (user, sizeof user, "admin:%s", bus_curve_public_key (token));
    assert_int_equal (bus_peers_peer_role (p, user), 0);
    assert_int_equal (bus_peers_peer_role (p, ""), 0);
    assert_int_equal (bus_peers_peer_role (p, "?"), 0);
    assert_int_equal (bus_peers_peer_role (NULL, user), 0);
    uint64_t gen = bus_peers_generation (p);
    s_make_key (k, "flow", "late", 1);
    bus_curve_t *late = s_curve (k, "late");
    snprintf (user, sizeof user, "flow:%s", bus_curve_public_key (late));
    //  the previous miss started the 100 ms pause: wait it out, once
    for (int i = 0; i < 100 && bus_peers_peer_role (p, user) == 0; i++)
        zclock_sleep (20);
    assert_int_equal (bus_peers_peer_role (p, user), BUS_ROLE_FLOW);
    assert_true (bus_peers_generation (p) > gen);
    bus_curve_destroy (&late);
    bus_curve_destroy (&token);
    bus_peers_destroy (&p);
    s_keyset_free (k);
}

static void
test_bus_curve_peers_dir_is_the_setting (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    bus_curve_t *c = s_curve (k, "token");
    assert_string_equal (bus_curve_peers_dir (c), k->peers);
    bus_curve_destroy (&c);
    c = bus_curve_new (0, NULL, NULL, NULL);
    assert_string_equal (bus_curve_peers_dir (c), "");
    assert_string_equal (bus_curve_peers_dir (NULL), "");
    bus_curve_destroy (&c);
    s_keyset_free (k);
}

static void
test_bus_log_forbidden_takes_any_peer (void **state)
{
    (void)state;
    //  a user id, "" and "?" are all fine, and a second line is held back
    bus_log_forbidden ("unit", "token:rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", "call", "keys.sign");
    assert_false (bus_log_allowed ("token:rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
    bus_log_forbidden ("unit-empty", "", "call", "keys.sign");
    assert_false (bus_log_allowed ("unit-empty"));
    bus_log_forbidden ("unit", "?", "serve", "token");
    assert_false (bus_log_allowed ("?"));
}

static void
test_bus_log_allowed_once_per_peer_and_interval (void **state)
{
    (void)state;
    assert_true (bus_log_allowed ("peer-a-unit"));
    assert_false (bus_log_allowed ("peer-a-unit"));
    assert_true (bus_log_allowed ("peer-b-unit"));
    assert_false (bus_log_allowed ("peer-b-unit"));
}

static void
test_bus_peers_follow_the_folders (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    bus_curve_t *token = s_curve (k, "token");
    bus_curve_t *stranger = s_curve (k, "stranger");
    bus_peers_t *p = bus_peers_new (k->peers);
    assert_non_null (p);
    assert_int_equal (bus_peers_role (p, bus_curve_public_key (token)), BUS_ROLE_TOKEN);
    assert_int_equal (bus_peers_role (p, bus_curve_public_key (stranger)), 0);
    assert_int_equal (bus_peers_refresh (p), 0); //  nothing changed
    //  the stranger is listed as flow: seen at the next refresh
    char path[600];
    s_make_key (k, "flow", "stranger2", 1);
    assert_int_equal (bus_peers_refresh (p), 1);
    bus_curve_t *s2 = s_curve (k, "stranger2");
    assert_int_equal (bus_peers_role (p, bus_curve_public_key (s2)), BUS_ROLE_FLOW);
    //  removed: gone at the next refresh
    snprintf (path, sizeof path, "%s/token/token.pub", k->peers);
    assert_int_equal (unlink (path), 0);
    assert_int_equal (bus_peers_refresh (p), 1);
    assert_int_equal (bus_peers_role (p, bus_curve_public_key (token)), 0);
    //  one key in two role folders has no role
    char from[600], to[1400];
    snprintf (from, sizeof from, "%s/flow/stranger2.pub", k->peers);
    snprintf (to, sizeof to, "cp '%s' '%s/admin/copy.pub'", from, k->peers);
    assert_int_equal (system (to), 0);
    assert_int_equal (bus_peers_refresh (p), 1);
    assert_int_equal (bus_peers_role (p, bus_curve_public_key (s2)), 0);
    assert_int_equal (bus_peers_role (NULL, bus_curve_public_key (s2)), 0);
    //  a generation per reading anew
    uint64_t gen = bus_peers_generation (p);
    assert_int_equal (bus_peers_refresh (p), 0);
    assert_int_equal (bus_peers_generation (p), gen);
    bus_peers_tick (p); //  within the second: no look
    assert_int_equal (bus_peers_generation (p), gen);
    assert_int_equal (bus_peers_generation (NULL), 0);
    bus_peers_tick (NULL);
    bus_peers_destroy (&p);
    assert_null (p);
    bus_curve_destroy (&token);
    bus_curve_destroy (&stranger);
    bus_curve_destroy (&s2);
    s_keyset_free (k);
}

//  A CURVE server (ROUTER) on a free loopback port; *endpoint gets its address.
static zsock_t *
s_server (bus_curve_t *gw, char *endpoint, size_t len)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    zsock_set_linger (router, 0);
    assert_int_equal (bus_curve_serve (gw, router), 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    snprintf (endpoint, len, "tcp://127.0.0.1:%d", port);
    return router;
}

//  Sends one request from a client of key name; returns what the server
//  read as the sender's user id, or NULL when nothing came within 1.5 s.
static char *
s_exchange (keyset_t *k, zsock_t *router, const char *endpoint, const char *name)
{
    bus_curve_t *me = s_curve (k, name);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (dealer, 0);
    zsock_set_immediate (dealer, 1);
    zsock_set_sndtimeo (dealer, 1500);
    assert_int_equal (bus_curve_connect (me, dealer, endpoint, BUS_ROLE_GATEWAY), 0);
    bus_msg_t *msg = bus_msg_new (BUS_REQUEST);
    assert_int_equal (bus_msg_set_service (msg, "token"), 0);
    assert_int_equal (bus_msg_set_op (msg, "token.health"), 0);
    assert_int_equal (bus_msg_set_request_id (msg, "00112233445566778899aabbccddeeff"), 0);
    bus_msg_set_deadline (msg, bus_now_ms () + 5000);
    assert_int_equal (bus_msg_set_body (msg, "\x80", 1), 0); //  msgpack {}
    char *user = NULL;
    if (bus_msg_send (&msg, dealer, NULL) == 0) {
        zframe_t *id = NULL;
        int arrived = 0;
        char peer[BUS_PEER_MAX + 1];
        bus_msg_t *got = bus_msg_recv_peer (router, &id, 65536, 1500, &arrived, peer, sizeof peer);
        if (got)
            user = strdup (peer);
        bus_msg_destroy (&got);
        zframe_destroy (&id);
    }
    bus_msg_destroy (&msg);
    zsock_destroy (&dealer);
    bus_curve_destroy (&me);
    return user;
}

static void
test_bus_curve_admits_listed_keys_with_their_role (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    bus_curve_t *gw = s_curve (k, "gateway");
    char endpoint[64];
    zsock_t *router = s_server (gw, endpoint, sizeof endpoint);
    bus_curve_t *token = s_curve (k, "token");
    char *user = s_exchange (k, router, endpoint, "token");
    assert_non_null (user);
    char want[BUS_PEER_MAX + 1];
    snprintf (want, sizeof want, "token:%s", bus_curve_public_key (token));
    assert_string_equal (user, want);
    free (user);
    //  a key in no role folder never gets a message through
    assert_null (s_exchange (k, router, endpoint, "stranger"));
    zsock_destroy (&router);
    bus_curve_unserve (gw);
    bus_curve_destroy (&token);
    bus_curve_destroy (&gw);
    s_keyset_free (k);
}

static void
test_bus_curve_refuses_a_plain_client (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    bus_curve_t *gw = s_curve (k, "gateway");
    char endpoint[64];
    zsock_t *router = s_server (gw, endpoint, sizeof endpoint);
    zsock_t *plain = zsock_new (ZMQ_DEALER);
    zsock_set_linger (plain, 0);
    zsock_set_sndtimeo (plain, 500);
    bus_curve_t *off = bus_curve_new (0, NULL, NULL, NULL);
    assert_int_equal (bus_curve_connect (off, plain, endpoint, BUS_ROLE_GATEWAY), 0);
    zstr_send (plain, "hello");
    zframe_t *id = NULL;
    int arrived = 0;
    bus_msg_t *got = bus_msg_recv_peer (router, &id, 65536, 1000, &arrived, NULL, 0);
    assert_int_equal (arrived, 0);
    assert_null (got);
    zsock_destroy (&plain);
    zsock_destroy (&router);
    bus_curve_unserve (gw);
    bus_curve_destroy (&off);
    bus_curve_destroy (&gw);
    s_keyset_free (k);
}

static void
test_bus_curve_connect_needs_a_server_key (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    bus_curve_t *token = s_curve (k, "token");
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (dealer, 0);
    //  no key in peers/keys/: nothing to connect to
    assert_int_equal (bus_curve_connect (token, dealer, "tcp://127.0.0.1:1", BUS_ROLE_KEYS), -1);
    assert_int_equal (bus_curve_connect (token, dealer, "tcp://127.0.0.1:1", 0), -1);
    //  inproc connects plain
    assert_int_equal (bus_curve_connect (token, dealer, "inproc://bus-curve-unit", BUS_ROLE_KEYS), 0);
    zsock_destroy (&dealer);
    bus_curve_destroy (&token);
    s_keyset_free (k);
}

//  Without CURVE a tcp peer is "?" (a network peer nobody named), an
//  in-process one "": only the latter is ever taken for the gateway's own.
static void
test_bus_msg_recv_peer_tells_network_from_in_process (void **state)
{
    (void)state;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (router, 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    assert_int_equal (zsock_bind (router, "inproc://recv-peer-unit"), 0);
    char tcp[64];
    snprintf (tcp, sizeof tcp, "tcp://127.0.0.1:%d", port);
    const char *endpoints[] = {tcp, "inproc://recv-peer-unit"};
    const char *want[] = {"?", ""};
    for (int i = 0; i < 2; i++) {
        zsock_t *dealer = zsock_new (ZMQ_DEALER);
        zsock_set_linger (dealer, 0);
        assert_int_equal (zsock_connect (dealer, "%s", endpoints[i]), 0);
        bus_msg_t *msg = bus_msg_new (BUS_HEARTBEAT);
        assert_int_equal (bus_msg_send (&msg, dealer, NULL), 0);
        zframe_t *id = NULL;
        int arrived = 0;
        char peer[BUS_PEER_MAX + 1] = "unset";
        bus_msg_t *got = bus_msg_recv_peer (router, &id, 65536, 3000, &arrived, peer, sizeof peer);
        assert_int_equal (arrived, 1);
        assert_non_null (got);
        assert_string_equal (peer, want[i]);
        bus_msg_destroy (&got);
        zframe_destroy (&id);
        zsock_destroy (&dealer);
    }
    zsock_destroy (&router);
}

static void
test_bus_folder_has_key_reads_the_folder (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    bus_curve_t *token = s_curve (k, "token");
    bus_curve_t *stranger = s_curve (k, "stranger");
    char dir[400];
    snprintf (dir, sizeof dir, "%s/token", k->peers);
    assert_true (bus_folder_has_key (dir, bus_curve_public_key (token)));
    assert_false (bus_folder_has_key (dir, bus_curve_public_key (stranger)));
    assert_false (bus_folder_has_key ("/nonexistent", bus_curve_public_key (token)));
    assert_false (bus_folder_has_key (dir, NULL));
    bus_curve_destroy (&token);
    bus_curve_destroy (&stranger);
    s_keyset_free (k);
}

static void
test_bus_cert_destroy_wipes_and_frees (void **state)
{
    (void)state;
    zcert_t *cert = zcert_new ();
    assert_non_null (cert);
    bus_cert_destroy (&cert);
    assert_null (cert);
    bus_cert_destroy (&cert);
    bus_cert_destroy (NULL);
}

static void
test_bus_zap_domains_are_counted (void **state)
{
    (void)state;
    keyset_t *k = s_keyset ();
    assert_int_equal (bus_zap_add_folder ("unit-domain", k->peers, "unit"), 0);
    assert_int_equal (bus_zap_add_folder ("unit-domain", k->peers, "unit"), 0);
    //  one folder per domain in a process
    assert_int_equal (bus_zap_add_folder ("unit-domain", k->dir, "unit"), -1);
    assert_int_equal (bus_zap_add_roles ("unit-roles", k->peers), 0);
    bus_zap_release ("unit-domain");
    bus_zap_release ("unit-domain");
    bus_zap_release ("unit-roles");
    bus_zap_release ("unit-roles"); //  one too many: harmless
    assert_int_equal (bus_zap_add_folder (NULL, k->peers, "unit"), -1);
    s_keyset_free (k);
}

static void
test_bus_endpoint_list_is_split_and_bounded (void **state)
{
    (void)state;
    char out[BUS_ENDPOINT_MAX + 1];
    assert_int_equal (bus_endpoint_count ("tcp://a:5555"), 1);
    assert_int_equal (bus_endpoint_nth ("tcp://a:5555", 0, out, sizeof out), 0);
    assert_string_equal (out, "tcp://a:5555");
    assert_int_equal (bus_endpoint_nth ("tcp://a:5555", 1, out, sizeof out), -1);
    //  Blanks around an entry go; the order is kept.
    assert_int_equal (bus_endpoint_count ("tcp://a:1, tcp://b:2 ,\ttcp://c:3"), 3);
    assert_int_equal (bus_endpoint_nth ("tcp://a:1, tcp://b:2 ,\ttcp://c:3", 1, out, sizeof out), 0);
    assert_string_equal (out, "tcp://b:2");
    assert_int_equal (bus_endpoint_nth ("tcp://a:1, tcp://b:2 ,\ttcp://c:3", 2, out, sizeof out), 0);
    assert_string_equal (out, "tcp://c:3");
    //  Empty entries, empty lists, NULL, too many, too long, too small a buffer.
    assert_int_equal (bus_endpoint_count (""), -1);
    assert_int_equal (bus_endpoint_count ("tcp://a:1,"), -1);
    assert_int_equal (bus_endpoint_count ("tcp://a:1,, tcp://b:2"), -1);
    assert_int_equal (bus_endpoint_count (" , "), -1);
    assert_int_equal (bus_endpoint_count (NULL), -1);
    assert_int_equal (bus_endpoint_nth (NULL, 0, out, sizeof out), -1);
    assert_int_equal (bus_endpoint_nth ("tcp://a:1", -1, out, sizeof out), -1);
    char many[17 * 12 + 1] = "";
    for (int i = 0; i < 17; i++)
        strcat (many, i ? ",tcp://x:1" : "tcp://x:1");
    assert_int_equal (bus_endpoint_count (many), -1);
    many[strlen (many) - strlen (",tcp://x:1")] = 0; //  16 entries
    assert_int_equal (bus_endpoint_count (many), 16);
    char long_one[BUS_ENDPOINT_MAX + 8];
    memset (long_one, 'a', sizeof long_one - 1);
    long_one[sizeof long_one - 1] = 0;
    assert_int_equal (bus_endpoint_count (long_one), -1);
    char small[8];
    assert_int_equal (bus_endpoint_nth ("tcp://a:5555", 0, small, sizeof small), -1);
}

static void
test_bus_curve_connect_reaches_every_broker_of_a_list (void **state)
{
    (void)state;
    //  CURVE off (no curve set-up): plain connects, one per entry.
    zsock_t *a = zsock_new (ZMQ_ROUTER), *b = zsock_new (ZMQ_ROUTER);
    int pa = zsock_bind (a, "tcp://127.0.0.1:*[60000-]");
    int pb = zsock_bind (b, "tcp://127.0.0.1:*[60000-]");
    assert_true (pa > 0 && pb > 0);
    char list[128];
    snprintf (list, sizeof list, "tcp://127.0.0.1:%d, tcp://127.0.0.1:%d", pa, pb);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_int_equal (bus_curve_connect (NULL, dealer, list, BUS_ROLE_GATEWAY), 0);
    //  A DEALER deals round-robin: two messages, one to each broker.
    zstr_send (dealer, "one");
    zstr_send (dealer, "two");
    zsock_set_rcvtimeo (a, 2000);
    zsock_set_rcvtimeo (b, 2000);
    zmsg_t *ma = zmsg_recv (a), *mb = zmsg_recv (b);
    assert_non_null (ma);
    assert_non_null (mb);
    zmsg_destroy (&ma);
    zmsg_destroy (&mb);
    assert_int_equal (bus_curve_connect (NULL, dealer, "tcp://127.0.0.1:1,", BUS_ROLE_GATEWAY), -1);
    zsock_destroy (&dealer);
    zsock_destroy (&a);
    zsock_destroy (&b);
}

int
main (void)
{
    log_init ("test", OST_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bus_curve_new_off_does_nothing),
        cmocka_unit_test (test_bus_curve_new_names_what_is_missing),
        cmocka_unit_test (test_bus_curve_open_reads_the_settings),
        cmocka_unit_test (test_bus_peer_parse_takes_role_and_key),
        cmocka_unit_test (test_bus_key_fingerprint_is_sha256_hex),
        cmocka_unit_test (test_bus_log_allowed_once_per_peer_and_interval),
        cmocka_unit_test (test_bus_peers_follow_the_folders),
        cmocka_unit_test (test_bus_curve_admits_listed_keys_with_their_role),
        cmocka_unit_test (test_bus_curve_refuses_a_plain_client),
        cmocka_unit_test (test_bus_curve_connect_needs_a_server_key),
        cmocka_unit_test (test_bus_zap_domains_are_counted),
        cmocka_unit_test (test_bus_cert_destroy_wipes_and_frees),
        cmocka_unit_test (test_bus_peers_peer_role_follows_the_folders),
        cmocka_unit_test (test_bus_curve_peers_dir_is_the_setting),
        cmocka_unit_test (test_bus_log_forbidden_takes_any_peer),
        cmocka_unit_test (test_bus_msg_recv_peer_tells_network_from_in_process),
        cmocka_unit_test (test_bus_folder_has_key_reads_the_folder),
        cmocka_unit_test (test_bus_endpoint_list_is_split_and_bounded),
        cmocka_unit_test (test_bus_curve_connect_reaches_every_broker_of_a_list),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
