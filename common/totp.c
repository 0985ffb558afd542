/*  totp - base32, HOTP (RFC 4226), TOTP (RFC 6238) and otpauth:// URIs. */
#include "totp.h"

#include "secure.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static const char s_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t
base32_encoded_len (size_t n)
{
    return (n * 8 + 4) / 5;
}

long
base32_encode (const void *in, size_t n, char *out, size_t outsize)
{
    if (!out || (n > 0 && !in) || n > SIZE_MAX / 8 - 8)
        return -1;
    size_t need = base32_encoded_len (n);
    if (outsize < need + 1)
        return -1;
    const unsigned char *p = in;
    size_t o = 0;
    unsigned buffer = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        buffer = (buffer << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = s_b32[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
        buffer &= (1u << bits) - 1;
    }
    if (bits > 0)
        out[o++] = s_b32[(buffer << (5 - bits)) & 31];
    out[o] = '\0';
    return (long)o;
}

static int
s_b32_value (char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

long
base32_decode (const char *in, size_t inlen, void *out, size_t outmax)
{
    //  Bounded before anything else: this text comes from users and files.
    if (!in || !out || inlen > TOTP_MAX_B32 + 32)
        return -1;
    unsigned char *p = out;
    size_t o = 0;
    unsigned buffer = 0;
    int bits = 0;
    size_t symbols = 0;
    int padding = 0;
    for (size_t i = 0; i < inlen; i++) {
        char c = in[i];
        if (c == ' ')
            continue;
        if (c == '=') {
            padding = 1;
            continue;
        }
        //  RFC 4648 §3.3: padding ends the data; nothing may follow it.
        if (padding)
            return -1;
        int v = s_b32_value (c);
        if (v < 0)
            return -1;
        symbols++;
        buffer = (buffer << 5) | (unsigned)v;
        bits += 5;
        if (bits >= 8) {
            if (o >= outmax)
                return -1;
            p[o++] = (unsigned char)(buffer >> (bits - 8));
            bits -= 8;
        }
        buffer &= (1u << bits) - 1;
    }
    //  RFC 4648 §6: a final quantum has 2, 4, 5 or 7 symbols; 1, 3 or 6 cannot
    //  come from whole bytes. §3.5: the bits left over must be zero.
    size_t rest = symbols % 8;
    if (rest == 1 || rest == 3 || rest == 6 || buffer != 0)
        return -1;
    return (long)o;
}

int
totp_code (const unsigned char *key, size_t keylen, int64_t step, int digits, char out[9])
{
    if (!key || keylen == 0 || keylen > TOTP_MAX_KEY || step < 0 || digits < 6 || digits > 8 || !out)
        return -1;
    //  RFC 4226 §5.2: the counter is 8 bytes, big-endian.
    unsigned char counter[8];
    uint64_t c = (uint64_t)step;
    for (int i = 7; i >= 0; i--) {
        counter[i] = (unsigned char)(c & 0xff);
        c >>= 8;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC (EVP_sha1 (), key, (int)keylen, counter, sizeof counter, mac, &maclen) || maclen != 20)
        return -1;
    //  RFC 4226 §5.3: dynamic truncation, then modulo 10^digits.
    int offset = mac[19] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[offset] & 0x7f) << 24) | ((uint32_t)mac[offset + 1] << 16) |
                   ((uint32_t)mac[offset + 2] << 8) | (uint32_t)mac[offset + 3];
    secure_wipe (mac, sizeof mac);
    //  Written right to left, zero-padded to exactly `digits` characters.
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = (char)('0' + bin % 10);
        bin /= 10;
    }
    out[digits] = '\0';
    return 0;
}

int64_t
totp_step (int64_t now)
{
    //  RFC 6238 §4.2: T = floor((now - T0) / X); times before 1970 have no step.
    return now < 0 ? -1 : now / TOTP_PERIOD;
}

