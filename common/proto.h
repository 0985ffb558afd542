/*  proto - the operation and error tables of proto/ops.def and errors.def, expanded for C.
 *  Both the gateway (client side) and the services (worker side) look ops up
 *  here, so limits and kinds are the same at both ends of the bus. */
#ifndef OST_PROTO_H
#define OST_PROTO_H

#include <stddef.h>

typedef enum { OP_READ, OP_WRITE } op_kind_t;

typedef enum {
#define ERR(sym, code, status, retry, http) OST_ERR_##sym,
#include "proto/errors.def"
#undef ERR
    OST_ERR__COUNT
} ost_err_t;

//  An error an op may answer, and when (proto/ops.def's ERR_OF lines).
typedef struct {
    ost_err_t err;
    const char *doc;
} op_err_doc_t;

struct _schema_t;

typedef struct {
    const char *service;
    const char *name;
    op_kind_t kind;
    size_t max_body;
    int timeout_ms;
    const char *doc;
    const struct _schema_t *in;  //  the request's fields (common/schema.h)
    const struct _schema_t *out; //  the result's fields
    const op_err_doc_t *errs;    //  ends with err == OST_ERR__COUNT
} op_def_t;

typedef struct {
    ost_err_t id;
    const char *code;
    int http_status;
    int retry_after;
    ost_err_t http; //  the entry an HTTP client gets for this one (errors.def)
} err_def_t;

//  Looks an op up by wire name; NULL when it is not in proto/ops.def.
const op_def_t *proto_op (const char *name);
//  Number of ops and the i-th one (for tables and docs).
size_t proto_op_count (void);
const op_def_t *proto_op_at (size_t i);

//  Error table lookups. proto_err_by_code returns NULL for an unknown code.
const err_def_t *proto_err (ost_err_t id);
const err_def_t *proto_err_by_code (const char *code);
//  The entry whose code, status and Retry-After answer id over HTTP (the
//  http column of proto/errors.def): id's own for the OAuth and OpenID
//  Connect codes, temporarily_unavailable for a passed deadline,
//  server_error for our other internal codes.
const err_def_t *proto_err_http (ost_err_t id);

//  Why a request is refused on a page (proto/page_errors.def).
typedef enum {
#define PAGE_ERR(sym, code) OST_PAGE_ERR_##sym,
#include "proto/page_errors.def"
#undef PAGE_ERR
    OST_PAGE_ERR__COUNT
} ost_page_err_t;

//  The wire code of a page error reason ("unknown_client"); NULL for a
//  value out of the table.
const char *proto_page_err (ost_page_err_t id);

//  Roles on the bus (proto/access.def): bit flags, one per role.
typedef enum {
    BUS_ROLE_NONE = 0,
#define ROLE(sym, name) BUS_ROLE_##sym##_BIT,
#define WORKER(svc, roles)
#define ALLOW(op, roles)
#include "proto/access.def"
#undef ROLE
#undef WORKER
#undef ALLOW
    BUS_ROLE__COUNT
} bus_role_bit_t;
#define ROLE(sym, name) BUS_ROLE_##sym = 1u << (BUS_ROLE_##sym##_BIT - 1),
#define WORKER(svc, roles)
#define ALLOW(op, roles)
enum {
#include "proto/access.def"
};
#undef ROLE
#undef WORKER
#undef ALLOW
#define BUS_ROLE_ANY ((1u << (BUS_ROLE__COUNT - 1)) - 1)

//  The role called name ("token"), 0 when there is none.
unsigned proto_role (const char *name);
//  The name of a single role flag, NULL for anything else.
const char *proto_role_name (unsigned role);
//  Number of roles, and the i-th one's flag (for listings and key folders).
size_t proto_role_count (void);
unsigned proto_role_at (size_t i);
//  The roles allowed to call op (0 for an op without a line in access.def).
unsigned proto_op_roles (const char *op);
//  The roles allowed to register as a worker of service (0: none).
unsigned proto_worker_roles (const char *service);
//  1 when role (one flag) may call op / serve service.
int proto_may_call (unsigned role, const char *op);
int proto_may_serve (unsigned role, const char *service);
//  Checks that proto/access.def names every op of ops.def once, no other
//  op, and a worker role for every service of ops.def. 0 ok; -1 with the
//  first problem in why (a static string) and its op or service in *what.
int proto_access_check (const char **why, const char **what);

//  Service names are short identifiers: [a-z][a-z0-9._-]{0,31}.
int proto_valid_service (const char *service);

#endif
