/*  keys_admin - the admin socket of keys-svc (proto/keys_admin.h): a ZeroMQ
 *  REP socket apart from the public bus, served by the control thread.
 *
 *  ipc:// (the default, under OSTIARY_RUN_DIR): the folder must be ours (or
 *  root's) and writable by nobody else, and the socket file is made 0600, so
 *  only the service's user can connect. tcp://: CURVE (RFC 26/CURVEZMQ) with
 *  the server certificate of OSTIARY_KEYS_ADMIN_CURVE_CERT, and a ZAP
 *  handler (RFC 27/ZAP) that admits only the client keys of the certificates
 *  in OSTIARY_KEYS_ADMIN_CURVE_CLIENTS; a client without CURVE, or with an
 *  unknown key, never completes the handshake.
 *
 *  Every command, whatever its outcome, is logged and written to keys.audit
 *  with the client's identity ("local", or its CURVE public key) and its
 *  arguments without secrets. */
#ifndef OST_KEYS_ADMIN_H
#define OST_KEYS_ADMIN_H

#include "db.h"
#include "keys_app.h"
#include "keys_lifecycle.h"

#include <czmq.h>

typedef struct _keys_admin_t keys_admin_t;

//  Binds the configured endpoint. On success *status is 0 and the result is
//  the admin socket, or NULL when it is off ("none") or when its ipc:// path
//  is already served by another live keys-svc (a second replica on the same
//  host: it runs without one, and says so). On failure NULL with *status 2
//  (a configuration error, printed to stderr) or 1.
keys_admin_t *keys_admin_new (keys_app_t *app, db_t *db, int *status);
void keys_admin_destroy (keys_admin_t **self_p);

//  Adds the sockets to poll to poller.
void keys_admin_attach (keys_admin_t *self, zpoller_t *poller);
//  Serves one ready socket that keys_admin_attach added: 1 when `which` was
//  one of them, 0 otherwise.
int keys_admin_handle (keys_admin_t *self, void *which);
//  The endpoint it listens on.
const char *keys_admin_endpoint (const keys_admin_t *self);

//  Runs the admin command name with args on db (a connection of the calling
//  thread) for peer, as the admin socket runs it: the same command table,
//  argument and result shapes, log line and audit record (actor peer: an
//  admin:<sub> of the admin API, or "admin" for an operator on the bus).
//  Commands run one at a time in the process, whichever way they came.
//  status reports the endpoint "bus". 0 with *result, -1 with *err.
int keys_admin_run (keys_app_t *app, db_t *db, const char *peer, const char *name, const json_t *args,
                    json_t **result, keys_err_t *err);

#endif
