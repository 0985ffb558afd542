/*  Unit tests of common/schema.c (checking, filling and building bus bodies)
 *  and of the tables common/ops.c expands from proto/ops.def. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ops.h"
#include "proto.h"
#include "schema.h"

#include <string.h>

//  A table of every type, written by hand as common/ops.c would expand it.
typedef struct {
    char none_;
    const char *text;
    const char *lines;
    const char *secret;
    int64_t n;
    bool has_n;
    bool flag;
    bool has_flag;
    const json_t *list;
    const json_t *map;
    const json_t *obj;
    const json_t *any;
    const json_t *jwk;
    const json_t *jwks;
} s_all_t;

static const schema_field_t s_all_fields[] = {
    {.name = "text",
     .type = SCH_STR,
     .presence = SCH_REQ,
     .min = 1,
     .max = 8,
     .offset = offsetof (s_all_t, text)},
    {.name = "lines",
     .type = SCH_LINES,
     .presence = SCH_OPT,
     .min = 0,
     .max = 16,
     .offset = offsetof (s_all_t, lines)},
    {.name = "secret",
     .type = SCH_SECRET,
     .presence = SCH_OPT,
     .min = 2,
     .max = 8,
     .offset = offsetof (s_all_t, secret)},
    {.name = "n",
     .type = SCH_INT,
     .presence = SCH_OPT,
     .min = -5,
     .max = 5,
     .offset = offsetof (s_all_t, n),
     .has_offset = offsetof (s_all_t, has_n)},
    {.name = "flag",
     .type = SCH_BOOL,
     .presence = SCH_OPT,
     .offset = offsetof (s_all_t, flag),
     .has_offset = offsetof (s_all_t, has_flag)},
    {.name = "list",
     .type = SCH_STRS,
     .presence = SCH_OPT,
     .count = 2,
     .max = 3,
     .offset = offsetof (s_all_t, list)},
    {.name = "map",
     .type = SCH_MAP,
     .presence = SCH_OPT,
     .count = 2,
     .max = 3,
     .offset = offsetof (s_all_t, map)},
    {.name = "obj", .type = SCH_OBJ, .presence = SCH_OPT, .count = 1, .offset = offsetof (s_all_t, obj)},
    {.name = "any", .type = SCH_ANY, .presence = SCH_OPT, .offset = offsetof (s_all_t, any)},
    {.name = "jwk",
     .type = SCH_SHAPE,
     .presence = SCH_OPT,
     .shape = &schema_shape_jwk,
     .offset = offsetof (s_all_t, jwk)},
    {.name = "jwks",
     .type = SCH_SHAPES,
     .presence = SCH_OPT,
     .shape = &schema_shape_jwk,
     .max = 1,
     .offset = offsetof (s_all_t, jwks)},
};
static const schema_t s_all = {"all", s_all_fields, sizeof s_all_fields / sizeof s_all_fields[0],
                               sizeof (s_all_t), NULL};

//  Checks text (JSON) against s_all: 0 or -1, with why.
static int
s_try (const char *text, s_all_t *out, char *why)
{
    json_error_t error;
    json_t *obj = json_loads (text, JSON_ALLOW_NUL, &error);
    assert_non_null (obj);
    int rc = schema_unpack (&s_all, obj, out, why, SCHEMA_WHY_MAX);
    json_decref (obj);
    return rc;
}

static void
s_refused (const char *text, const char *expected)
{
    char why[SCHEMA_WHY_MAX];
    s_all_t out;
    assert_int_equal (s_try (text, &out, why), -1);
    assert_string_equal (why, expected);
}

static void
test_schema_unpack_fills_every_type (void **state)
{
    (void)state;
    json_t *obj =
        json_loads ("{\"text\": \"abc\", \"lines\": \"a\\r\\nb\\tc\\n\", \"secret\": \"\\u0001x\","
                    " \"n\": -5, \"flag\": false, \"list\": [\"a\", \"\"], \"map\": {\"k\": \"v\"},"
                    " \"obj\": {\"x\": [1]}, \"any\": 3,"
                    " \"jwk\": {\"kty\": \"OKP\", \"kid\": \"k1\", \"crv\": \"Ed25519\", \"x\": \"AA\"},"
                    " \"jwks\": [{\"kty\": \"EC\", \"kid\": \"k2\"}]}",
                    0, NULL);
    assert_non_null (obj);
    s_all_t out;
    char why[SCHEMA_WHY_MAX] = "";
    assert_int_equal (schema_unpack (&s_all, obj, &out, why, sizeof why), 0);
    assert_string_equal (why, "");
    assert_string_equal (out.text, "abc");
    assert_string_equal (out.lines, "a\r\nb\tc\n");
    assert_string_equal (out.secret, "\001x");
    assert_true (out.has_n);
    assert_int_equal (out.n, -5);
    assert_true (out.has_flag);
    assert_false (out.flag);
    assert_ptr_equal (out.list, json_object_get (obj, "list"));
    assert_ptr_equal (out.map, json_object_get (obj, "map"));
    assert_ptr_equal (out.obj, json_object_get (obj, "obj"));
    assert_ptr_equal (out.any, json_object_get (obj, "any"));
    assert_ptr_equal (out.jwk, json_object_get (obj, "jwk"));
    assert_ptr_equal (out.jwks, json_object_get (obj, "jwks"));

    //  What was unpacked packs back into the same body.
    json_t *again = schema_pack (&s_all, &out);
    assert_non_null (again);
    assert_true (json_equal (again, obj));
    json_decref (again);
    json_decref (obj);
}

static void
test_schema_absent_and_null_members (void **state)
{
    (void)state;
    s_all_t out;
    char why[SCHEMA_WHY_MAX];
    //  Optional members absent or null: pointers NULL, has_ flags false.
    json_t *obj = json_pack ("{s:s, s:n, s:n, s:n}", "text", "a", "n", "lines", "jwk");
    assert_int_equal (schema_unpack (&s_all, obj, &out, why, sizeof why), 0);
    assert_null (out.lines);
    assert_null (out.secret);
    assert_false (out.has_n);
    assert_false (out.has_flag);
    assert_null (out.list);
    assert_null (out.jwk);
    //  ...and left out of a body built from the struct.
    json_t *packed = schema_pack (&s_all, &out);
    assert_non_null (packed);
    assert_int_equal (json_object_size (packed), 1);
    assert_string_equal (json_string_value (json_object_get (packed, "text")), "a");
    json_decref (packed);
    json_decref (obj);
    //  A required member must be there, and not null.
    s_refused ("{}", "text: required");
    s_refused ("{\"text\": null}", "text: required");
    s_refused ("[]", "the body: must be a map");
}

static void
test_schema_refuses_unknown_members (void **state)
{
    (void)state;
    s_refused ("{\"text\": \"a\", \"kid\": \"evil\"}", "kid: unknown member");
    //  Inside a shape the path is named; in a list, the index too.
    s_refused ("{\"text\": \"a\", \"jwk\": {\"kty\": \"RSA\", \"kid\": \"k\", \"d\": \"private\"}}",
               "jwk.d: unknown member");
    s_refused ("{\"text\": \"a\", \"jwks\": [{\"kty\": \"RSA\"}]}", "jwks[0].kid: required");
    //  A member name that is not a plain short word is not repeated back.
    s_refused ("{\"text\": \"a\", \"a\\u0007b\": 1}", "the body: unknown member");
}

static void
test_schema_bounds_strings (void **state)
{
    (void)state;
    s_refused ("{\"text\": \"\"}", "text: must not be empty");
    s_refused ("{\"text\": \"123456789\"}", "text: too long (at most 8 bytes)");
    s_refused ("{\"text\": 1}", "text: must be a string");
    s_refused ("{\"text\": \"a\\u0000b\"}", "text: must not contain NUL");
    //  No C0 (tab and line feed included), DEL or C1 in plain text...
    s_refused ("{\"text\": \"a\\tb\"}", "text: must not contain control characters");
    s_refused ("{\"text\": \"a\\nb\"}", "text: must not contain control characters");
    s_refused ("{\"text\": \"a\\u007fb\"}", "text: must not contain control characters");
    s_refused ("{\"text\": \"a\\u0085\"}", "text: must not contain control characters");
    //  ...while other non-ASCII text is fine (é is C3 A9).
    s_all_t out;
    char why[SCHEMA_WHY_MAX];
    assert_int_equal (s_try ("{\"text\": \"\\u00e9\\u00a0\"}", &out, why), 0);
    //  Lines: LF, CR LF and tab, but no lone CR and no other control.
    s_refused ("{\"text\": \"a\", \"lines\": \"a\\rb\"}", "lines: must not contain control characters");
    s_refused ("{\"text\": \"a\", \"lines\": \"a\\u0001\"}", "lines: must not contain control characters");
    //  The rule itself, as handlers call it for text inside maps.
    assert_true (schema_text_ok ("a b\xc3\xa9", 5, 0));
    assert_true (schema_text_ok ("", 0, 0));
    assert_false (schema_text_ok ("a\tb", 3, 0));
    assert_true (schema_text_ok ("a\tb\r\nc", 6, 1));
    assert_false (schema_text_ok ("a\rb", 3, 1));
    assert_false (schema_text_ok ("a\xc2\x9f", 3, 1));
    assert_false (schema_text_ok ("a\x7f", 2, 1));
    //  Secrets: any character but NUL, within their bounds.
    s_refused ("{\"text\": \"a\", \"secret\": \"a\\u0000b\"}", "secret: must not contain NUL");
    s_refused ("{\"text\": \"a\", \"secret\": \"a\"}", "secret: too short");
}

static void
test_schema_bounds_numbers_and_collections (void **state)
{
    (void)state;
    s_refused ("{\"text\": \"a\", \"n\": 6}", "n: must be between -5 and 5");
    s_refused ("{\"text\": \"a\", \"n\": -6}", "n: must be between -5 and 5");
    s_refused ("{\"text\": \"a\", \"n\": 1.5}", "n: must be an integer");
    s_refused ("{\"text\": \"a\", \"n\": \"1\"}", "n: must be an integer");
    s_refused ("{\"text\": \"a\", \"flag\": 1}", "flag: must be true or false");
    s_refused ("{\"text\": \"a\", \"list\": [\"a\", \"b\", \"c\"]}", "list: too many items (at most 2)");
    s_refused ("{\"text\": \"a\", \"list\": [\"abcd\"]}", "list: too long (at most 3 bytes)");
    s_refused ("{\"text\": \"a\", \"list\": [1]}", "list: must be a string");
    s_refused ("{\"text\": \"a\", \"list\": \"a\"}", "list: must be an array of strings");
    s_refused ("{\"text\": \"a\", \"map\": {\"a\": \"1\", \"b\": \"2\", \"c\": \"3\"}}",
               "map: too many members (at most 2)");
    s_refused ("{\"text\": \"a\", \"map\": {\"a\": 1}}", "map: must be a string");
    s_refused ("{\"text\": \"a\", \"map\": {\"a\": \"1234\"}}", "map: too long (at most 3 bytes)");
    s_refused ("{\"text\": \"a\", \"map\": {\"a\\u0001\": \"1\"}}",
               "map: a member name holds control characters");
    s_refused ("{\"text\": \"a\", \"map\": []}", "map: must be a map of strings");
    s_refused ("{\"text\": \"a\", \"obj\": {\"a\": 1, \"b\": 2}}", "obj: too many members (at most 1)");
    s_refused ("{\"text\": \"a\", \"obj\": [1]}", "obj: must be an object");
    s_refused ("{\"text\": \"a\", \"jwk\": []}", "jwk: must be an object");
    s_refused ("{\"text\": \"a\", \"jwks\": {}}", "jwks: must be an array of objects");
    s_refused ("{\"text\": \"a\", \"jwks\": [1]}", "jwks[0]: must be an object");
    s_refused (
        "{\"text\": \"a\", \"jwks\": [{\"kty\": \"EC\", \"kid\": \"a\"}, {\"kty\": \"EC\", \"kid\": \"b\"}]}",
        "jwks: too many items (at most 1)");
}

//  A member named after a C keyword: default_ in C, default on the wire.
static void
test_schema_keyword_members (void **state)
{
    (void)state;
    shape_setting_t setting;
    char why[SCHEMA_WHY_MAX];
    json_t *obj = json_pack ("{s:s, s:i, s:i, s:i, s:i, s:s}", "name", "x", "value", 3, "default", 5, "min",
                             1, "max", 9, "description", "d");
    assert_int_equal (shape_setting_unpack (obj, &setting, why, sizeof why), 0);
    assert_true (setting.has_default_);
    assert_int_equal (setting.default_, 5);
    json_t *packed = schema_pack (&schema_shape_setting, &setting);
    assert_true (json_equal (packed, obj));
    json_decref (packed);
    json_object_del (obj, "default");
    assert_int_equal (shape_setting_unpack (obj, &setting, why, sizeof why), -1);
    assert_string_equal (why, "default: required");
    json_object_set_new (obj, "default", json_integer (5));
    json_object_set_new (obj, "default_", json_integer (5));
    assert_int_equal (shape_setting_unpack (obj, &setting, why, sizeof why), -1);
    assert_string_equal (why, "default_: unknown member");
    json_decref (obj);
    char buf[SCHEMA_NAME_MAX];
    const schema_field_t plain = {.name = "x"}, keyword = {.name = "default_"}, one = {.name = "_"};
    assert_string_equal (schema_wire_name (&plain, buf, sizeof buf), "x");
    assert_string_equal (schema_wire_name (&keyword, buf, sizeof buf), "default");
    assert_string_equal (schema_wire_name (&one, buf, sizeof buf), "_");
}

static void
test_schema_type_names (void **state)
{
    (void)state;
    assert_string_equal (schema_type_name (SCH_STR), "string");
    assert_string_equal (schema_type_name (SCH_SHAPES), "array of objects");
    assert_string_equal (schema_type_name ((schema_type_t)99), "?");
}

//  The generated typed wrappers work on the real tables of proto/ops.def.
static void
test_ops_typed_wrappers (void **state)
{
    (void)state;
    keys_sign_in_t in = {.alg = "ES256", .typ = "at+jwt"};
    json_t *claims = json_pack ("{s:s}", "sub", "x");
    in.claims = claims;
    json_t *body = keys_sign_in_pack (&in);
    assert_non_null (body);
    json_t *expected = json_pack ("{s:O, s:s, s:s}", "claims", claims, "alg", "ES256", "typ", "at+jwt");
    assert_true (json_equal (body, expected));
    keys_sign_out_t out;
    char why[SCHEMA_WHY_MAX];
    //  A request is not a result: the reply check names what is missing.
    assert_int_equal (keys_sign_out_unpack (body, &out, why, sizeof why), -1);
    assert_string_equal (why, "jws: required");
    json_t *reply = json_pack ("{s:s, s:s, s:s}", "jws", "a.b.c", "kid", "k", "alg", "ES256");
    assert_int_equal (keys_sign_out_unpack (reply, &out, why, sizeof why), 0);
    assert_string_equal (out.jws, "a.b.c");
    assert_null (out.id_token);
    shape_jwk_t jwk;
    json_t *key = json_pack ("{s:s, s:s}", "kty", "RSA", "kid", "k");
    assert_int_equal (shape_jwk_unpack (key, &jwk, why, sizeof why), 0);
    assert_string_equal (jwk.kty, "RSA");
    json_decref (key);
    json_decref (reply);
    json_decref (expected);
    json_decref (body);
    json_decref (claims);
}

//  The tables themselves: every op has its request and result tables, no
//  field twice, bounds that make sense, shapes where a field needs one.
static void
s_check_table (const schema_t *schema)
{
    assert_non_null (schema);
    assert_non_null (schema->name);
    assert_true (schema->size > 0);
    for (size_t i = 0; i < schema->nfields; i++) {
        const schema_field_t *f = &schema->fields[i];
        assert_non_null (f->name);
        assert_non_null (f->doc);
        assert_true (f->offset > 0 && f->offset < schema->size);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal (schema->fields[j].name, f->name);
        switch (f->type) {
        case SCH_STR:
        case SCH_LINES:
        case SCH_SECRET:
        case SCH_INT:
            assert_true (f->min <= f->max);
            break;
        case SCH_BOOL:
            assert_true (f->has_offset > 0);
            break;
        case SCH_STRS:
        case SCH_MAP:
            assert_true (f->count > 0 && f->max > 0);
            break;
        case SCH_SHAPE:
        case SCH_SHAPES:
            assert_non_null (f->shape);
            s_check_table (f->shape);
            break;
        default:
            break;
        }
    }
}

static void
test_ops_tables_are_well_formed (void **state)
{
    (void)state;
    for (size_t i = 0; i < proto_op_count (); i++) {
        const op_def_t *op = proto_op_at (i);
        assert_non_null (op->doc);
        s_check_table (op->in);
        s_check_table (op->out);
        assert_non_null (op->errs);
        for (const op_err_doc_t *e = op->errs; e->err != OST_ERR__COUNT; e++) {
            assert_non_null (proto_err (e->err));
            assert_non_null (e->doc);
        }
    }
    size_t nshapes = 0;
    int jwk_listed = 0;
    for (size_t i = 0; ops_shapes[i]; i++, nshapes++) {
        s_check_table (ops_shapes[i]);
        if (ops_shapes[i] == &schema_shape_jwk)
            jwk_listed = 1;
    }
    assert_true (nshapes >= 6);
    //  Every SHAPE of proto/ops/*.def is listed, whatever the files' order.
    assert_true (jwk_listed);
    const op_def_t *sign = proto_op ("keys.sign");
    assert_ptr_equal (sign->in, &schema_keys_sign_in);
    assert_ptr_equal (sign->out, &schema_keys_sign_out);
    assert_int_equal (sign->errs[0].err, OST_ERR_FORBIDDEN);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_schema_unpack_fills_every_type),
        cmocka_unit_test (test_schema_absent_and_null_members),
        cmocka_unit_test (test_schema_refuses_unknown_members),
        cmocka_unit_test (test_schema_bounds_strings),
        cmocka_unit_test (test_schema_bounds_numbers_and_collections),
        cmocka_unit_test (test_schema_keyword_members),
        cmocka_unit_test (test_schema_type_names),
        cmocka_unit_test (test_ops_typed_wrappers),
        cmocka_unit_test (test_ops_tables_are_well_formed),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
