/*  flow_args - bounded reading of request bodies and of the random handles
 *  flow-svc mints. Every string that comes over the bus is checked here for
 *  its type, its length, NUL bytes and control characters before a handler
 *  looks at it (bus_body_to_json has already refused invalid UTF-8). */
#ifndef FLOW_ARGS_H
#define FLOW_ARGS_H

#include "ost.h"

#include <jansson.h>
#include <stddef.h>

typedef enum {
    ARG_ABSENT = 0, //  the member is missing or null
    ARG_OK,         //  present and acceptable; *out is set
    ARG_BAD,        //  present but of the wrong type, too long, or with forbidden characters
} arg_rc_t;

enum {
    ARG_MULTILINE = 1 << 0, //  line feeds (and CR LF) are allowed
    ARG_EMPTY = 1 << 1,     //  the empty string is allowed
};

//  A string member of at most max bytes, without NUL or other control
//  characters (C0, DEL, C1), unless flags allow line breaks or empty strings.
arg_rc_t flow_arg_string (const json_t *body, const char *name, size_t max, int flags, const char **out);
//  A string member used as a secret (password): 1..max bytes, no NUL; any
//  other character is the user's business. *len gets its length.
arg_rc_t flow_arg_secret (const json_t *body, const char *name, size_t max, const char **out, size_t *len);
//  A boolean member.
arg_rc_t flow_arg_bool (const json_t *body, const char *name, int *out);
//  An integer member within [min, max].
arg_rc_t flow_arg_int (const json_t *body, const char *name, long min, long max, long *out);
//  Wipes the bytes of a string member (a password) in place once it has
//  served: jansson allocated them writable, and the body lives until the
//  bus worker frees it after the reply.
void flow_arg_wipe (const json_t *body, const char *name);
//  1 when s is a string of printable characters by the rules above.
int flow_text_ok (const char *s, size_t len, int flags);

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
