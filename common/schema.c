/*  schema - checking bus bodies against the field tables of proto/ops.def,
 *  filling and reading the structs generated from them. */
#include "schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *s_type_names[] = {
    [SCH_STR] = "string",
    [SCH_LINES] = "text",
    [SCH_SECRET] = "secret string",
    [SCH_INT] = "integer",
    [SCH_BOOL] = "boolean",
    [SCH_STRS] = "array of strings",
    [SCH_MAP] = "map of strings",
    [SCH_OBJ] = "object",
    [SCH_ANY] = "any value",
    [SCH_SHAPE] = "object",
    [SCH_SHAPES] = "array of objects",
};

const char *
schema_type_name (schema_type_t type)
{
    return (size_t)type < sizeof s_type_names / sizeof s_type_names[0] ? s_type_names[type] : "?";
}

static int
s_why (char *why, size_t why_size, const char *fmt, ...)
{
    if (why && why_size) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (why, why_size, fmt, ap);
        va_end (ap);
    }
    return -1;
}

//  1 when the UTF-8 text s (len bytes, already valid UTF-8: the bus codec
//  refuses anything else) holds no control character: no C0 (but line
//  breaks and tabs when lines is set), no DEL, no C1 (U+0080..U+009F, which
//  UTF-8 writes as C2 80..C2 9F).
int
schema_text_ok (const char *s, size_t len, int lines)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20) {
            if (!lines)
                return 0;
            if (c == '\n' || c == '\t')
                continue;
            if (c == '\r' && i + 1 < len && s[i + 1] == '\n')
                continue;
            return 0;
        }
        if (c == 0x7f)
            return 0;
        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f)
            return 0;
    }
    return 1;
}

//  Checks one string value; 0 when it fits, else -1 with why.
static int
s_check_string (const schema_field_t *f, const char *what, const json_t *v, schema_type_t type, int64_t min,
                int64_t max, char *why, size_t why_size)
{
    if (!json_is_string (v))
        return s_why (why, why_size, "%s: must be a string", what);
    const char *s = json_string_value (v);
    size_t len = json_string_length (v);
    if (strlen (s) != len)
        return s_why (why, why_size, "%s: must not contain NUL", what);
    if ((int64_t)len < min)
        return s_why (why, why_size, len ? "%s: too short" : "%s: must not be empty", what);
    if ((int64_t)len > max)
        return s_why (why, why_size, "%s: too long (at most %lld bytes)", what, (long long)max);
    if (type != SCH_SECRET && !schema_text_ok (s, len, type == SCH_LINES))
        return s_why (why, why_size, "%s: must not contain control characters", what);
    (void)f;
    return 0;
}

const char *
schema_wire_name (const schema_field_t *f, char *buf, size_t size)
{
    size_t len = strlen (f->name);
    if (len < 2 || f->name[len - 1] != '_')
        return f->name;
    snprintf (buf, size, "%.*s", (int)(len - 1), f->name);
    return buf;
}

static int s_check (const schema_t *schema, const json_t *obj, void *out, const char *path, char *why,
                    size_t why_size);

//  Checks the value v of field f; fills its member of out when out is set.
static int
s_field (const schema_field_t *f, const json_t *v, void *out, const char *what, char *why, size_t why_size)
{
    char *member = out ? (char *)out + f->offset : NULL;
    switch (f->type) {
    case SCH_STR:
    case SCH_LINES:
    case SCH_SECRET:
        if (s_check_string (f, what, v, f->type, f->min, f->max, why, why_size))
            return -1;
        if (member)
            *(const char **)member = json_string_value (v);
        return 0;
    case SCH_INT: {
        if (!json_is_integer (v))
            return s_why (why, why_size, "%s: must be an integer", what);
        json_int_t n = json_integer_value (v);
        if (n < f->min || n > f->max)
            return s_why (why, why_size, "%s: must be between %lld and %lld", what, (long long)f->min,
                          (long long)f->max);
        if (member) {
            *(int64_t *)member = (int64_t)n;
            *(bool *)((char *)out + f->has_offset) = true;
        }
        return 0;
    }
    case SCH_BOOL:
        if (!json_is_boolean (v))
            return s_why (why, why_size, "%s: must be true or false", what);
        if (member) {
            *(bool *)member = json_is_true (v);
            *(bool *)((char *)out + f->has_offset) = true;
        }
        return 0;
    case SCH_STRS: {
        if (!json_is_array (v))
            return s_why (why, why_size, "%s: must be an array of strings", what);
        if (f->count && (int64_t)json_array_size (v) > f->count)
            return s_why (why, why_size, "%s: too many items (at most %lld)", what, (long long)f->count);
        size_t i;
        const json_t *item;
        json_array_foreach (v, i, item)
        {
            if (s_check_string (f, what, item, SCH_STR, 0, f->max, why, why_size))
                return -1;
        }
        break;
    }
    case SCH_MAP: {
        if (!json_is_object (v))
            return s_why (why, why_size, "%s: must be a map of strings", what);
        if (f->count && (int64_t)json_object_size (v) > f->count)
            return s_why (why, why_size, "%s: too many members (at most %lld)", what, (long long)f->count);
        const char *key;
        const json_t *item;
        json_object_foreach ((json_t *)v, key, item)
        {
            //  Names are checked like the values; the description names the map only.
            if (!schema_text_ok (key, strlen (key), 0))
                return s_why (why, why_size, "%s: a member name holds control characters", what);
            if (s_check_string (f, what, item, SCH_SECRET, 0, f->max, why, why_size))
                return -1;
        }
        break;
    }
    case SCH_OBJ:
        if (!json_is_object (v))
            return s_why (why, why_size, "%s: must be an object", what);
        if (f->count && (int64_t)json_object_size (v) > f->count)
            return s_why (why, why_size, "%s: too many members (at most %lld)", what, (long long)f->count);
        break;
    case SCH_ANY:
        break;
    case SCH_SHAPE:
        if (!json_is_object (v))
            return s_why (why, why_size, "%s: must be an object", what);
        if (s_check (f->shape, v, NULL, what, why, why_size))
            return -1;
        break;
    case SCH_SHAPES: {
        if (!json_is_array (v))
            return s_why (why, why_size, "%s: must be an array of objects", what);
        if (f->max && (int64_t)json_array_size (v) > f->max)
            return s_why (why, why_size, "%s: too many items (at most %lld)", what, (long long)f->max);
        size_t i;
        const json_t *item;
        json_array_foreach (v, i, item)
        {
            char at[128];
            snprintf (at, sizeof at, "%.96s[%zu]", what, i);
            if (!json_is_object (item))
                return s_why (why, why_size, "%s: must be an object", at);
            if (s_check (f->shape, item, NULL, at, why, why_size))
                return -1;
        }
        break;
    }
    }
    if (member)
        *(const json_t **)member = v;
    return 0;
}

