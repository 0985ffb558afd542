/*  b64url - base64url (RFC 4648 §5) without padding, as JOSE uses it.
 *  The decoder is strict: JWS signatures and tokens are compared byte for
 *  byte, so one value must have exactly one accepted encoding. */
#include "b64url.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

static const char s_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

//  Value of one base64url character, or -1 for anything outside the alphabet
//  ('=' included: RFC 7515 §2 says JOSE omits the padding).
static int
s_value (unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

size_t
b64url_encoded_len (size_t n)
{
    return (n / 3) * 4 + ((n % 3) ? (n % 3) + 1 : 0);
}

size_t
b64url_encode (const void *in, size_t n, char *out)
{
    const unsigned char *src = in;
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        out[o++] = s_alphabet[(v >> 18) & 63];
        out[o++] = s_alphabet[(v >> 12) & 63];
        out[o++] = s_alphabet[(v >> 6) & 63];
        out[o++] = s_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)src[i] << 16;
        out[o++] = s_alphabet[(v >> 18) & 63];
        out[o++] = s_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
        out[o++] = s_alphabet[(v >> 18) & 63];
        out[o++] = s_alphabet[(v >> 12) & 63];
        out[o++] = s_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

char *
b64url_encode_alloc (const void *in, size_t n)
{
    //  Four characters per three bytes cannot overflow before malloc fails,
    //  but a caller passing SIZE_MAX should get NULL rather than a wrap.
    if (n > (SIZE_MAX - 4) / 4 * 3)
        return NULL;
    char *out = malloc (b64url_encoded_len (n) + 1);
    if (!out)
        return NULL;
    b64url_encode (in, n, out);
    return out;
}

long
b64url_decode (const char *in, size_t inlen, void *out, size_t outmax)
{
    //  One character carries 6 bits, less than a byte: no valid encoding has a
    //  length of 4k+1 (RFC 4648 §5 with the padding removed).
    if (inlen % 4 == 1)
        return -1;
    size_t outlen = inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0);
    if (outlen > outmax || outlen > (size_t)LONG_MAX)
        return -1;

    unsigned char *dst = out;
    size_t o = 0;
    size_t i = 0;
    for (; i + 4 <= inlen; i += 4) {
        int a = s_value ((unsigned char)in[i]);
        int b = s_value ((unsigned char)in[i + 1]);
        int c = s_value ((unsigned char)in[i + 2]);
        int d = s_value ((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0)
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        dst[o++] = (unsigned char)(v >> 16);
        dst[o++] = (unsigned char)(v >> 8);
        dst[o++] = (unsigned char)v;
    }
    size_t rest = inlen - i;
    if (rest >= 2) {
        int a = s_value ((unsigned char)in[i]);
        int b = s_value ((unsigned char)in[i + 1]);
        int c = rest == 3 ? s_value ((unsigned char)in[i + 2]) : 0;
        if ((a | b | c) < 0)
            return -1;
        //  RFC 4648 §3.5: the bits past the last whole byte must be zero, or
        //  two different strings would decode to the same bytes.
        if (rest == 2 && (b & 0x0f) != 0)
            return -1;
        if (rest == 3 && (c & 0x03) != 0)
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        dst[o++] = (unsigned char)(v >> 16);
        if (rest == 3)
            dst[o++] = (unsigned char)(v >> 8);
    }
    return (long)o;
}
