/*  fuzz_basic - the Authorization header of the client-authenticated
 *  endpoints (/token, /revoke, /introspect): "Basic" base64(urlencode(id)
 *  ":" urlencode(secret)), RFC 6749 §2.3.1 (token_basic_parse, gateway).
 *
 *  Property: credentials come out only as a non-empty client_id and a
 *  client_secret, both strings. */
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

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    //  civetweb hands a header value over as a C string.
    char *header = malloc (size + 1);
    if (!header)
        return 0;
    memcpy (header, data, size);
    header[size] = 0;
    json_t *basic = NULL;
    int rc = token_basic_parse (header, &basic);
    free (header);
    if (rc == 1) {
        const char *id = json_string_value (json_object_get (basic, "client_id"));
        const char *secret = json_string_value (json_object_get (basic, "client_secret"));
        if (!id || !*id || !secret || json_object_size (basic) != 2)
            abort ();
    }
    else if (rc != -1 || basic)
        abort ();
    json_decref (basic);
    return 0;
}
