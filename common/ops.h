/*  ops - the typed requests and results of every bus op, expanded from
 *  proto/ops.def (see common/schema.h for what each line becomes).
 *
 *  For an op "token.client_get" (symbol token_client_get):
 *    token_client_get_in_t    its request, one member per IN line
 *    token_client_get_out_t   its result, one member per OUT line
 *    schema_token_client_get_in / _out   their field tables
 *    token_client_get_in_pack (&in)      a body built from a struct
 *    token_client_get_out_unpack (obj, &out, why, size)   a checked reply
 *  and for a shape "client": shape_client_t, schema_shape_client,
 *  shape_client_unpack (obj, &value, why, size).
 *
 *  Member types: strings are const char * (NULL when absent); integers
 *  int64_t and booleans bool, each with has_<name>; arrays, maps and objects
 *  const json_t * (NULL when absent), already checked against their bounds
 *  or shape. */
#ifndef OST_OPS_H
#define OST_OPS_H

#include "schema.h"

#define OST_MEMBER_STR(n) const char *n;
#define OST_MEMBER_LINES(n) const char *n;
#define OST_MEMBER_SECRET(n) const char *n;
#define OST_MEMBER_INT(n)                                                                                    \
    int64_t n;                                                                                               \
    bool has_##n;
#define OST_MEMBER_BOOL(n)                                                                                   \
    bool n;                                                                                                  \
    bool has_##n;
#define OST_MEMBER_STRS(n) const json_t *n;
#define OST_MEMBER_MAP(n) const json_t *n;
#define OST_MEMBER_OBJ(n) const json_t *n;
#define OST_MEMBER_ANY(n) const json_t *n;
#define OST_MEMBER_SHAPE(n) const json_t *n;
#define OST_MEMBER_SHAPES(n) const json_t *n;

//  Every struct starts with a member of its own so that an op without
//  fields still has a struct (and no field sits at offset 0).
#define OP(svc, op, kind, max, tmo, doc)                                                                     \
    typedef struct {                                                                                         \
        char none_;
#define IN(sym, name, type, pres, a, b, doc) OST_MEMBER_##type (name)
#define OUT(sym, name, type, pres, a, b, doc)
#define ERR_OF(sym, err, doc)
#define END(sym)                                                                                             \
    }                                                                                                        \
    sym##_in_t;
#define SHAPE(shape, doc)
#define SF(shape, name, type, pres, a, b, doc)
#define SHAPE_END(shape)
#include "proto/ops.def"
#undef OP
#undef IN
#undef OUT
#undef END
#define OP(svc, op, kind, max, tmo, doc)                                                                     \
    typedef struct {                                                                                         \
        char none_;
#define IN(sym, name, type, pres, a, b, doc)
#define OUT(sym, name, type, pres, a, b, doc) OST_MEMBER_##type (name)
#define END(sym)                                                                                             \
    }                                                                                                        \
    sym##_out_t;
#include "proto/ops.def"
#undef OP
#undef OUT
#undef END
#undef SHAPE
#undef SF
#undef SHAPE_END
#define OP(svc, op, kind, max, tmo, doc)
#define OUT(sym, name, type, pres, a, b, doc)
#define END(sym)
#define SHAPE(shape, doc)                                                                                    \
    typedef struct {                                                                                         \
        char none_;
#define SF(shape, name, type, pres, a, b, doc) OST_MEMBER_##type (name)
#define SHAPE_END(shape)                                                                                     \
    }                                                                                                        \
    shape_##shape##_t;
#include "proto/ops.def"
#undef SHAPE
#undef SF
#undef SHAPE_END

//  The field tables and the typed wrappers around schema_unpack/pack.
#define SHAPE(shape, doc)                                                                                    \
    extern const schema_t schema_shape_##shape;                                                              \
    static inline int shape_##shape##_unpack (const json_t *obj, shape_##shape##_t *value, char *why,        \
                                              size_t why_size)                                               \
    {                                                                                                        \
        return schema_unpack (&schema_shape_##shape, obj, value, why, why_size);                             \
    }
#define SF(shape, name, type, pres, a, b, doc)
#define SHAPE_END(shape)
#undef END
#define END(sym)                                                                                             \
    extern const schema_t schema_##sym##_in;                                                                 \
    extern const schema_t schema_##sym##_out;                                                                \
    static inline json_t *sym##_in_pack (const sym##_in_t *value)                                            \
    {                                                                                                        \
        return schema_pack (&schema_##sym##_in, value);                                                      \
    }                                                                                                        \
    static inline json_t *sym##_out_pack (const sym##_out_t *value)                                          \
    {                                                                                                        \
        return schema_pack (&schema_##sym##_out, value);                                                     \
    }                                                                                                        \
    static inline int sym##_out_unpack (const json_t *obj, sym##_out_t *value, char *why, size_t size)       \
    {                                                                                                        \
        return schema_unpack (&schema_##sym##_out, obj, value, why, size);                                   \
    }
#include "proto/ops.def"
#undef OP
#undef IN
#undef OUT
#undef ERR_OF
#undef END
#undef SHAPE
#undef SF
#undef SHAPE_END

//  Every shape of proto/ops.def, in order, ending with NULL.
extern const schema_t *const ops_shapes[];

#endif
