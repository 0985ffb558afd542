/*  ops - the field tables of proto/ops.def and the op table built from the
 *  same lines (proto.c looks ops up in it). */
#include "ops.h"
#include "proto.h"

#include <stddef.h>
#include <string.h>

#define OST_F_STR(st, n, a, b) .min = (a), .max = (b), .offset = offsetof (st, n)
#define OST_F_LINES(st, n, a, b) OST_F_STR (st, n, a, b)
#define OST_F_SECRET(st, n, a, b) OST_F_STR (st, n, a, b)
#define OST_F_INT(st, n, a, b)                                                                               \
    .min = (a), .max = (b), .offset = offsetof (st, n), .has_offset = offsetof (st, has_##n)
#define OST_F_BOOL(st, n, a, b) .offset = offsetof (st, n), .has_offset = offsetof (st, has_##n)
#define OST_F_STRS(st, n, a, b) .count = (a), .max = (b), .offset = offsetof (st, n)
#define OST_F_MAP(st, n, a, b) OST_F_STRS (st, n, a, b)
#define OST_F_OBJ(st, n, a, b) .count = (a), .offset = offsetof (st, n)
#define OST_F_ANY(st, n, a, b) .offset = offsetof (st, n)
#define OST_F_SHAPE(st, n, a, b) .shape = &schema_shape_##a, .offset = offsetof (st, n)
#define OST_F_SHAPES(st, n, a, b) .shape = &schema_shape_##a, .max = (b), .offset = offsetof (st, n)
#define OST_ENTRY(st, n, ty, pres, a, b, d)                                                                  \
    {.name = #n, .type = SCH_##ty, .presence = SCH_##pres, OST_F_##ty (st, n, a, b), .doc = d},
#define OST_FIELDS(array) array, sizeof array / sizeof array[0] - 1

//  Shapes.
#define OP(svc, op, kind, max, tmo, doc)
#define IN(sym, name, type, pres, a, b, doc)
#define OUT(sym, name, type, pres, a, b, doc)
#define ERR_OF(sym, err, doc)
#define END(sym)
#define SHAPE(shape, doc) static const schema_field_t s_shape_##shape[] = {
#define SF(shape, name, type, pres, a, b, doc) OST_ENTRY (shape_##shape##_t, name, type, pres, a, b, doc)
#define SHAPE_END(shape)                                                                                     \
    {                                                                                                        \
        .name = NULL                                                                                         \
    }                                                                                                        \
    }                                                                                                        \
    ;                                                                                                        \
    const schema_t schema_shape_##shape = {#shape, OST_FIELDS (s_shape_##shape), sizeof (shape_##shape##_t), \
                                           s_shape_doc_##shape};
#undef SHAPE
#define SHAPE(shape, doc)                                                                                    \
    static const char s_shape_doc_##shape[] = doc;                                                           \
    static const schema_field_t s_shape_##shape[] = {
#include "proto/ops.def"
#undef SHAPE
#undef SF
#undef SHAPE_END
#define SHAPE(shape, doc)
#define SF(shape, name, type, pres, a, b, doc)
#define SHAPE_END(shape)

//  Requests.
#undef OP
#undef IN
#undef END
#define OP(svc, op, kind, max, tmo, doc) static const schema_field_t s_in_##svc##_##op[] = {
#define IN(sym, name, type, pres, a, b, doc) OST_ENTRY (sym##_in_t, name, type, pres, a, b, doc)
#define END(sym)                                                                                             \
    {                                                                                                        \
        .name = NULL                                                                                         \
    }                                                                                                        \
    }                                                                                                        \
    ;
#include "proto/ops.def"
#undef OP
#undef IN
#define IN(sym, name, type, pres, a, b, doc)

//  Results.
#undef OUT
#define OP(svc, op, kind, max, tmo, doc) static const schema_field_t s_out_##svc##_##op[] = {
#define OUT(sym, name, type, pres, a, b, doc) OST_ENTRY (sym##_out_t, name, type, pres, a, b, doc)
#include "proto/ops.def"
#undef OP
#undef OUT
#define OUT(sym, name, type, pres, a, b, doc)

//  Errors each op may answer besides those of every op.
#undef ERR_OF
#undef END
#define OP(svc, op, kind, max, tmo, doc) static const op_err_doc_t s_errs_##svc##_##op[] = {
#define ERR_OF(sym, err, doc) {OST_ERR_##err, doc},
#define END(sym)                                                                                             \
    {                                                                                                        \
        OST_ERR__COUNT, NULL                                                                                 \
    }                                                                                                        \
    }                                                                                                        \
    ;
#include "proto/ops.def"
#undef OP
#undef ERR_OF
#undef END
#define ERR_OF(sym, err, doc)
#define END(sym)

//  The schemas of requests and results, and the op table.
#define OP(svc, op, kind, max, tmo, doc)                                                                     \
    const schema_t schema_##svc##_##op##_in = {#svc "." #op " request", OST_FIELDS (s_in_##svc##_##op),      \
                                               sizeof (svc##_##op##_in_t), NULL};                            \
    const schema_t schema_##svc##_##op##_out = {#svc "." #op " result", OST_FIELDS (s_out_##svc##_##op),     \
                                                sizeof (svc##_##op##_out_t), NULL};
#include "proto/ops.def"
#undef OP

const op_def_t ops_table[] = {
#define OP(svc, op, kind, max, tmo, doc)                                                                     \
    {#svc,                                                                                                   \
     #svc "." #op,                                                                                           \
     OP_##kind,                                                                                              \
     max,                                                                                                    \
     tmo,                                                                                                    \
     doc,                                                                                                    \
     &schema_##svc##_##op##_in,                                                                              \
     &schema_##svc##_##op##_out,                                                                             \
     s_errs_##svc##_##op},
#include "proto/ops.def"
#undef OP
};
const size_t ops_count = sizeof ops_table / sizeof ops_table[0];

#undef OP
#undef IN
#undef OUT
#undef ERR_OF
#undef END
#undef SHAPE
#undef SF
#undef SHAPE_END

#define OP(svc, op, kind, max, tmo, doc)
#define IN(sym, name, type, pres, a, b, doc)
#define OUT(sym, name, type, pres, a, b, doc)
#define ERR_OF(sym, err, doc)
#define END(sym)
#define SHAPE(shape, doc) &schema_shape_##shape,
#define SF(shape, name, type, pres, a, b, doc)
#define SHAPE_END(shape)
const schema_t *const ops_shapes[] = {
#include "proto/ops.def"
    NULL};
#undef OP
#undef IN
#undef OUT
#undef ERR_OF
#undef END
#undef SHAPE
#undef SF
#undef SHAPE_END