static int
s_check (const schema_t *schema, const json_t *obj, void *out, const char *path, char *why, size_t why_size)
{
    if (!json_is_object (obj))
        return s_why (why, why_size, "%s: must be a map", path && *path ? path : "the body");
    if (out)
        memset (out, 0, schema->size);
    size_t known = 0;
    for (size_t i = 0; i < schema->nfields; i++) {
        const schema_field_t *f = &schema->fields[i];
        char wire[SCHEMA_NAME_MAX];
        const char *name = schema_wire_name (f, wire, sizeof wire);
        const json_t *v = json_object_get (obj, name);
        char what[128];
        if (path && *path)
            snprintf (what, sizeof what, "%.63s.%.63s", path, name);
        else
            snprintf (what, sizeof what, "%.63s", name);
        if (v)
            known++;
        if (!v || json_is_null (v)) {
            if (f->presence == SCH_REQ)
                return s_why (why, why_size, "%s: required", what);
            continue;
        }
        if (s_field (f, v, out, what, why, why_size))
            return -1;
    }
    if (json_object_size (obj) != known) {
        //  Name the first member the table does not know: names come from
        //  the sender's code, never from user input (maps of user input are
        //  SCH_MAP members, whose names are not checked here).
        const char *key;
        const json_t *v;
        json_object_foreach ((json_t *)obj, key, v)
        {
            size_t i = 0;
            char wire[SCHEMA_NAME_MAX];
            while (i < schema->nfields &&
                   strcmp (schema_wire_name (&schema->fields[i], wire, sizeof wire), key) != 0)
                i++;
            if (i == schema->nfields) {
                if (strlen (key) > 48 || !schema_text_ok (key, strlen (key), 0))
                    return s_why (why, why_size, "%s: unknown member", path && *path ? path : "the body");
                if (path && *path)
                    return s_why (why, why_size, "%s.%s: unknown member", path, key);
                return s_why (why, why_size, "%s: unknown member", key);
            }
        }
    }
    return 0;
}

int
schema_unpack (const schema_t *schema, const json_t *obj, void *out, char *why, size_t why_size)
{
    if (why && why_size)
        why[0] = 0;
    return s_check (schema, obj, out, NULL, why, why_size);
}

json_t *
schema_pack (const schema_t *schema, const void *value)
{
    json_t *obj = json_object ();
    if (!obj)
        return NULL;
    for (size_t i = 0; i < schema->nfields; i++) {
        const schema_field_t *f = &schema->fields[i];
        const char *member = (const char *)value + f->offset;
        json_t *v = NULL;
        switch (f->type) {
        case SCH_STR:
        case SCH_LINES:
        case SCH_SECRET: {
            const char *s = *(const char *const *)member;
            if (!s)
                continue;
            v = json_string (s);
            break;
        }
        case SCH_INT:
            if (!*(const bool *)((const char *)value + f->has_offset))
                continue;
            v = json_integer ((json_int_t) * (const int64_t *)member);
            break;
        case SCH_BOOL:
            if (!*(const bool *)((const char *)value + f->has_offset))
                continue;
            v = json_boolean (*(const bool *)member);
            break;
        default: {
            const json_t *j = *(const json_t *const *)member;
            if (!j)
                continue;
            v = json_incref ((json_t *)j);
            break;
        }
        }
        char wire[SCHEMA_NAME_MAX];
        if (!v || json_object_set_new (obj, schema_wire_name (f, wire, sizeof wire), v)) {
            json_decref (obj);
            return NULL;
        }
    }
    return obj;
}
