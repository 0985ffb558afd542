/*  token_store - every SQL statement of schema token (migrations/token/).
 *  Functions return a db_status_t; the operation handlers decide what it
 *  means for the caller. Times that decide validity (expiry of requests and
 *  codes) are the database's now(), so replicas whose clocks differ agree.
 *  Secret handles (request ids, codes) arrive here as their SHA-256 only. */
#ifndef TOKEN_STORE_H
#define TOKEN_STORE_H

#include "audit.h"
#include "db.h"
#include "ost.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_CLIENT_ID_MAX 64
#define TOKEN_HASH_LEN 32

//  One client as stored (the secret only as its keyed hash).
typedef struct {
    char client_id[TOKEN_CLIENT_ID_MAX + 1];
    char *name;
    int is_public;
    int has_secret;
    unsigned char secret_hash[TOKEN_HASH_LEN];
    json_t *redirect_uris; //  arrays of strings
    json_t *grant_types;
    json_t *response_types;
    json_t *scopes;
    json_t *web_origins;  //  exact browser origins allowed for CORS (array)
    char auth_method[24]; //  client_secret_basic, client_secret_post, none
    char id_token_alg[8]; //  RS256, ES256, EdDSA
    //  RS256, ES256, EdDSA, or "" (OSTIARY_ACCESS_TOKEN_ALG decides).
    char access_token_alg[8];
    int require_pkce; //  1, 0, or -1: not chosen (the global setting decides)
    int first_party;
    int64_t created_at;
    int always_refresh;     //  a refresh token at every code exchange (with the grant)
    int resource_server;    //  RFC 7662: may introspect other clients' tokens
    int refresh_grace_s;    //  grace period of refresh rotation (0: off)
    int refresh_grace_uses; //  how often a consumed token may be used within it
    //  RP-Initiated Logout 1.0 §3.1: where the client may be sent back
    //  after a logout, compared exactly (array of strings).
    json_t *post_logout_uris;
    //  Back-Channel Logout 1.0 §2.2: where logout tokens go (NULL: none),
    //  and whether they must carry the sid.
    char *backchannel_uri;
    int backchannel_session_required;
    //  Front-Channel Logout 1.0 §2: the URI the logged-out page frames
    //  (NULL: none), and whether iss and sid go in its query.
    char *frontchannel_uri;
    int frontchannel_session_required;
    //  Its refresh families without offline_access end with their session.
    int refresh_bound;
    int64_t version; //  counts the changes of the registration
    int disabled;    //  refused everywhere until enabled again
    //  Its own token lifetimes in seconds; 0: the server's.
    int access_token_ttl;
    int id_token_ttl;
    //  After a rotation with an overlap: the previous secret's keyed hash,
    //  accepted until prev_secret_expires (seconds since the epoch).
    int has_prev_secret;
    unsigned char prev_secret_hash[TOKEN_HASH_LEN];
    int64_t prev_secret_expires;
} token_client_t;

//  Frees what a client holds and wipes its secret hash. Idempotent.
void token_client_clear (token_client_t *client);

//  A stored authorization request.
typedef struct {
    char client_id[TOKEN_CLIENT_ID_MAX + 1];
    char *redirect_uri;
    int redirect_uri_sent;
    char response_mode[16];
    char *state;          //  NULL when the request had none
    char *nonce;          //  NULL when the request had none
    json_t *scopes;       //  array of strings
    char *code_challenge; //  NULL without PKCE
    json_t *details;      //  object: the rest of Q (prompt, max_age, hints, ...)
    json_t *claims;       //  the claims parameter, normalised (claims.h); NULL when absent
    int64_t created_at;
    int64_t expires_at;
} token_request_t;

void token_request_clear (token_request_t *request);

//  A stored authorization code.
typedef struct {
    char client_id[TOKEN_CLIENT_ID_MAX + 1];
    char *redirect_uri;
    int redirect_uri_sent;
    char *code_challenge;
    char *nonce;
    json_t *scopes;
    char *sub;
    char *sid;
    int64_t auth_time;
    json_t *amr;
    json_t *claims; //  the request's claims, normalised (claims.h); NULL when absent
    char *acr;      //  the acr decided when the code was issued; NULL for none
    int expired;    //  set by token_store_code_get
} token_code_t;

