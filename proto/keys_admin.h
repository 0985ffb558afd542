/*  keys_admin - the wire format of keys-svc's admin socket, shared by keys-svc
 *  (keys_admin.c) and ostiaryctl (ctl/keys.c) so that both ends expand the
 *  same command table.
 *
 *  The admin socket is a ZeroMQ REP socket apart from the public bus: an
 *  ipc:// path (mode 0600 in a 0700 folder) by default, or tcp:// with CURVE
 *  and an allow-list of client keys. One request, one reply, each a single
 *  frame holding a JSON object:
 *    request  {"command": NAME, "args": {...}}
 *    reply    {"ok": result} or {"error": {"code": C, "description": D}}
 *  (shape keys_admin_reply; each result has its command's shape below).
 *  C is a code of proto/errors.def: invalid_request (bad arguments, a bad
 *  algorithm, a refused transition), not_found (unknown kid), unknown_op
 *  (unknown command), server_error, temporarily_unavailable (database). */
#ifndef OST_PROTO_KEYS_ADMIN_H
#define OST_PROTO_KEYS_ADMIN_H

#include <stdio.h>
#include <string.h>

//  The socket's file name inside OSTIARY_RUN_DIR when OSTIARY_KEYS_ADMIN is empty.
#define KEYS_ADMIN_SOCKET_NAME "keys-admin.sock"
//  Largest request or reply; a `list` of a few hundred keys fits easily.
#define KEYS_ADMIN_MAX_MSG (1024 * 1024)
//  Largest request the server reads (commands are short; rewrap carries a KEK).
#define KEYS_ADMIN_MAX_REQUEST 4096
//  ZAP domain of the admin socket (RFC 27/ZAP): the handler answers this one only.
#define KEYS_ADMIN_ZAP_DOMAIN "ostiary-keys-admin"
//  Longest command name a request may carry.
#define KEYS_ADMIN_MAX_COMMAND 32

//  KEYS_ADMIN_CMD(name, args, result, summary): the admin commands, with
//  the shapes (proto/ops/keys.def) of their arguments and of their result
//  (shape_keys_admin_<args>, shape_keys_admin_<result>). keys-svc checks
//  both; ostiaryctl reads the result through the same shape. Each side
//  expands the table into its dispatch table, so a command is one line here
//  plus one handler at each end.
#define KEYS_ADMIN_COMMANDS                                                                                  \
    KEYS_ADMIN_CMD (status, none, status, "this replica's keyring, generation and settings")                 \
    KEYS_ADMIN_CMD (list, none, list, "every key: kid, alg, state, created, activated, retire-after")        \
    KEYS_ADMIN_CMD (rotate, rotate, rotate_result,                                                           \
                    "planned rotation ({alg}), or emergency rotation ({alg, now: true})")                    \
    KEYS_ADMIN_CMD (retire, retire, retire_result, "retire a next or retiring key at once ({kid})")          \
    KEYS_ADMIN_CMD (rewrap, rewrap, rewrap_result, "re-wrap every private key under a new KEK ({kek})")

//  The default endpoint: "ipc://" run_dir "/" KEYS_ADMIN_SOCKET_NAME.
//  0 ok, -1 when it does not fit in size.
static inline int
keys_admin_default_endpoint (const char *run_dir, char *out, size_t size)
{
    size_t len = strlen (run_dir);
    while (len > 1 && run_dir[len - 1] == '/')
        len--;
    int n = snprintf (out, size, "ipc://%.*s/%s", (int)len, run_dir, KEYS_ADMIN_SOCKET_NAME);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

#endif
