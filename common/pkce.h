/*  pkce - the S256 code challenge of RFC 7636, the one computation the
 *  relying parties inside the gateway (the demo, the console) and token-svc's
 *  check of a code_verifier share. */
#ifndef OST_PKCE_H
#define OST_PKCE_H

#include "ost.h"

//  43 characters of base64url and the NUL.
#define PKCE_CHALLENGE_SIZE 44

//  RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))) into out. 0 ok,
//  -1 when verifier is NULL or the digest fails (out is then "").
OST_WUR int pkce_s256 (const char *verifier, char out[PKCE_CHALLENGE_SIZE]);

#endif