void token_code_clear (token_code_t *code);

//  Prepares the statements on a worker thread's connection. 0 ok.
OST_WUR int token_store_prepare (db_t *db);
//  0 when the database answers.
OST_WUR int token_store_ping (db_t *db);

//  Clients. insert: DB_CONFLICT when client_id exists.
OST_WUR db_status_t token_store_client_insert (db_t *db, const token_client_t *client);
//  DB_NOT_FOUND when there is no such client.
OST_WUR db_status_t token_store_client_get (db_t *db, const char *client_id, token_client_t *client);
//  Every client, ordered by client_id. *clients (free each with
//  token_client_clear, then free()).
OST_WUR db_status_t token_store_client_list (db_t *db, token_client_t **clients, size_t *count);
//  *removed is the row count.
OST_WUR db_status_t token_store_client_delete (db_t *db, const char *client_id, int *removed);
//  Replaces the secret hash of a confidential client and bumps its version;
//  with overlap_s > 0 the old hash stays accepted that many seconds, else
//  any previous one ends. version > 0: only when the client is still at
//  that version. *changed is the row count (0: unknown client, a public one
//  or another version); *new_version and *prev_expires (0: none) what is
//  stored now.
OST_WUR db_status_t token_store_client_set_secret (db_t *db, const char *client_id,
                                                   const unsigned char hash[TOKEN_HASH_LEN], long overlap_s,
                                                   int64_t version, int *changed, int64_t *new_version,
                                                   int64_t *prev_expires);
//  Stores the editable members of client (all but its id, type, secret and
//  creation time) when the stored version is version, bumping it, and
//  writes audit (its record) in the same transaction; with revoke (a client
//  being disabled) its refresh families and access tokens are revoked in it
//  too (client_disabled). *changed is 0 when no
//  client is at that version (unknown, or changed meanwhile).
OST_WUR db_status_t token_store_client_update (db_t *db, const token_client_t *client, int64_t version,
                                               int revoke, const audit_record_t *audit, int *changed);

//  Authorization requests. insert sets created_at and expires_at (now() +
//  ttl_s) and returns the latter in request->expires_at.
OST_WUR db_status_t token_store_request_insert (db_t *db, const unsigned char id_hash[TOKEN_HASH_LEN],
                                                token_request_t *request, long ttl_s);
//  A request that is neither used nor expired; DB_NOT_FOUND otherwise.
OST_WUR db_status_t token_store_request_get (db_t *db, const unsigned char id_hash[TOKEN_HASH_LEN],
                                             token_request_t *request);
//  Uses the request up: one UPDATE ... WHERE used_at IS NULL AND not expired,
//  whose row count decides (DB_NOT_FOUND: unknown, used or expired).
OST_WUR db_status_t token_store_request_consume (db_t *db, const unsigned char id_hash[TOKEN_HASH_LEN],
                                                 token_request_t *request);

//  Codes. insert: expires_at = now() + ttl_s.
OST_WUR db_status_t token_store_code_insert (db_t *db, const unsigned char code_hash[TOKEN_HASH_LEN],
                                             const token_code_t *code, long ttl_s);
//  The code as stored, read without a lock; *consumed when it was used.
//  DB_NOT_FOUND when there is no such code.
OST_WUR db_status_t token_store_code_get (db_t *db, const unsigned char code_hash[TOKEN_HASH_LEN],
                                          token_code_t *c, int *consumed);
//  Consumes the code if it is unconsumed, recording jti and exp,
//  and with refresh_hash (not NULL) starts its refresh-token family with
//  that token and jti, in one statement. *redeemed: the code was consumed
//  here; *family_id: the new family (0 when none).
OST_WUR db_status_t token_store_code_redeem (db_t *db, const unsigned char code_hash[TOKEN_HASH_LEN],
                                             const char *jti, int64_t exp, const unsigned char *refresh_hash,
                                             int *redeemed, int64_t *family_id);
