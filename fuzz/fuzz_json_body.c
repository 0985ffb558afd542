/*  fuzz_json_body - JSON request bodies on their way from HTTP to flow-svc:
 *  the webhook callback body the gateway parses (flows_callback_parse), any
 *  JSON value through the bus (bus_body_from_json, then bus_body_to_json as
 *  the receiving worker does), and flow-svc's readers of untrusted members:
 *  flow submissions (csrf, node, input fields), webhook callbacks (outcome,
 *  data), sessions and handles (flow_handle_hash), admin input
 *  (users_claims: the profile claims of flow.user_add; usernames).
 *
 *  Properties: what the gateway accepts as a callback is an object with a
 *  valid outcome; a value that crosses the bus arrives equal; a string a
 *  reader accepts is within its bounds. */
#include "bus_msg.h"
#include "flow-svc/flow_args.h"
#include "flow-svc/users.h"
#include "gateway/routes.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const unsigned char *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    log_init ("fuzz", OST_LOG_ERROR);
    return 0;
}

static void
s_string (const json_t *body, const char *name, size_t max, int flags)
{
    const char *s = NULL;
    arg_rc_t rc = flow_arg_string (body, name, max, flags, &s);
    if (rc == ARG_OK) {
        size_t len = strlen (s);
        if (len > max || (len == 0 && !(flags & ARG_EMPTY)) || !flow_text_ok (s, len, flags))
            abort ();
    }
}

//  What flow-svc reads of a body, member by member.
static void
s_flow_readers (const json_t *body)
{
    s_string (body, "csrf", 64, 0);
    s_string (body, "node", 64, 0);
    s_string (body, "outcome", 16, 0);
    s_string (body, "session", 256, ARG_EMPTY);
    s_string (body, "client_ip", 64, 0);
    s_string (body, "message", 1024, ARG_MULTILINE);
    const json_t *input = json_object_get (body, "input");
    if (json_is_object (input)) {
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *) input, key, value)
            s_string (input, key, 1024, ARG_EMPTY);
    }
    const char *pw = NULL;
    size_t pw_len = 0;
    if (flow_arg_secret (body, "password", 1024, &pw, &pw_len) == ARG_OK
        && (pw_len == 0 || pw_len > 1024 || memchr (pw, 0, pw_len)))
        abort ();
    int b;
    (void) flow_arg_bool (body, "disabled", &b);
    long n;
    if (flow_arg_int (body, "value", -5, 1000000, &n) == ARG_OK && (n < -5 || n > 1000000))
        abort ();
    const char *handle = json_string_value (json_object_get (body, "flow"));
    unsigned char hash[FLOW_HASH_BYTES];
    if (handle && flow_handle_hash (handle, hash) == 0 && strlen (handle) != FLOW_HANDLE_CHARS)
        abort ();
    const char *username = json_string_value (json_object_get (body, "username"));
    char folded[USERNAME_MAX + 1];
    if (username && users_fold_username (username, strlen (username), folded) == 0
        && strlen (folded) != strlen (username))
        abort ();
    json_t *claims = NULL;
    const char *why = NULL;
    if (users_claims (body, &claims, &why) == 0) {
        if (!json_is_object (claims))
            abort ();
        json_decref (claims);
    }
    else if (claims || !why)
        abort ();
}

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    json_t *callback = flows_callback_parse ((const char *) data, size);
    if (callback) {
        const char *outcome = json_string_value (json_object_get (callback, "outcome"));
        json_t *cb_data = json_object_get (callback, "data");
        if (!json_is_object (callback) || !outcome
            || (strcmp (outcome, "success") && strcmp (outcome, "failure")) || (cb_data && !json_is_object (cb_data)))
            abort ();
        json_decref (callback);
    }
    json_error_t jerr;
    json_t *body = json_loadb ((const char *) data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
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
        s_flow_readers (arrived);
        json_decref (arrived);
    }
    free (packed);
    json_decref (body);
    return 0;
}
