/*  flow_args - form input text, wiping secrets, handles. */
#include "flow_args.h"

#include "b64url.h"
#include "secure.h"

#include <openssl/evp.h>
#include <string.h>

void
flow_arg_wipe (const json_t *body, const char *name)
{
    const json_t *v = json_object_get (body, name);
    if (json_is_string (v))
        secure_wipe ((char *)json_string_value (v), json_string_length (v));
}

static int
s_sha256 (const void *data, size_t len, unsigned char hash[FLOW_HASH_BYTES])
{
    unsigned int n = 0;
    return EVP_Digest (data, len, hash, &n, EVP_sha256 (), NULL) == 1 && n == FLOW_HASH_BYTES ? 0 : -1;
}

int
flow_handle_hash (const char *handle, unsigned char hash[FLOW_HASH_BYTES])
{
    if (!handle || strnlen (handle, FLOW_HANDLE_CHARS + 1) != FLOW_HANDLE_CHARS)
        return -1;
    unsigned char raw[FLOW_HANDLE_BYTES];
    //  The strict decoder admits one encoding per value, so the hash of the
    //  raw bytes identifies the handle exactly.
    long n = b64url_decode (handle, FLOW_HANDLE_CHARS, raw, sizeof raw);
    int rc = n == FLOW_HANDLE_BYTES ? s_sha256 (raw, sizeof raw, hash) : -1;
    secure_wipe (raw, sizeof raw);
    return rc;
}

char *
flow_handle_new (unsigned char hash[FLOW_HASH_BYTES])
{
    char *handle = secure_token (FLOW_HANDLE_BYTES);
    if (handle && flow_handle_hash (handle, hash) != 0)
        secure_free_str (&handle);
    return handle;
}
