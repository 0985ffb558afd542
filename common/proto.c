#include "proto.h"

#include <string.h>

//  The op table comes from proto/ops.def through common/ops.c.
extern const op_def_t ops_table[];
extern const size_t ops_count;
#define s_ops ops_table

static const err_def_t s_errs[] = {
#define ERR(sym, code, status, retry, http) {OST_ERR_##sym, code, status, retry, OST_ERR_##http},
#include "proto/errors.def"
#undef ERR
};

#define ANY BUS_ROLE_ANY
#define GATEWAY BUS_ROLE_GATEWAY
#define TOKEN BUS_ROLE_TOKEN
#define FLOW BUS_ROLE_FLOW
#define KEYS BUS_ROLE_KEYS
#define ADMIN BUS_ROLE_ADMIN

static const struct {
    unsigned role;
    const char *name;
} s_roles[] = {
#define ROLE(sym, name) {BUS_ROLE_##sym, name},
#define WORKER(svc, roles)
#define ALLOW(op, roles)
#include "proto/access.def"
#undef ROLE
#undef WORKER
#undef ALLOW
};

static const struct {
    const char *service;
    unsigned roles;
} s_workers[] = {
#define ROLE(sym, name)
#define WORKER(svc, roles) {#svc, roles},
#define ALLOW(op, roles)
#include "proto/access.def"
#undef ROLE
#undef WORKER
#undef ALLOW
};

static const struct {
    const char *op;
    unsigned roles;
} s_allow[] = {
#define ROLE(sym, name)
#define WORKER(svc, roles)
#define ALLOW(op, roles) {op, roles},
#include "proto/access.def"
#undef ROLE
#undef WORKER
#undef ALLOW
};

#undef ANY
#undef GATEWAY
#undef TOKEN
#undef FLOW
#undef KEYS
#undef ADMIN

#define S_COUNT(a) (sizeof (a) / sizeof (a)[0])

unsigned
proto_role (const char *name)
{
    for (size_t i = 0; name && i < S_COUNT (s_roles); i++)
        if (strcmp (s_roles[i].name, name) == 0)
            return s_roles[i].role;
    return 0;
}

const char *
proto_role_name (unsigned role)
{
    for (size_t i = 0; i < S_COUNT (s_roles); i++)
        if (s_roles[i].role == role)
            return s_roles[i].name;
    return NULL;
}

size_t
proto_role_count (void)
{
    return S_COUNT (s_roles);
}

unsigned
proto_role_at (size_t i)
{
    return i < S_COUNT (s_roles) ? s_roles[i].role : 0;
}

unsigned
proto_op_roles (const char *op)
{
    for (size_t i = 0; op && i < S_COUNT (s_allow); i++)
        if (strcmp (s_allow[i].op, op) == 0)
            return s_allow[i].roles;
    return 0;
}

unsigned
proto_worker_roles (const char *service)
{
    for (size_t i = 0; service && i < S_COUNT (s_workers); i++)
        if (strcmp (s_workers[i].service, service) == 0)
            return s_workers[i].roles;
    return 0;
}

int
proto_may_call (unsigned role, const char *op)
{
    return role != 0 && proto_role_name (role) && (proto_op_roles (op) & role) == role;
}

int
proto_may_serve (unsigned role, const char *service)
{
    return role != 0 && proto_role_name (role) && (proto_worker_roles (service) & role) == role;
}

int
proto_access_check (const char **why, const char **what)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!what)
        what = &dummy;
    *why = NULL;
    *what = NULL;
    for (size_t i = 0; i < proto_op_count (); i++) {
        const op_def_t *op = proto_op_at (i);
        size_t lines = 0;
        for (size_t k = 0; k < S_COUNT (s_allow); k++)
            lines += strcmp (s_allow[k].op, op->name) == 0;
        if (lines != 1) {
            *why = lines ? "an op has more than one ALLOW line in proto/access.def"
                         : "an op of proto/ops.def has no ALLOW line in proto/access.def";
            *what = op->name;
            return -1;
        }
        if (!proto_worker_roles (op->service)) {
            *why = "a service of proto/ops.def has no WORKER line in proto/access.def";
            *what = op->service;
            return -1;
        }
    }
    for (size_t k = 0; k < S_COUNT (s_allow); k++)
        if (!proto_op (s_allow[k].op) || s_allow[k].roles == 0) {
            *why = "proto/access.def allows an op that proto/ops.def does not have, or nobody";
            *what = s_allow[k].op;
            return -1;
        }
    for (size_t k = 0; k < S_COUNT (s_workers); k++) {
        int known = 0;
        for (size_t i = 0; i < proto_op_count (); i++)
            known |= strcmp (proto_op_at (i)->service, s_workers[k].service) == 0;
        if (!known) {
            *why = "proto/access.def names a service that has no op in proto/ops.def";
            *what = s_workers[k].service;
            return -1;
        }
    }
    return 0;
}

const op_def_t *
proto_op (const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < ops_count; i++)
        if (strcmp (s_ops[i].name, name) == 0)
            return &s_ops[i];
    return NULL;
}

size_t
proto_op_count (void)
{
    return ops_count;
}

const op_def_t *
proto_op_at (size_t i)
{
    return i < proto_op_count () ? &s_ops[i] : NULL;
}

const err_def_t *
proto_err (ost_err_t id)
{
    if ((int)id < 0 || id >= OST_ERR__COUNT)
        return &s_errs[OST_ERR_SERVER_ERROR];
    return &s_errs[id];
}

const err_def_t *
proto_err_http (ost_err_t id)
{
    return proto_err (proto_err (id)->http);
}

const char *
proto_page_err (ost_page_err_t id)
{
    static const char *const codes[] = {
#define PAGE_ERR(sym, code) code,
#include "proto/page_errors.def"
#undef PAGE_ERR
    };
    return (size_t)id < sizeof codes / sizeof codes[0] ? codes[id] : NULL;
}

const err_def_t *
proto_err_by_code (const char *code)
{
    if (!code)
        return NULL;
    for (size_t i = 0; i < OST_ERR__COUNT; i++)
        if (strcmp (s_errs[i].code, code) == 0)
            return &s_errs[i];
    return NULL;
}

int
proto_valid_service (const char *service)
{
    if (!service || !*service || strlen (service) > 32)
        return 0;
    if (!(service[0] >= 'a' && service[0] <= 'z'))
        return 0;
    for (const char *p = service; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
