/*  action - action tokens (docs/flows.md, "Action tokens") and the keyed
 *  hashes flow-svc keeps of the one-time secrets it hands out (action
 *  tokens, email codes, recovery codes): HMAC-SHA256 under the flow key, so
 *  that a copy of the database alone cannot test guesses. */
#ifndef FLOW_ACTION_H
#define FLOW_ACTION_H

#include "db.h"
#include "flow_app.h"
#include "flow_args.h"
#include "ost.h"

#include <stdint.h>

#define ACTION_MAGIC_LINK "magic_link"
#define ACTION_WEBHOOK_CALLBACK "webhook_callback"

//  HMAC-SHA256(key, label || 0x00 || data): distinct labels keep the uses of
//  the one key apart. 0 ok, -1 failure.
OST_WUR int action_mac (const unsigned char key[FLOW_KEY_BYTES], const char *label, const char *data,
                        unsigned char out[FLOW_HASH_BYTES]);
//  The stored hash of a token a caller presented: -1 when it is not the
//  base64url form of 32 bytes (a value we never minted).
OST_WUR int action_token_hash (const flow_app_t *app, const char *token, unsigned char hash[FLOW_HASH_BYTES]);
//  Mints a token for purpose at execution/node, in the caller's
//  transaction. *token (free with secure_free_str) and *expires_at on DB_OK.
OST_WUR db_status_t action_token_mint (db_t *db, const flow_app_t *app, const char *purpose,
                                       int64_t execution_id, const char *node, char **token,
                                       int64_t *expires_at);

#endif
