/*  flow_args - bounded reading of request bodies and handles. */
#include "flow_args.h"

#include "b64url.h"
#include "secure.h"

#include <openssl/evp.h>
#include <string.h>

int
flow_text_ok (const char *s, size_t len, int flags)
{
    if (len == 0)
        return (flags & ARG_EMPTY) != 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '\n' && (flags & ARG_MULTILINE))
            continue;
        if (c == '\r' && (flags & ARG_MULTILINE) && i + 1 < len && p[i + 1] == '\n')
            continue;
        if (c < 0x20 || c == 0x7f)
            return 0;
        //  C1 controls (U+0080..U+009F) are encoded as C2 80..C2 9F in UTF-8,
        //  which jansson has already checked.
        if (c == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return 0;
    }
    return 1;
}

//  The member as a string without embedded NUL: ARG_OK, or ARG_ABSENT/ARG_BAD.
static arg_rc_t
s_raw_string (const json_t *body, const char *name, const char **out, size_t *len)
{
    const json_t *v = json_object_get (body, name);
    if (!v || json_is_null (v))
        return ARG_ABSENT;
    if (!json_is_string (v))
        return ARG_BAD;
    const char *s = json_string_value (v);
    *len = json_string_length (v);
    //  A NUL inside the value would cut it short in C: never the same string twice.
    if (strlen (s) != *len)
        return ARG_BAD;
    *out = s;
    return ARG_OK;
}

arg_rc_t
flow_arg_string (const json_t *body, const char *name, size_t max, int flags, const char **out)
{
    const char *s = NULL;
    size_t len = 0;
    arg_rc_t rc = s_raw_string (body, name, &s, &len);
    if (rc != ARG_OK)
        return rc;
    if (len > max || !flow_text_ok (s, len, flags))
        return ARG_BAD;
    *out = s;
    return ARG_OK;
}

arg_rc_t
flow_arg_secret (const json_t *body, const char *name, size_t max, const char **out, size_t *len)
{
    arg_rc_t rc = s_raw_string (body, name, out, len);
    if (rc != ARG_OK)
        return rc;
    return *len >= 1 && *len <= max ? ARG_OK : ARG_BAD;
}

void
flow_arg_wipe (const json_t *body, const char *name)
{
    const json_t *v = json_object_get (body, name);
    if (json_is_string (v))
        secure_wipe ((char *)json_string_value (v), json_string_length (v));
}

arg_rc_t
flow_arg_bool (const json_t *body, const char *name, int *out)
{
    const json_t *v = json_object_get (body, name);
    if (!v || json_is_null (v))
        return ARG_ABSENT;
    if (!json_is_boolean (v))
        return ARG_BAD;
    *out = json_is_true (v);
    return ARG_OK;
}

arg_rc_t
flow_arg_int (const json_t *body, const char *name, long min, long max, long *out)
{
    const json_t *v = json_object_get (body, name);
    if (!v || json_is_null (v))
        return ARG_ABSENT;
    if (!json_is_integer (v))
        return ARG_BAD;
    json_int_t n = json_integer_value (v);
    if (n < min || n > max)
        return ARG_BAD;
    *out = (long)n;
    return ARG_OK;
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