//  A code presented again: when it was consumed before, revokes the access
//  token its exchange issued. *consumed is 1 when the code exists and was
//  consumed, *revoked the number of tokens newly revoked; a replay writes
//  the code_replay audit event (client_id and client_ip: the presenter).
OST_WUR db_status_t token_store_code_replayed (db_t *db, const unsigned char code_hash[TOKEN_HASH_LEN],
                                               const char *client_id, const char *client_ip, int *consumed,
                                               int *revoked);

//  Consents. get: DB_NOT_FOUND when the user never granted this client any.
OST_WUR db_status_t token_store_consent_get (db_t *db, const char *sub, const char *client_id,
                                             json_t **scopes);
//  Adds scopes to what the user granted the client.
OST_WUR db_status_t token_store_consent_put (db_t *db, const char *sub, const char *client_id,
                                             const json_t *scopes);

//  Whether the access token jti that client_id was issued at iat is
//  revoked (on the revocation list, or the client was disabled since:
//  migrations/token/016) and whether client_id is still registered, in one
//  statement. On an error *revoked is 1.
OST_WUR db_status_t token_store_access_state (db_t *db, const char *jti, const char *client_id, int64_t iat,
                                              int *revoked, int *client_known);

//  Lists an access token as revoked until exp; *added is 0 when it was already.
OST_WUR db_status_t token_store_jti_revoke (db_t *db, const char *jti, int64_t exp, const char *reason,
                                            int *added);

//  A refresh token and its family.
typedef struct {
    int64_t family_id;
    char client_id[TOKEN_CLIENT_ID_MAX + 1];
    char *sub;
    char *sid; //  NULL when the code had none
    int64_t auth_time;
    json_t *amr;
    json_t *scopes; //  what the family was granted (a refresh may narrow it)
    int revoked;    //  the family was revoked
    int expired;    //  the family passed its absolute lifetime or its idle timeout
    int consumed;   //  this token was rotated already
    int graceable;  //  consumed, within its client's grace window and uses, successor unused
    int64_t iat;    //  when this token was issued
    int64_t exp;    //  when the family ends if it is not used before
    int replaced;   //  a retry replaced this token before it was ever used: never delivered
    int retries;    //  how often this consumed token was retried (each gave a fresh successor)
    json_t *claims; //  the code's claims, normalised (claims.h); NULL when absent
    char *acr;      //  the code's acr; NULL for none
} token_refresh_t;

void token_refresh_clear (token_refresh_t *r);
//  Revokes the refresh families bound to the SSO session sid (those issued
//  in it without offline_access to a client with refresh_bound_to_session)
//  and the live access tokens they issued; *families: how many.
OST_WUR db_status_t token_store_session_revoke (db_t *db, const char *sid, long *families);

//  Reads a refresh token with its family, without locking anything; max_s
//  and idle_s are the family lifetime settings. DB_NOT_FOUND when unknown.
OST_WUR db_status_t token_store_refresh_get (db_t *db, const unsigned char token_hash[TOKEN_HASH_LEN],
                                             long max_s, long idle_s, token_refresh_t *r);
//  Marks the family used now and locks its row until the transaction ends;
//  *live is 0 when it is revoked or past its lifetime (nothing changes).
OST_WUR db_status_t token_store_family_touch (db_t *db, int64_t family_id, long max_s, long idle_s,
                                              int *live);
//  RFC 6749 §6: rotation in one statement that touches the family
//  (when it is live), consumes the token (one UPDATE ... WHERE consumed_at IS
//  NULL, recording its successor: the row count that decides between
//  racers), inserts the successor and records jti. *live: the family was live; *rotated: the token was
//  consumed here.
OST_WUR db_status_t token_store_refresh_rotate (db_t *db, int64_t family_id, long max_s, long idle_s,
                                                const unsigned char token_hash[TOKEN_HASH_LEN],
                                                const unsigned char successor_hash[TOKEN_HASH_LEN],
                                                const char *jti, int64_t exp, int *live, int *rotated);
//  A retry of a consumed token within its client's grace window and
//  allowance, while its successor is unused: counts the use (only when the
//  token still has retries_before uses), replaces the successor by
//  successor_hash and marks the old one replaced. *replaced is 0 when the
//  window, the allowance or the unused successor is gone, or a racer won.
OST_WUR db_status_t token_store_refresh_retry (db_t *db, const unsigned char token_hash[TOKEN_HASH_LEN],
                                               int retries_before,
                                               const unsigned char successor_hash[TOKEN_HASH_LEN],
                                               int *replaced);
