/*  secure - random bytes, constant-time comparison, wiping and random ids.
 *  Every secret we handle (codes, tokens, client secrets, key material) goes
 *  through these so that the rules of ARCHITECTURE.md live in one place. */
#ifndef OST_SECURE_H
#define OST_SECURE_H

#include "ost.h"
#include <stddef.h>

//  Fills buf with len bytes from OpenSSL's CSPRNG. 0 on success, -1 on failure.
OST_WUR int secure_random (void *buf, size_t len);
//  Constant-time equality of two buffers of the same length: 1 equal, 0 not.
//  Buffers of different lengths are unequal; only the length leaks.
int secure_equal (const void *a, size_t alen, const void *b, size_t blen);
//  Constant-time equality of two NUL-terminated strings (either may be NULL → 0).
int secure_streq (const char *a, const char *b);
//  Wipes len bytes so the compiler cannot drop the store.
void secure_wipe (void *buf, size_t len);
//  Wipes and frees a NUL-terminated string; sets *str_p to NULL. Idempotent.
void secure_free_str (char **str_p);
//  Writes 2*len lowercase hex digits and a NUL to out (size >= 2*len+1).
void secure_hex (const void *buf, size_t len, char *out);
//  A new random token: nbytes random bytes, base64url without padding.
//  Caller frees with secure_free_str. NULL on failure.
OST_WUR char *secure_token (size_t nbytes);
//  len (at most SECURE_ID_POOL) random bytes for an identifier that guards
//  nothing (a request id, a trace or span id, a token's jti: sent, echoed
//  or logged in the clear), drawn from a per-thread pool that OpenSSL's
//  CSPRNG refills SECURE_ID_POOL bytes at a time. Never for a secret: the
//  pool holds the next ids in memory. 0 on success, -1 on failure.
#define SECURE_ID_POOL 512
OST_WUR int secure_id_random (void *buf, size_t len);
//  A request id: 16 random bytes (secure_id_random) as 32 hex digits
//  written into out[33]. 0 on success, -1 on failure.
OST_WUR int secure_request_id (char out[33]);

#endif
