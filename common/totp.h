/*  totp - one-time passwords of authenticator apps: base32 (RFC 4648 §6),
 *  HOTP (RFC 4226) and TOTP (RFC 6238, HMAC-SHA-1, 30 s steps), and the
 *  otpauth:// URI that apps read from a QR code (Key Uri Format of Google
 *  Authenticator, the de facto standard). */
#ifndef OST_TOTP_H
#define OST_TOTP_H

#include "ost.h"
#include <stddef.h>
#include <stdint.h>

//  RFC 6238 §4.1: X, the time step, and T0, the Unix epoch.
#define TOTP_PERIOD 30
#define TOTP_DIGITS 6
//  Longest key we accept (RFC 4226 §4 asks for at least 128 bits, recommends
//  160; 64 bytes is a full SHA-1 block, beyond which HMAC hashes the key).
#define TOTP_MAX_KEY 64
//  Longest base32 text we decode or produce (TOTP_MAX_KEY bytes, unpadded).
#define TOTP_MAX_B32 ((TOTP_MAX_KEY * 8 + 4) / 5)

//  Length of the unpadded base32 encoding of n bytes (without NUL).
size_t base32_encoded_len (size_t n);
//  Encodes n bytes as RFC 4648 §6 base32, upper case, without padding, into
//  out (size >= base32_encoded_len(n)+1), NUL-terminated. Returns the
//  encoded length, or -1 (as a long) when out is too small.
OST_WUR long base32_encode (const void *in, size_t n, char *out, size_t outsize);
//  Decodes base32 text (case-insensitive; spaces and '=' padding ignored, as
//  users type what apps show; inlen <= TOTP_MAX_B32 + 32) into out, which
//  holds outmax bytes. Returns the decoded length, or -1 on a character
//  outside the alphabet, non-zero trailing bits, a bad length or overflow.
OST_WUR long base32_decode (const char *in, size_t inlen, void *out, size_t outmax);

//  RFC 4226 §5.3: the HOTP value of counter `step` with `digits` (6..8)
//  digits, zero-padded and NUL-terminated in out. 0 ok, -1 bad input
//  (no key, key longer than TOTP_MAX_KEY, digits out of range, step < 0).
OST_WUR int totp_code (const unsigned char *key, size_t keylen, int64_t step, int digits, char out[9]);
//  RFC 6238 §4.2: the time step of Unix time `now` (floor(now / 30)).
int64_t totp_step (int64_t now);
//  Checks a code typed by the user against the steps now-window .. now+window
//  (RFC 6238 §5.2: allow for clock drift and transmission delay), skipping
//  every step <= last_step so that a code once accepted is never accepted
//  again (§5.2: "the verifier MUST NOT accept the second attempt of the same
//  OTP"); pass -1 when none was used. Every candidate is compared in constant
//  time and all of them are computed whatever matches. The code's length
//  decides the digits (6..8). 1 match (*matched_step gets the step, to be
//  stored as the new last_step), 0 no match, -1 bad input (no key, a code that
//  is not 6..8 ASCII digits, window outside 0..10).
int totp_check (const unsigned char *key, size_t keylen, int64_t now, const char *code, int window,
                int64_t last_step, int64_t *matched_step);
//  otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//  with issuer and account percent-encoded (RFC 3986 unreserved characters
//  kept). Issuer and account must be non-empty, at most 255 bytes, and the
//  issuer holds no ':'. Newly allocated (it holds the secret: free with
//  secure_free_str); NULL on bad input or allocation failure.
OST_WUR char *totp_uri (const char *issuer, const char *account, const unsigned char *key, size_t keylen);

#endif
