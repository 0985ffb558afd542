#include "proto.h"

#include <string.h>

static const op_def_t s_ops[] = {
#define OP(svc, name, kind, max, tmo) {#svc, name, OP_##kind, max, tmo},
#include "proto/ops.def"
#undef OP
};

static const err_def_t s_errs[] = {
#define ERR(sym, code, status, retry) {OST_ERR_##sym, code, status, retry},
#include "proto/errors.def"
#undef ERR
};

const op_def_t *
proto_op (const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof s_ops / sizeof s_ops[0]; i++)
        if (strcmp (s_ops[i].name, name) == 0)
            return &s_ops[i];
    return NULL;
}

size_t
proto_op_count (void)
{
    return sizeof s_ops / sizeof s_ops[0];
}

const op_def_t *
proto_op_at (size_t i)
{
    return i < proto_op_count () ? &s_ops[i] : NULL;
}

const err_def_t *
proto_err (ost_err_t id)
{
    if ((int) id < 0 || id >= OST_ERR__COUNT)
        return &s_errs[OST_ERR_SERVER_ERROR];
    return &s_errs[id];
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
