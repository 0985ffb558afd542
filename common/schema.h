/*  schema - the shapes of bus bodies, from proto/ops.def.
 *
 *  Every op of proto/ops.def lists the members of its request (IN) and of its
 *  result (OUT), and nested objects are named shapes (SHAPE). Expanded here,
 *  each one becomes:
 *    - a C struct (<op>_in_t, <op>_out_t, shape_<name>_t) with one member
 *      per field, so that a handler reads `in->client_id` and a misspelt
 *      field is a compile error;
 *    - a field table (schema_t) that schema_unpack checks a body against
 *      (type, length and count bounds, required members, no unknown member)
 *      while it fills the struct, and that schema_pack builds a body from;
 *    - the reference of proto/ops.md (tools/opsdoc.c prints it).
 *  The bus worker unpacks every request before its handler runs (a handler
 *  finds the typed request with BUS_IN) and, in builds without NDEBUG,
 *  checks every result against the op's OUT table.
 *
 *  Strings are pointers into the JSON value they were read from: they live
 *  as long as it does. */
#ifndef OST_SCHEMA_H
#define OST_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SCH_STR,    //  text: no control characters (C0, DEL, C1); a..b bytes
    SCH_LINES,  //  text that may hold line breaks (LF, CR LF) and tabs; a..b bytes
    SCH_SECRET, //  any characters but NUL, a..b bytes; never logged or named in errors
    SCH_INT,    //  an integer within a..b
    SCH_BOOL,   //  true or false
    SCH_STRS,   //  an array of at most a strings (SCH_STR rules) of at most b bytes each
    SCH_MAP,    //  an object of at most a members, each a string of at most b bytes
    SCH_OBJ,    //  an object, checked by its handler; at most a members (0: any number)
    SCH_ANY,    //  any value, checked by its handler
    SCH_SHAPE,  //  an object of the named shape
    SCH_SHAPES, //  an array of at most b objects of the named shape
} schema_type_t;

typedef enum {
    SCH_REQ, //  must be present and not null
    SCH_OPT, //  may be absent; null counts as absent
} schema_presence_t;

typedef struct _schema_t schema_t;

typedef struct {
    const char *name;
    schema_type_t type;
    schema_presence_t presence;
    int64_t min;           //  SCH_STR/LINES/SECRET: bytes; SCH_INT: value
    int64_t max;           //  idem; SCH_STRS/MAP: bytes of each item; SCH_SHAPES: items
    int64_t count;         //  SCH_STRS/MAP/OBJ: largest number of items (0: no limit)
    const schema_t *shape; //  SCH_SHAPE/SHAPES
    size_t offset;         //  of the member in the struct
    size_t has_offset;     //  of the `has_<name>` flag (SCH_INT, SCH_BOOL); 0: none
    const char *doc;
} schema_field_t;

struct _schema_t {
    const char *name; //  "token.client_get request", "client"
    const schema_field_t *fields;
    size_t nfields;
    size_t size;     //  of the struct
    const char *doc; //  shapes only
};

//  A member whose name is a C keyword (default) is written in
//  proto/ops.def with a trailing underscore (default_): the struct member
//  has that name, the wire has none. schema_wire_name gives the name on the
//  wire (in buf when it differs from f->name).
#define SCHEMA_NAME_MAX 64
const char *schema_wire_name (const schema_field_t *f, char *buf, size_t size);

//  Most bytes of the description schema_unpack writes.
#define SCHEMA_WHY_MAX 160

//  Checks obj against schema and, when out is not NULL, fills the struct
//  out (size schema->size, zeroed first). 0 when obj fits; -1 when it does
//  not, with why (SCHEMA_WHY_MAX bytes) saying which member and what is
//  wrong, in words that name fields but never quote values.
int schema_unpack (const schema_t *schema, const json_t *obj, void *out, char *why, size_t why_size);

//  A new object built from the struct value of schema: absent members
//  (NULL pointers, has_<name> false) are left out; JSON members are shared
//  (reference counted). NULL on allocation failure.
json_t *schema_pack (const schema_t *schema, const void *value);

//  1 when the UTF-8 text s (len bytes) holds no NUL or other control
//  character (C0, DEL, C1), but line feeds, CR LF and tabs when lines is
//  set: the rule of SCH_STR (lines 0) and SCH_LINES (lines 1).
int schema_text_ok (const char *s, size_t len, int lines);

//  The name of a type as proto/ops.md writes it ("string", "integer"…).
const char *schema_type_name (schema_type_t type);

#endif
