/*  kek - the key-encryption key of keys-svc (OSTIARY_KEK) and the
 *  AES-256-GCM wrapping of private keys at rest.
 *
 *  A wrapped blob is nonce (12 random bytes) || ciphertext || tag (16 bytes).
 *  The caller gives additional authenticated data that names what the blob
 *  belongs to (for a signing key "ostiary-key:" kid ":" alg), so a blob copied
 *  into another row does not unwrap. */
#ifndef OST_KEYS_KEK_H
#define OST_KEYS_KEK_H

#include "ost.h"
#include <stddef.h>

#define KEK_BYTES 32
#define KEK_NONCE_BYTES 12
#define KEK_TAG_BYTES 16
//  Bytes a wrapped blob adds to its plaintext.
#define KEK_OVERHEAD (KEK_NONCE_BYTES + KEK_TAG_BYTES)

typedef struct _kek_t kek_t;

//  A KEK from its configuration form: exactly 32 bytes as base64url without
//  padding (43 characters). NULL when the text is malformed (or on allocation
//  failure); the text itself is never logged.
OST_WUR kek_t *kek_new (const char *b64url);
//  Wipes the key and frees. Idempotent.
void kek_destroy (kek_t **self_p);

//  Encrypts len bytes of plain with a fresh random nonce. *out (OPENSSL_free)
//  receives len + KEK_OVERHEAD bytes. 0 ok, -1 failure.
OST_WUR int kek_wrap (const kek_t *self, const void *aad, size_t aadlen, const unsigned char *plain,
                      size_t len, unsigned char **out, size_t *outlen);
//  Decrypts and authenticates a wrapped blob. *plain (wipe and free with
//  OPENSSL_clear_free (*plain, *plainlen)) receives the plaintext. -1 when
//  the blob is malformed, the tag does not verify (wrong key, other AAD,
//  tampering) or on failure; nothing is returned then.
OST_WUR int kek_unwrap (const kek_t *self, const void *aad, size_t aadlen, const unsigned char *in,
                        size_t inlen, unsigned char **plain, size_t *plainlen);

#endif
