/*  bus_curve - CurveZMQ (RFC 26) and ZAP (RFC 27) for the bus: who a peer
 *  is comes from the key it proved it holds, never from a frame it wrote.
 *
 *  Each process holds one CURVE certificate of its role (OSTIARY_BUS_CERT,
 *  a zcert file with the secret key). OSTIARY_BUS_PEERS is a folder with one
 *  sub-folder per role of proto/access.def (gateway, token, flow, keys,
 *  admin), each holding the public certificates of that role's keys: the
 *  allow-list of every server socket (the broker, a direct endpoint), and
 *  where a client finds the public key of the server it connects to.
 *
 *  The process's ZAP handler (one per process: libzmq asks the endpoint
 *  inproc://zeromq.zap.01 of its context) admits a CURVE client whose key is
 *  in one of the role folders and gives it the user id "<role>:<Z85 key>";
 *  a server socket reads it from each message (ZMQ "User-Id") with
 *  bus_peer_parse. The folders are read again when they change, so adding
 *  or removing a file takes effect without a restart. */
#ifndef OST_BUS_CURVE_H
#define OST_BUS_CURVE_H

#include "config.h"
#include "ost.h"
#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

//  ZAP domain of the bus sockets.
#define BUS_ZAP_DOMAIN "ostiary-bus"
//  Z85 text of a 32-byte CURVE key.
#define BUS_KEY_TXT 40
//  Longest user id a bus peer gets: "<role>:<key>".
#define BUS_PEER_MAX 64
//  Hex digits of a key's fingerprint in logs (SHA-256 of the public key).
#define BUS_FINGERPRINT_LEN 16

typedef struct _bus_curve_t bus_curve_t;

//  The process's CURVE set-up. With enabled 0 it does nothing (plain
//  ZeroMQ; development only, checked by config). Otherwise loads cert_path
//  (which must hold a secret key) and checks that peers_dir is a folder.
//  NULL with a fixed reason in *why (naming the setting) on failure.
OST_WUR bus_curve_t *bus_curve_new (int enabled, const char *cert_path, const char *peers_dir,
                                    const char **why);
void bus_curve_destroy (bus_curve_t **self_p);
//  bus_curve_new from a process's settings (OSTIARY_BUS_CURVE, _CERT,
//  _PEERS), after log_init, once proto_access_check has passed: with CURVE
//  off it logs the warning that anyone who reaches the bus is trusted
//  (config refuses that outside development mode). NULL with *why on
//  failure (the exit is then 2).
OST_WUR bus_curve_t *bus_curve_open (const config_t *cfg, const char *program, const char **why);
//  1 when CURVE is on (self not NULL and enabled).
int bus_curve_enabled (const bus_curve_t *self);
//  Our own public key (Z85), "" when CURVE is off.
const char *bus_curve_public_key (const bus_curve_t *self);
//  OSTIARY_BUS_PEERS, "" when CURVE is off.
const char *bus_curve_peers_dir (const bus_curve_t *self);

//  Connects sock to endpoint as a CURVE client of a server of role
//  server_role: once per public key in OSTIARY_BUS_PEERS/<role>/ (while a
//  server key is being replaced both are there; only the connection to the
//  key the server holds completes its handshake, and the others retry
//  quietly). endpoint may be a comma-separated list (one broker per
//  gateway replica): sock connects to each. inproc:// endpoints, and every
//  endpoint with CURVE off, connect plain. 0 ok, -1 (no server key, an
//  empty or malformed list, or a connect failed).
OST_WUR int bus_curve_connect (const bus_curve_t *self, zsock_t *sock, const char *endpoint,
                               unsigned server_role);

