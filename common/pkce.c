/*  pkce - the S256 code challenge of RFC 7636. See pkce.h. */
#include "pkce.h"
#include "b64url.h"
#include "secure.h"

#include <openssl/evp.h>
#include <string.h>

int
pkce_s256 (const char *verifier, char out[PKCE_CHALLENGE_SIZE])
{
    out[0] = '\0';
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!verifier || !EVP_Digest (verifier, strlen (verifier), digest, &len, EVP_sha256 (), NULL) ||
        b64url_encoded_len (len) + 1 > PKCE_CHALLENGE_SIZE)
        return -1;
    b64url_encode (digest, len, out);
    secure_wipe (digest, sizeof digest);
    return 0;
}
