/*  flow_args - what flow-svc does with strings that come over the bus once
 *  proto/ops.def has checked them (type, length, control characters):
 *  wiping secrets after use, and the random handles flow-svc mints. */
#ifndef FLOW_ARGS_H
#define FLOW_ARGS_H

#include "ost.h"

#include <jansson.h>
#include <stddef.h>

//  Wipes the bytes of a string member (a password) in place once it has
//  served: jansson allocated them writable, and the body lives until the
//  bus worker frees it after the reply.
void flow_arg_wipe (const json_t *body, const char *name);

//  Handles: 256 random bits, base64url without padding (43 characters).
#define FLOW_HANDLE_BYTES 32
#define FLOW_HANDLE_CHARS 43
//  What the store keeps of a handle: its SHA-256.
#define FLOW_HASH_BYTES 32

//  Hashes a handle that a caller presented: 0 with hash filled when it is
//  exactly the base64url encoding of FLOW_HANDLE_BYTES bytes, -1 otherwise
//  (a value we never minted; callers treat it as unknown).
OST_WUR int flow_handle_hash (const char *handle, unsigned char hash[FLOW_HASH_BYTES]);
//  A new handle (caller frees with secure_free_str) and its hash; NULL on failure.
OST_WUR char *flow_handle_new (unsigned char hash[FLOW_HASH_BYTES]);

#endif
