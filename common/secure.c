/*  secure - random bytes, constant-time comparison, wiping and random ids.
 *  Thin wrappers over OpenSSL so that every secret in Ostiary is drawn,
 *  compared and erased the same way (ARCHITECTURE.md, "Security rules"). */
#include "secure.h"

#include "b64url.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

int
secure_random (void *buf, size_t len)
{
    //  RAND_bytes takes an int; draw large requests in slices rather than
    //  truncate the length silently.
    unsigned char *p = buf;
    while (len > 0) {
        int chunk = len > (size_t)INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes (p, chunk) != 1)
            return -1;
        p += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

int
secure_equal (const void *a, size_t alen, const void *b, size_t blen)
{
    if (!a || !b || alen != blen)
        return 0;
    if (alen == 0)
        return 1;
    //  CRYPTO_memcmp's time depends on the length only, never on where the
    //  first difference is, so a guessing attacker learns nothing per byte.
    return CRYPTO_memcmp (a, b, alen) == 0;
}

int
secure_streq (const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    return secure_equal (a, strlen (a), b, strlen (b));
}

void
secure_wipe (void *buf, size_t len)
{
    if (buf && len)
        OPENSSL_cleanse (buf, len);
}

void
secure_free_str (char **str_p)
{
    if (str_p && *str_p) {
        secure_wipe (*str_p, strlen (*str_p));
        free (*str_p);
        *str_p = NULL;
    }
}

void
secure_hex (const void *buf, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

char *
secure_token (size_t nbytes)
{
    if (nbytes == 0)
        return NULL;
    unsigned char *raw = malloc (nbytes);
    if (!raw)
        return NULL;
    char *token = NULL;
    if (secure_random (raw, nbytes) == 0)
        token = b64url_encode_alloc (raw, nbytes);
    //  The raw bytes are the secret itself; do not leave them in the heap.
    secure_wipe (raw, nbytes);
    free (raw);
    return token;
}

//  A RAND_bytes call costs about 2 us whatever its size (a lock and the
//  DRBG's checks); drawn SECURE_ID_POOL bytes at a time it is a few
//  nanoseconds per id.
static _Thread_local unsigned char s_id_pool[SECURE_ID_POOL];
static _Thread_local size_t s_id_pool_used = SECURE_ID_POOL;

int
secure_id_random (void *buf, size_t len)
{
    if (len > SECURE_ID_POOL)
        return -1;
    if (s_id_pool_used + len > SECURE_ID_POOL) {
        if (secure_random (s_id_pool, SECURE_ID_POOL) != 0)
            return -1;
        s_id_pool_used = 0;
    }
    memcpy (buf, s_id_pool + s_id_pool_used, len);
    s_id_pool_used += len;
    return 0;
}

int
secure_request_id (char out[33])
{
    unsigned char raw[16];
    if (secure_id_random (raw, sizeof raw) != 0) {
        out[0] = '\0';
        return -1;
    }
    secure_hex (raw, sizeof raw, out);
    return 0;
}
