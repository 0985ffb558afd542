/*  proto - the operation and error tables of proto/ops.def and errors.def, expanded for C.
 *  Both the gateway (client side) and the services (worker side) look ops up
 *  here, so limits and kinds are the same at both ends of the bus. */
#ifndef OST_PROTO_H
#define OST_PROTO_H

#include <stddef.h>

typedef enum { OP_READ, OP_WRITE } op_kind_t;

typedef struct {
    const char *service;
    const char *name;
    op_kind_t kind;
    size_t max_body;
    int timeout_ms;
} op_def_t;

typedef enum {
#define ERR(sym, code, status, retry) OST_ERR_##sym,
#include "proto/errors.def"
#undef ERR
    OST_ERR__COUNT
} ost_err_t;

typedef struct {
    ost_err_t id;
    const char *code;
    int http_status;
    int retry_after;
} err_def_t;

//  Looks an op up by wire name; NULL when it is not in proto/ops.def.
const op_def_t *proto_op (const char *name);
//  Number of ops and the i-th one (for tables and docs).
size_t proto_op_count (void);
const op_def_t *proto_op_at (size_t i);

//  Error table lookups. proto_err_by_code returns NULL for an unknown code.
const err_def_t *proto_err (ost_err_t id);
const err_def_t *proto_err_by_code (const char *code);

//  Service names are short identifiers: [a-z][a-z0-9._-]{0,31}.
int proto_valid_service (const char *service);

#endif
