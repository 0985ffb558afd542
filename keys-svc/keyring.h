/*  keyring - the signing keys keys-svc holds in memory, their generation and
 *  their wrapping for storage.
 *
 *  A keyring is filled (keyring_add), then sealed (keyring_seal builds the
 *  JWKS and proves every key against its own published JWK). After the seal
 *  it is read-only, so the worker threads share it without locks; each
 *  signature uses its own EVP_MD_CTX. A lifecycle change does not edit a
 *  keyring: keys_app builds a new one from the database (reusing the
 *  decrypted keys it already holds, keyring_pkey) and swaps it in. */
#ifndef OST_KEYS_KEYRING_H
#define OST_KEYS_KEYRING_H

#include "jws.h"
#include "kek.h"
#include "ost.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

//  A kid is the RFC 7638 thumbprint (SHA-256, base64url): 43 characters.
#define KEYRING_KID_MAX 64
//  Largest claims set we sign, as compact JSON. With the header and an RSA
//  signature the compact JWS stays well below JWS_MAX_COMPACT, so every
//  token we issue can be parsed back by jws_parse.
#define KEYRING_MAX_CLAIMS 8192
//  Longest typ header value (RFC 7515 §4.1.9; ours are "JWT", "at+jwt", ...).
#define KEYRING_MAX_TYP 32

//  The key lifecycle of ARCHITECTURE.md: next (published, not signing) →
//  active (signing) → retiring (published, not signing) → retired.
//  KEY_STATE(symbol, name stored in keys.signing_keys.state, published in the JWKS)
#define KEY_STATES                                                                                           \
    KEY_STATE (NEXT, "next", 1)                                                                              \
    KEY_STATE (ACTIVE, "active", 1)                                                                          \
    KEY_STATE (RETIRING, "retiring", 1)                                                                      \
    KEY_STATE (RETIRED, "retired", 0)

typedef enum {
#define KEY_STATE(sym, name, published) KEY_STATE_##sym,
    KEY_STATES
#undef KEY_STATE
        KEY_STATE__COUNT
} key_state_t;

//  "next" ... for a state; NULL out of range.
const char *key_state_name (key_state_t state);
//  The state of a name, or -1 for an unknown name.
int key_state_parse (const char *name);
//  1 when keys in this state appear in the JWKS.
int key_state_published (key_state_t state);

//  The algorithms keys-svc generates a key of at first start, in order.
extern const jws_alg_t keyring_algs[];
extern const size_t keyring_nalgs;

//  A new private key for alg: RSA 2048 (RS256), P-256 (ES256), Ed25519
//  (EdDSA). NULL on failure.
OST_WUR EVP_PKEY *keyring_generate (jws_alg_t alg);
//  The kid of a key: its RFC 7638 JWK thumbprint (SHA-256, base64url) written
//  into kid. 0 ok, -1 failure.
OST_WUR int keyring_thumbprint (EVP_PKEY *pkey, jws_alg_t alg, char kid[KEYRING_KID_MAX]);
//  The private key as PKCS#8 DER, wrapped under kek with the AAD
//  "ostiary-key:" kid ":" alg. *blob is OPENSSL_free'd by the caller; the
//  plaintext DER is wiped before this returns. 0 ok, -1 failure.
OST_WUR int keyring_wrap (const kek_t *kek, const char *kid, jws_alg_t alg, EVP_PKEY *pkey,
                          unsigned char **blob, size_t *bloblen);
//  The reverse: the private key of a stored blob, or NULL when it does not
//  unwrap under kek for this kid and alg, or is not a key of alg's type.
OST_WUR EVP_PKEY *keyring_unwrap (const kek_t *kek, const char *kid, jws_alg_t alg, const unsigned char *blob,
                                  size_t bloblen);

typedef struct _keyring_t keyring_t;

OST_WUR keyring_t *keyring_new (void);
//  Frees every key. Idempotent.
void keyring_destroy (keyring_t **self_p);

//  Adds a key and takes ownership of *pkey_p (NULLs it, even on failure).
//  Checks that kid is the key's thumbprint, so a row whose kid was edited is
//  refused. A second active key of one algorithm is kept but does not sign
//  (the first one added wins: load the newest first). 0 ok, -1 failure.
OST_WUR int keyring_add (keyring_t *self, const char *kid, jws_alg_t alg, key_state_t state,
                         EVP_PKEY **pkey_p);
//  1 when an active key of alg was added.
int keyring_has_active (const keyring_t *self, jws_alg_t alg);
//  Builds the JWKS and signs and verifies a test token with every key
//  against its published JWK. Afterwards the keyring is read-only.
//  0 ok, -1 when a key fails.
OST_WUR int keyring_seal (keyring_t *self);
//  Number of keys published in the JWKS.
size_t keyring_published (const keyring_t *self);
//  The private key of kid when this keyring holds it for alg (borrowed: take
//  EVP_PKEY_up_ref to keep it), or NULL.
EVP_PKEY *keyring_pkey (const keyring_t *self, const char *kid, jws_alg_t alg);
//  The kid of the signing key of alg, or NULL (valid while the keyring lives).
const char *keyring_active_kid (const keyring_t *self, jws_alg_t alg);
//  A new array of the algorithm names that can sign now, in keyring_algs
//  order (what discovery advertises), or NULL on allocation failure.
OST_WUR json_t *keyring_signing_algs (const keyring_t *self);
//  A new array of {"kid", "alg", "state"} of every key held, or NULL.
OST_WUR json_t *keyring_describe (const keyring_t *self);
//  A new copy of {"keys": [public JWKs]} (caller json_decref()s), or NULL.
OST_WUR json_t *keyring_jwks (const keyring_t *self);

typedef enum {
    KEYRING_SIGN_OK = 0,
    KEYRING_SIGN_NO_KEY,    //  no active key of that algorithm
    KEYRING_SIGN_TOO_LARGE, //  claims above KEYRING_MAX_CLAIMS
    KEYRING_SIGN_BAD_INPUT, //  typ or claims not acceptable
    KEYRING_SIGN_FAILED,    //  allocation or OpenSSL failure (logged)
} keyring_sign_t;

//  Signs claims with the active key of alg under the protected header
//  {"alg", "kid", "typ"} that this function builds itself (RFC 7515 §7.1), so
//  a caller can never make us sign bytes we did not frame. On success *jws
//  (free()) receives the compact JWS and *kid points at the kid (valid while
//  the keyring lives).
//  1 when typ is a typ header keyring_sign takes: 1 to 32 visible ASCII
//  characters (RFC 7515 §4.1.9).
int keyring_typ_valid (const char *typ);
keyring_sign_t keyring_sign (const keyring_t *self, jws_alg_t alg, const char *typ, const json_t *claims,
                             char **jws, const char **kid);

#endif
