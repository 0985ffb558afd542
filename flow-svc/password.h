/*  password - end-user password hashing with Argon2id (RFC 9106) through
 *  Debian's libargon2. Hashes are kept in the PHC encoded form
 *  ($argon2id$v=19$m=...,t=...,p=...$salt$hash), which carries its own
 *  parameters: a change of configuration applies to new hashes, and an old
 *  hash is upgraded at its owner's next successful login. */
#ifndef FLOW_PASSWORD_H
#define FLOW_PASSWORD_H

#include "ost.h"

#include <stddef.h>
#include <stdint.h>

//  Longest password we hash, in bytes: far above what people type (NIST SP
//  800-63B §5.1.1.2 asks for at least 64 characters) and small enough that
//  the request stays bounded.
#define PASSWORD_MAX_BYTES 1024

typedef struct {
    uint32_t t_cost;      //  passes
    uint32_t m_cost_kib;  //  memory in KiB
    uint32_t parallelism; //  lanes
} password_params_t;

//  Lets at most `slots` Argon2id computations run at once in this process
//  (the others wait), and returns their memory to the system when each ends.
//  Once, before the worker threads start. 0 ok, -1 on failure or when called
//  twice. Without it computations are not limited.
OST_WUR int password_limit (unsigned slots);
//  A new encoded Argon2id hash of pw (len bytes) with a fresh 16-byte salt.
//  Newly allocated (free); NULL on failure.
OST_WUR char *password_hash (const password_params_t *params, const char *pw, size_t len);
//  1 when pw matches encoded (an Argon2id hash), 0 otherwise (mismatch, or an
//  encoded string that is not an Argon2id hash). libargon2 compares the
//  digests in constant time.
int password_verify (const char *encoded, const char *pw, size_t len);
//  1 when encoded was not made with params (or is not Argon2id version 19).
int password_needs_rehash (const char *encoded, const password_params_t *params);
//  Number of characters (UTF-8 code points) of a valid UTF-8 string.
size_t password_chars (const char *pw, size_t len);

#endif