//  The longest single endpoint of a list.
#define BUS_ENDPOINT_MAX 255
//  The n-th (from 0) endpoint of a comma-separated list into out (size
//  bytes), without surrounding blanks. 0 ok; -1 when the list has fewer
//  entries, an entry is empty or longer than BUS_ENDPOINT_MAX or size.
OST_WUR int bus_endpoint_nth (const char *list, int n, char *out, size_t size);
//  How many endpoints list holds; -1 when one of them is malformed (empty,
//  too long) or there are more than 16.
int bus_endpoint_count (const char *list);
//  A signature of the certificate files in OSTIARY_BUS_PEERS/<role>/ (names,
//  sizes, times): a client connects again when it changes. 0 with CURVE off.
uint64_t bus_curve_server_keys (const bus_curve_t *self, unsigned server_role);
//  Makes sock (before it binds) a CURVE server with our certificate whose
//  handshakes the process's ZAP handler checks against the role folders.
//  Call bus_curve_unserve after the socket is destroyed. 0 ok, -1.
OST_WUR int bus_curve_serve (bus_curve_t *self, zsock_t *sock);
void bus_curve_unserve (bus_curve_t *self);

//  Wipes what a zcert holds of the secret key (czmq does not) and frees it.
//  NULL and *NULL are fine.
void bus_cert_destroy (zcert_t **cert_p);

//  Reads a peer's user id ("<role>:<key>"): 0 with *role (one flag) and key
//  (Z85, BUS_KEY_TXT + 1 bytes) set; -1 when it is not one.
OST_WUR int bus_peer_parse (const char *user_id, unsigned *role, char *key);
//  SHA-256 of the public key named by key (Z85), as BUS_FINGERPRINT_LEN hex
//  digits (out: BUS_FINGERPRINT_LEN + 1 bytes); "?" when key is not Z85.
void bus_key_fingerprint (const char *key, char *out);

//  1 when a refusal may be logged for peer now: one line per peer (a key,
//  an address) and 10 s, so that a hostile peer cannot flood the log.
int bus_log_allowed (const char *peer);
//  The one line for a refused message of peer (a user id, "" or "?"):
//  "WHO: forbidden: role R (key FINGERPRINT) may not WHAT NAME", rate-limited
//  by bus_log_allowed.
void bus_log_forbidden (const char *who, const char *peer, const char *what, const char *name);

//  The public keys of the role folders, held in memory and read again
//  when the folders change (file names, sizes or times).
typedef struct _bus_peers_t bus_peers_t;
OST_WUR bus_peers_t *bus_peers_new (const char *peers_dir);
void bus_peers_destroy (bus_peers_t **self_p);
//  Reads the folders again if they changed. 1 changed, 0 not, -1 unreadable
//  (no key is allowed when it never could be read; otherwise the keys read
//  before stay).
int bus_peers_refresh (bus_peers_t *self);
//  The role of key (Z85), 0 when it is in no role folder.
unsigned bus_peers_role (const bus_peers_t *self, const char *key);
//  The role of a peer's user id ("<role>:<key>") now: 0 when it is not one,
//  or its key is not (or no longer) in that role's folder. A key the table
//  does not have sends it to the folders again at once, at most every
//  100 ms: the ZAP handler reads them at each handshake, so a key added
//  just now is admitted before the table has seen it.
unsigned bus_peers_peer_role (bus_peers_t *self, const char *peer);
//  Reads the folders again when a second has passed since the last look
//  (call it often; a removed key loses its rights within that second).
void bus_peers_tick (bus_peers_t *self);
//  How often the keys were read anew: a holder that compares it with what
//  it saw last knows when to check what it admitted before.
uint64_t bus_peers_generation (const bus_peers_t *self);

//  The process's ZAP handler. Each domain is registered once per socket
//  that uses it and released with bus_zap_release; the handler runs while
//  any domain is registered.
//  Bus domain: a key in a role folder of peers_dir → "<role>:<key>".
OST_WUR int bus_zap_add_roles (const char *domain, const char *peers_dir);
//  A flat allow-list folder (the keys-svc admin socket): a key of a
//  certificate in dir → "<key>". log_name prefixes its refusal lines.
OST_WUR int bus_zap_add_folder (const char *domain, const char *dir, const char *log_name);
void bus_zap_release (const char *domain);
//  1 when key (Z85) is the public key of a certificate in folder dir (the
//  flat allow-list of bus_zap_add_folder), read now.
int bus_folder_has_key (const char *dir, const char *key);

#endif
