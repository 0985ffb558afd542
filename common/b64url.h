/*  b64url - base64url (RFC 4648 §5) without padding, as JOSE uses it. */
#ifndef OST_B64URL_H
#define OST_B64URL_H

#include "ost.h"
#include <stddef.h>

//  Length of the encoding of n bytes, without padding and NUL.
size_t b64url_encoded_len (size_t n);
//  Encodes n bytes into out (size >= b64url_encoded_len(n)+1), NUL-terminated.
//  Returns the encoded length.
size_t b64url_encode (const void *in, size_t n, char *out);
//  Newly allocated encoding; NULL on allocation failure.
OST_WUR char *b64url_encode_alloc (const void *in, size_t n);
//  Decodes inlen characters of base64url (padding and any character outside the
//  alphabet, and non-canonical trailing bits, are rejected) into out, which
//  must hold outmax bytes. Returns the decoded length, or -1 on bad input or
//  when the result would not fit.
OST_WUR long b64url_decode (const char *in, size_t inlen, void *out, size_t outmax);

#endif