int
totp_check (const unsigned char *key, size_t keylen, int64_t now, const char *code, int window,
            int64_t last_step, int64_t *matched_step)
{
    if (!key || keylen == 0 || keylen > TOTP_MAX_KEY || !code || window < 0 || window > 10 || now < 0)
        return -1;
    size_t digits = strnlen (code, 9);
    if (digits < 6 || digits > 8)
        return -1;
    for (size_t i = 0; i < digits; i++)
        if (code[i] < '0' || code[i] > '9')
            return -1;
    int64_t step = totp_step (now);
    int64_t found = -1;
    //  Every candidate is computed and compared, so the time taken does not
    //  tell which step matched or whether one did.
    for (int64_t s = step - window; s <= step + window; s++) {
        char expect[9];
        if (s < 0 || totp_code (key, keylen, s, (int)digits, expect) != 0)
            continue;
        int equal = secure_equal (expect, digits, code, digits);
        secure_wipe (expect, sizeof expect);
        //  RFC 6238 §5.2: a code once accepted is never accepted again, nor one
        //  of an earlier step (it would let an old observed code in).
        if (equal && s > last_step && found < 0)
            found = s;
    }
    if (found < 0)
        return 0;
    if (matched_step)
        *matched_step = found;
    return 1;
}

//  RFC 3986 §2.3: unreserved characters stay, every other byte is %XX.
static int
s_pct_append (char *out, size_t size, size_t *pos, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                   *p == '-' || *p == '.' || *p == '_' || *p == '~';
        size_t need = keep ? 1 : 3;
        if (*pos + need >= size)
            return -1;
        if (keep)
            out[(*pos)++] = (char)*p;
        else {
            out[(*pos)++] = '%';
            out[(*pos)++] = hex[*p >> 4];
            out[(*pos)++] = hex[*p & 15];
        }
    }
    out[*pos] = '\0';
    return 0;
}

static int
s_append (char *out, size_t size, size_t *pos, const char *text)
{
    size_t n = strlen (text);
    if (*pos + n >= size)
        return -1;
    memcpy (out + *pos, text, n + 1);
    *pos += n;
    return 0;
}

char *
totp_uri (const char *issuer, const char *account, const unsigned char *key, size_t keylen)
{
    if (!issuer || !account || !key || keylen == 0 || keylen > TOTP_MAX_KEY)
        return NULL;
    size_t ilen = strnlen (issuer, 256), alen = strnlen (account, 256);
    //  The label is "issuer:account"; a ':' in the issuer would move the split.
    if (ilen == 0 || ilen > 255 || alen == 0 || alen > 255 || strchr (issuer, ':'))
        return NULL;
    char secret[TOTP_MAX_B32 + 1];
    if (base32_encode (key, keylen, secret, sizeof secret) < 0)
        return NULL;
    //  Each encoded byte takes at most 3 characters; the rest is fixed text.
    size_t size = 3 * (2 * ilen + alen) + sizeof secret + 128;
    char *out = malloc (size);
    size_t pos = 0;
    int rc = -1;
    if (out) {
        out[0] = '\0';
        rc = s_append (out, size, &pos, "otpauth://totp/");
        rc = rc ? rc : s_pct_append (out, size, &pos, issuer);
        rc = rc ? rc : s_append (out, size, &pos, ":");
        rc = rc ? rc : s_pct_append (out, size, &pos, account);
        rc = rc ? rc : s_append (out, size, &pos, "?secret=");
        rc = rc ? rc : s_append (out, size, &pos, secret);
        rc = rc ? rc : s_append (out, size, &pos, "&issuer=");
        rc = rc ? rc : s_pct_append (out, size, &pos, issuer);
        rc = rc ? rc : s_append (out, size, &pos, "&algorithm=SHA1&digits=6&period=30");
    }
    secure_wipe (secret, sizeof secret);
    if (rc != 0 && out) {
        secure_free_str (&out);
        return NULL;
    }
    return out;
}
