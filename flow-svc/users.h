/*  users - the flow.user_* operations and the rules for usernames. */
#ifndef FLOW_USERS_H
#define FLOW_USERS_H

#include "ost.h"
#include <jansson.h>

#include <stddef.h>

//  Longest username, in bytes.
#define USERNAME_MAX 64
//  OpenID Connect Core §2: sub is at most 255 ASCII characters; ours are
//  128 random bits (22 base64url characters), unguessable and meaningless.
#define SUB_BYTES 16

//  Folds a username to the form it is stored in (ASCII lowercase) and checks
//  it: 1..64 of [a-z0-9._@+-], starting with a letter or digit. 0 ok (out
//  holds the folded name), -1 not a valid username.
OST_WUR int users_fold_username (const char *in, size_t len, char out[USERNAME_MAX + 1]);
//  The profile claims of a flow.user_add body (checked against its table in
//  proto/ops.def first; email, phone_number,
//  address, ...), each checked, into a new object *claims. 0 ok; -1 with
//  *why the fixed description of the first bad member, or with *why NULL
//  when out of memory.
OST_WUR int users_claims (const json_t *body, json_t **claims, const char **why);

#endif
