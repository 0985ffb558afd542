/*  seal - authenticated encryption of small secrets at rest (TOTP secrets,
 *  queued messages) under keys derived from one service master key.
 *  A sealed value is text: base64url (RFC 4648 §5, no padding) of
 *  version (1 byte, 1) || nonce (12 bytes) || ciphertext || tag (16 bytes),
 *  AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce and the caller's
 *  associated data (what the value belongs to: a row, a purpose), so that a
 *  sealed value copied to another row does not open there. */
#ifndef OST_SEAL_H
#define OST_SEAL_H

#include "ost.h"
#include <stddef.h>

#define SEAL_KEY_BYTES 32
//  Largest plaintext we seal or open (1 MiB): bounds the work untrusted text can cause.
#define SEAL_MAX_PLAINTEXT (1024 * 1024)

//  Derives an independent 256-bit key for one purpose from a master key:
//  HKDF-Expand (RFC 5869 §2.3) with HMAC-SHA256, PRK = master, info = "ostiary
//  seal v1 " || label, one block. Distinct labels give independent keys.
//  label: 1..200 bytes. 0 ok, -1 bad input or failure.
OST_WUR int seal_derive (const unsigned char master[32], const char *label, unsigned char out[32]);
//  Seals len bytes (len <= SEAL_MAX_PLAINTEXT; pt may be NULL when len is 0)
//  under key with associated data aad (NULL = ""). Newly allocated text, NULL
//  on failure.
OST_WUR char *seal_encrypt (const unsigned char key[32], const char *aad, const void *pt, size_t len);
//  Opens a sealed text. 0 ok: *pt gets a newly allocated buffer of *len bytes
//  with a NUL after them (wipe and free it), -1 on anything wrong (malformed,
//  unknown version, too long, tampered, wrong key, wrong aad), with *pt NULL.
OST_WUR int seal_decrypt (const unsigned char key[32], const char *aad, const char *sealed,
                          unsigned char **pt, size_t *len);

//  The AES-256-GCM primitive under both, with binary associated data, for
//  callers that store bytes (keys-svc's kek.c has the same blob format):
//  out (len + SEAL_OVERHEAD bytes) gets nonce (12 random bytes) || ct || tag.
#define SEAL_NONCE_BYTES 12
#define SEAL_TAG_BYTES 16
#define SEAL_OVERHEAD (SEAL_NONCE_BYTES + SEAL_TAG_BYTES)
OST_WUR int seal_gcm_encrypt (const unsigned char key[32], const void *aad, size_t aadlen, const void *pt,
                              size_t len, unsigned char *out);
//  Opens nonce || ct || tag (inlen >= SEAL_OVERHEAD) into out (inlen -
//  SEAL_OVERHEAD bytes). -1 when the tag does not verify; out is wiped then.
OST_WUR int seal_gcm_decrypt (const unsigned char key[32], const void *aad, size_t aadlen,
                              const unsigned char *in, size_t inlen, unsigned char *out);

#endif
