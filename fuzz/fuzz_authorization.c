/*  fuzz_authorization - the Authorization header value as the gateway reads
 *  it: "Basic" base64(urlencode(id) ":" urlencode(secret)) on the
 *  client-authenticated endpoints (/token, /revoke, /introspect; RFC 6749
 *  §2.3.1, token_basic_parse) and "Bearer" b64token on /userinfo and
 *  /flows/callback (RFC 6750 §2.1, http_bearer_parse).
 *
 *  Properties: credentials come out only as a non-empty client_id and a
 *  client_secret, both strings; a bearer token is a non-empty b64token that
 *  fits its buffer. */
#include "gateway/http.h"
#include "gateway/routes.h"
#include "log.h"

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

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    //  civetweb hands a header value over as a C string.
    char *header = malloc (size + 1);
    if (!header)
        return 0;
    memcpy (header, data, size);
    header[size] = 0;
    //  The sizes of the callers' buffers, and a tight one.
    static const size_t sizes[] = {4097, 65, 2};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *token = malloc (sizes[i]);
        if (!token)
            break;
        int has = http_bearer_parse (header, token, sizes[i]);
        if (has == 1) {
            size_t len = strnlen (token, sizes[i]);
            size_t chars =
                strspn (token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
            if (len == 0 || len >= sizes[i] || chars == 0 || strspn (token + chars, "=") != len - chars)
                abort ();
        } else if (has != 0 && has != -1)
            abort ();
        free (token);
    }
    json_t *basic = NULL;
    int rc = token_basic_parse (header, &basic);
    free (header);
    if (rc == 1) {
        const char *id = json_string_value (json_object_get (basic, "client_id"));
        const char *secret = json_string_value (json_object_get (basic, "client_secret"));
        if (!id || !*id || !secret || json_object_size (basic) != 2)
            abort ();
    } else if (rc != -1 || basic)
        abort ();
    json_decref (basic);
    return 0;
}