//  *joined is 1 when token's successor is successor_hash and still unused
//  (neither consumed nor replaced).
OST_WUR db_status_t token_store_refresh_joined (db_t *db, const unsigned char token_hash[TOKEN_HASH_LEN],
                                                const unsigned char successor_hash[TOKEN_HASH_LEN],
                                                int *joined);
//  Records an access token the family issued (revoked with the family).
OST_WUR db_status_t token_store_family_jti_insert (db_t *db, int64_t family_id, const char *jti, int64_t exp);
//  Revokes the family and lists every unexpired access token it issued;
//  *revoked is 0 when it was revoked before. Run it inside a transaction.
OST_WUR db_status_t token_store_family_revoke (db_t *db, int64_t family_id, const char *reason, int *revoked);
//  Removes a client in one transaction, revoking first the access tokens
//  its families issued. *removed is 0 for an unknown client.
OST_WUR db_status_t token_store_client_remove (db_t *db, const char *client_id, int *removed);
//  token.subject_revoke, in one transaction: marks sub revoked now (codes
//  and families authenticated before are refused from then on), revokes
//  their live families and lists every unexpired access token those and
//  their code exchanges issued; audited. *families and *tokens: how many.
OST_WUR db_status_t token_store_subject_revoke (db_t *db, const char *sub, const char *reason, int *families,
                                                int *tokens);
//  Records a security event (common/audit.h) in token.audit_events, in the
//  caller's transaction if any.
OST_WUR db_status_t token_store_audit (db_t *db, const audit_record_t *record);
//  A user's grants: a JSON array of grant objects (proto/ops.md), by
//  client_id.
OST_WUR db_status_t token_store_grant_list (db_t *db, const char *sub, json_t **grants);
//  In one transaction: revokes sub's refresh families of client_id and the
//  access tokens they issued, withdraws the consent, and writes the
//  grant_revoked event (actor). *families, *tokens: how many; *consent: 1
//  when a consent went. DB_NOT_FOUND (nothing changed) when there was
//  neither a family nor a consent.
OST_WUR db_status_t token_store_grant_revoke (db_t *db, const char *sub, const char *client_id,
                                              const char *actor, int *families, int *tokens, int *consent);
//  token_store_audit of an event about a refresh family or code (actor
//  client, details.family_id when family_id > 0).
OST_WUR db_status_t token_store_audit_family (db_t *db, audit_event_t event, audit_outcome_t outcome,
                                              const char *client_id, const char *sub, int64_t family_id,
                                              const char *client_ip);
//  The events filter selects: *result is token.audit_list's result.
OST_WUR db_status_t token_store_audit_list (db_t *db, const audit_filter_t *filter, json_t **result);
//  Deletes at most batch events older than days; *deleted says how many.
OST_WUR db_status_t token_store_audit_purge (db_t *db, long days, long batch, int *deleted);

//  Runtime settings (common/settings.def) in token.settings: every stored
//  value as one object name → value; lock (inside a transaction) makes
//  settings writers take turns; put stores a value (NULL: removes it).
OST_WUR db_status_t token_store_settings_load (db_t *db, json_t **settings);
OST_WUR db_status_t token_store_settings_lock (db_t *db);
OST_WUR db_status_t token_store_setting_put (db_t *db, const char *name, const long *value);

//  The janitor's session advisory lock: lock 1 tries to take it (*got 1
//  when taken), lock 0 releases it.
OST_WUR db_status_t token_store_janitor_lock (db_t *db, int lock, int *got);
//  The kinds of rows that can no longer matter (see token_store.c), 0 to
//  token_store_janitor_kinds () - 1, in the order a round purges them; each
//  kind's table name (NULL for another number).
int token_store_janitor_kinds (void);
const char *token_store_janitor_kind_name (int kind);
//  Deletes at most batch rows of kind (one statement, one transaction);
//  *deleted the rows deleted (a family's refresh tokens and jtis go with it
//  and are not counted).
OST_WUR db_status_t token_store_janitor_purge (db_t *db, int kind, long batch, long max_s, long idle_s,
                                               int *deleted);

#endif
