/*  fuzz_json_body - JSON request bodies on their way from HTTP to flow-svc:
 *  the webhook callback body the gateway parses (flows_callback_parse), any
 *  JSON value through the bus (bus_body_from_json, then bus_body_to_json as
 *  the receiving worker does), and flow-svc's readers of untrusted members:
 *  flow submissions (csrf, node, input fields), webhook callbacks (outcome,
 *  data), sessions and handles (flow_handle_hash), admin input
 *  (users_claims: the profile claims of flow.user_add; usernames).
 *
 *  Properties: what the gateway accepts as a callback is an object with a
 *  valid outcome; a value that crosses the bus arrives equal; every op's
 *  request table (the bus worker's check) refuses with a description or
 *  accepts a body that packs back unchanged. */
#include "bus_msg.h"
#include "flow-svc/flow_args.h"
#include "flow-svc/users.h"
#include "gateway/routes.h"
#include "log.h"
#include "ops.h"
#include "proto.h"
#include "schema.h"

#include <stddef.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const unsigned char *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init ("fuzz", OST_LOG_ERROR);
    return 0;
}

//  Every op's request table (proto/ops.def) over the body, as the bus
//  worker checks it: a body it accepts fills the struct within the bounds
//  and packs back into the same body (but for null members, absent after).
static void
s_op_tables (const json_t *body)
{
    static _Alignas(max_align_t) unsigned char value[8192];
    char why[SCHEMA_WHY_MAX];
    for (size_t i = 0; i < proto_op_count (); i++) {
        const schema_t *in = proto_op_at (i)->in;
        if (in->size > sizeof value)
            abort ();
        if (schema_unpack (in, body, value, why, sizeof why) != 0) {
            if (!why[0] || strlen (why) >= sizeof why)
                abort ();
            continue;
        }
        json_t *again = schema_pack (in, value);
        if (!again)
            abort ();
        const char *key;
        json_t *member;
        json_object_foreach ((json_t *)body, key, member)
        {
            if (json_is_null (member) ? json_object_get (again, key) != NULL
                                      : !json_equal (member, json_object_get (again, key)))
                abort ();
        }
        json_decref (again);
    }
}

//  What flow-svc reads of a body beyond the tables.
static void
s_flow_readers (const json_t *body)
{
    const json_t *input = json_object_get (body, "input");
    if (json_is_object (input)) {
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)input, key, value)
        {
            const char *s = json_string_value (value);
            if (s && schema_text_ok (s, json_string_length (value), 0) &&
                memchr (s, '\n', json_string_length (value)))
                abort ();
        }
    }
    const char *handle = json_string_value (json_object_get (body, "flow"));
    unsigned char hash[FLOW_HASH_BYTES];
    if (handle && flow_handle_hash (handle, hash) == 0 && strlen (handle) != FLOW_HANDLE_CHARS)
        abort ();
    const char *username = json_string_value (json_object_get (body, "username"));
    char folded[USERNAME_MAX + 1];
    if (username && users_fold_username (username, strlen (username), folded) == 0 &&
        strlen (folded) != strlen (username))
        abort ();
    json_t *claims = NULL;
    const char *why = NULL;
    if (users_claims (body, &claims, &why) == 0) {
        if (!json_is_object (claims))
            abort ();
        json_decref (claims);
    } else if (claims || !why)
        abort ();
}

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    json_t *callback = flows_callback_parse ((const char *)data, size);
    if (callback) {
        const char *outcome = json_string_value (json_object_get (callback, "outcome"));
        json_t *cb_data = json_object_get (callback, "data");
        if (!json_is_object (callback) || !outcome ||
            (strcmp (outcome, "success") && strcmp (outcome, "failure")) ||
            (cb_data && !json_is_object (cb_data)))
            abort ();
        json_decref (callback);
    }
    json_error_t jerr;
    json_t *body = json_loadb ((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!body)
        return 0;
    char *packed = NULL;
    size_t packed_len = 0;
    if (bus_body_from_json (body, &packed, &packed_len) == 0) {
        json_t *arrived = bus_body_to_json (packed, packed_len);
        //  Integers stay integers and a double crosses msgpack exactly
        //  (jansson refuses NaN and infinities), so equality holds.
        if (!arrived || !json_equal (arrived, body))
            abort ();
        s_op_tables (arrived);
        s_flow_readers (arrived);
        json_decref (arrived);
    }
    free (packed);
    json_decref (body);
    return 0;
}
