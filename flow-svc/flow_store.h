/*  flow_store - every SQL statement of schema flow (migrations/flow/).
 *  Functions return a db_status_t (DB_NOT_FOUND when a single-row lookup or
 *  a guarded UPDATE matched nothing); handlers decide what it means. Objects
 *  that leave the service (users, sessions) are built as JSON by PostgreSQL
 *  itself, so no column list is repeated in C. Times are the database's
 *  (now()), so replicas whose clocks differ agree on expiry. Handles arrive
 *  here as their SHA-256 (FLOW_HASH_BYTES), never as the handle itself. */
#ifndef FLOW_STORE_H
#define FLOW_STORE_H

#include "db.h"
#include "flow_args.h"
#include "ost.h"

#include <jansson.h>
#include <stdint.h>

//  Prepares the statements on a worker thread's connection. 0 ok.
OST_WUR int flow_store_prepare (db_t *db);
//  0 when the database answers.
OST_WUR int flow_store_ping (db_t *db);

//  ------------------------------------------------------------------ users

//  Inserts a user. claims is an object of the optional claim members of
//  proto/ops.md's user object (email … address), already validated.
//  password_hash may be NULL. *user gets the stored user object.
//  DB_CONFLICT when the username is taken.
OST_WUR db_status_t flow_store_user_insert (db_t *db, const char *sub, const char *username,
                                            const char *password_hash, int disabled, const json_t *claims,
                                            json_t **user);
//  Users ordered by username, after `after` (NULL = from the start), at most
//  limit of them. *users gets an array.
OST_WUR db_status_t flow_store_user_list (db_t *db, const char *after, long limit, json_t **users);
//  One user by username or (when username is NULL) by sub. DB_NOT_FOUND.
OST_WUR db_status_t flow_store_user_get (db_t *db, const char *username, const char *sub, json_t **user);
//  Sets the password hash and revokes every session of the user in the same
//  statement; *ended: the sessions it ended (a JSON array of {sid, sub,
//  clients}, for sessions_ended). DB_NOT_FOUND for an unknown username.
OST_WUR db_status_t flow_store_user_set_password (db_t *db, const char *username, const char *password_hash,
                                                  json_t **ended);
//  A subject identifier's longest text (users.c makes 32 hex digits).
#define FLOW_SUB_MAX 64
//  Sets the disabled flag (autocommitted: call it outside a transaction,
//  then flow_store_user_revoke_sessions in one of its own, whose snapshot
//  sees a session that a login committed while the flag waited for it).
//  Copies the user's subject to sub. DB_NOT_FOUND for an unknown username.
//  Grants (admin 1) or revokes the admin role of username; sub as for
//  flow_store_user_set_disabled. DB_NOT_FOUND for an unknown user.
OST_WUR db_status_t flow_store_user_set_admin (db_t *db, const char *username, int admin,
                                               char sub[FLOW_SUB_MAX + 1]);
//  *admin: sub holds the admin role and is not disabled (0 for an unknown sub).
OST_WUR db_status_t flow_store_user_is_admin (db_t *db, const char *sub, int *admin);
OST_WUR db_status_t flow_store_user_set_disabled (db_t *db, const char *username, int disabled,
                                                  char sub[FLOW_SUB_MAX + 1]);
//  Revokes every live session of sub; *ended as for
//  flow_store_user_set_password ([] when there was none).
OST_WUR db_status_t flow_store_user_revoke_sessions (db_t *db, const char *sub, json_t **ended);
//  The live sessions of username (array of session_info objects, current
//  false, newest first) and the user's sub; DB_NOT_FOUND for an unknown
//  username.
OST_WUR db_status_t flow_store_user_sessions (db_t *db, const char *username, char sub[FLOW_SUB_MAX + 1],
                                              json_t **sessions);
//  Revokes the live session sid of username, or every live session of theirs
//  when sid is NULL; sub the user's, *ended as for
//  flow_store_user_set_password ([] when nothing was live). DB_NOT_FOUND for
//  an unknown username.
OST_WUR db_status_t flow_store_user_session_revoke (db_t *db, const char *username, const char *sid,
                                                    char sub[FLOW_SUB_MAX + 1], json_t **ended);

//  What a password login needs to know of a user.
typedef struct {
    char sub[65];
    char *password_hash; //  NULL when the user has none (free)
    int disabled;
} flow_cred_t;
//  DB_NOT_FOUND for an unknown username.
OST_WUR db_status_t flow_store_user_credential (db_t *db, const char *username, flow_cred_t *cred);
void flow_cred_clear (flow_cred_t *cred);
//  Replaces old_hash by new_hash (same password, new parameters) unless the
//  password changed meanwhile.
OST_WUR db_status_t flow_store_user_rehash (db_t *db, const char *sub, const char *old_hash,
                                            const char *new_hash);

//  ------------------------------------------------------------------ sessions

//  A new session of sub, authenticated now with amr (a JSON array), lasting
//  ttl seconds. *auth_time gets the authentication time (whole seconds),
//  *expires_at the end of the session. Only for an enabled user, whose row it
//  locks until the transaction ends: DB_NOT_FOUND for a disabled or unknown one.
OST_WUR db_status_t flow_store_session_insert (db_t *db, const char *sid,
                                               const unsigned char hash[FLOW_HASH_BYTES], const char *sub,
                                               const json_t *amr, long ttl, int64_t *auth_time,
                                               int64_t *expires_at);
//  The session object {sid, sub, username, auth_time, amr, expires_at} of a live session
//  (not expired, not revoked, its user not disabled): by handle hash, or by
//  sid when hash is NULL. DB_NOT_FOUND otherwise.
OST_WUR db_status_t flow_store_session_get (db_t *db, const unsigned char *hash, const char *sid,
                                            json_t **session);
//  Revokes one session (no error when it was revoked already or is unknown).
OST_WUR db_status_t flow_store_session_revoke (db_t *db, const char *sid, json_t **ended);

//  Marks the live session sid used now (address and user_agent, when not
//  NULL, replace the stored ones) and, with client_id, records that it
//  served that client (client_name shown on logout pages). DB_NOT_FOUND
//  when sid is not a live session.
OST_WUR db_status_t flow_store_session_touch (db_t *db, const char *sid, const char *client_id,
                                              const char *client_name, const char *address,
                                              const char *user_agent);
//  Ends a live session of the user whose live session the handle hash
//  opens: that very session when sid is NULL, else their session sid.
//  *ended {sid, sub, current, clients: [{client_id, name}]} (current: it
//  was the handle's own session); DB_NOT_FOUND when the
//  handle opens no live session or sid is none of that user's live ones.
OST_WUR db_status_t flow_store_session_end (db_t *db, const unsigned char hash[FLOW_HASH_BYTES],
                                            const char *sid, json_t **ended);
//  The live sessions (array of session_info objects, newest first) of the
//  user whose live session the handle hash opens; [] when it opens none.
OST_WUR db_status_t flow_store_session_list (db_t *db, const unsigned char hash[FLOW_HASH_BYTES],
                                             json_t **sessions);

//  ------------------------------------------------------------------ executions

typedef struct {
    int64_t id;
    char flow_name[65];
    int flow_version;
    char node[65];
    json_t *context; //  object (json_decref via flow_exec_clear)
    char status[16];
    char csrf[64];
    long attempts;
    char session_sid[65]; //  the session the execution created, "" when none
    int64_t expires_at;
    json_t *ui;         //  the last step shown, {} when none
    long node_attempts; //  submissions at the current node
} flow_exec_t;

void flow_exec_clear (flow_exec_t *exec);
//  The execution of a handle that has not expired (any status). DB_NOT_FOUND.
OST_WUR db_status_t flow_store_exec_get (db_t *db, const unsigned char hash[FLOW_HASH_BYTES],
                                         flow_exec_t *exec);
//  Marks up to batch running or waiting (or login.c's active)
//  executions past their expiry as expired. *count gets how many.
OST_WUR db_status_t flow_store_exec_expire (db_t *db, long batch, long *count);

//  ------------------------------------------------------------------ engine

//  Stores a definition unless (name, version) is there; *same is 1 when the
//  stored graph is this one (jsonb equality), 0 when it differs.
OST_WUR db_status_t flow_store_definition_put (db_t *db, const char *name, int version, const char *start,
                                               const json_t *graph, int *same);
//  The stored graph text of name/version (free). DB_NOT_FOUND.
OST_WUR db_status_t flow_store_definition_get (db_t *db, const char *name, int version, char **graph);
//  A new execution at node, status running; exec gets the row.
OST_WUR db_status_t flow_store_exec_start (db_t *db, const unsigned char hash[FLOW_HASH_BYTES],
                                           const char *name, int version, const char *node,
                                           const json_t *context, const char *csrf, long ttl,
                                           flow_exec_t *exec);
//  Counts a submission at node of a running, unexpired execution (one
//  UPDATE ... RETURNING). DB_NOT_FOUND otherwise.
OST_WUR db_status_t flow_store_exec_submit (db_t *db, const unsigned char hash[FLOW_HASH_BYTES],
                                            const char *node, flow_exec_t *exec);
//  Locks the waiting execution id at node (FOR UPDATE). DB_NOT_FOUND.
OST_WUR db_status_t flow_store_exec_lock_waiting (db_t *db, int64_t id, const char *node, flow_exec_t *exec);
//  The guarded save of a step: WHERE status = from_status AND node =
//  from_node. DB_NOT_FOUND when the execution moved meanwhile.
OST_WUR db_status_t flow_store_exec_save (db_t *db, int64_t id, const char *from_status,
                                          const char *from_node, const char *to_status, const char *to_node,
                                          const json_t *context, const json_t *ui, const char *session_sid);
//  Gives a succeeded execution without a session the session sid, once.
OST_WUR db_status_t flow_store_exec_claim_session (db_t *db, int64_t id, const char *sid);

//  Action tokens: hash is HMAC-SHA256(flow key, token).
OST_WUR db_status_t flow_store_action_insert (db_t *db, const unsigned char hash[FLOW_HASH_BYTES],
                                              const char *purpose, int64_t execution_id, const char *node,
                                              long ttl, int64_t *expires_at);
//  {flow_name, version, email_hint, expires_at} of a usable token. DB_NOT_FOUND.
OST_WUR db_status_t flow_store_action_peek (db_t *db, const unsigned char hash[FLOW_HASH_BYTES],
                                            const char *purpose, json_t **info);
//  Consumes a usable token: *execution_id and node. DB_NOT_FOUND.
OST_WUR db_status_t flow_store_action_consume (db_t *db, const unsigned char hash[FLOW_HASH_BYTES],
                                               const char *purpose, int64_t *execution_id, char node[65]);
//  Deletes up to batch expired tokens, oldest first; *count gets how many.
OST_WUR db_status_t flow_store_action_sweep (db_t *db, long batch, long *count);

//  The user object of the (oldest) user with this email. DB_NOT_FOUND.
OST_WUR db_status_t flow_store_user_by_email (db_t *db, const char *email, json_t **user);
//  New password of sub, every session of sub revoked (*ended as for
//  flow_store_user_set_password). DB_NOT_FOUND.
OST_WUR db_status_t flow_store_user_password_sub (db_t *db, const char *sub, const char *password_hash,
                                                  json_t **ended);
OST_WUR db_status_t flow_store_user_email_verified (db_t *db, const char *sub);

//  TOTP: the sealed secret (free) and the last step used. DB_NOT_FOUND.
OST_WUR db_status_t flow_store_totp_get (db_t *db, const char *sub, char **sealed, int64_t *last_step);
OST_WUR db_status_t flow_store_totp_put (db_t *db, const char *sub, const char *sealed, int64_t last_step);
//  Moves last_step forward to step; DB_NOT_FOUND when it was not below it.
//  Removes username's authenticator app and recovery codes: sub the user's,
//  *had_totp whether they had an app, *recovery_codes how many codes went.
//  DB_NOT_FOUND for an unknown username.
OST_WUR db_status_t flow_store_totp_reset (db_t *db, const char *username, char sub[FLOW_SUB_MAX + 1],
                                           int *had_totp, long *recovery_codes);
OST_WUR db_status_t flow_store_totp_use (db_t *db, const char *sub, int64_t step);
//  Replaces sub's recovery codes by hashes (count of FLOW_HASH_BYTES each).
OST_WUR db_status_t flow_store_recovery_replace (db_t *db, const char *sub,
                                                 const unsigned char (*hashes)[FLOW_HASH_BYTES],
                                                 size_t count);
//  Consumes one unused recovery code. DB_NOT_FOUND.
OST_WUR db_status_t flow_store_recovery_use (db_t *db, const char *sub,
                                             const unsigned char hash[FLOW_HASH_BYTES]);

//  The janitor's session advisory lock (one replica works at a time): lock
//  1 tries to take it (*got 1 when taken), lock 0 releases it (*got 1 when
//  it was held).
OST_WUR db_status_t flow_store_janitor_lock (db_t *db, int lock, int *got);
//  Marks up to batch sessions that expired unrevoked and whose clients were
//  not told yet as told; *ended: those sessions (a JSON array of {sid, sub,
//  clients}, for sessions_ended, which the caller runs in the same
//  transaction). An empty array when none is left.
OST_WUR db_status_t flow_store_session_expire (db_t *db, long batch, json_t **ended);
//  The kinds of rows the janitor purges (0 .. kinds - 1): finished
//  executions, ended sessions whose clients were told, delivered or dead
//  outbox rows; the name of each, for logs.
int flow_store_janitor_kinds (void);
const char *flow_store_janitor_kind_name (int kind);
//  Deletes at most batch rows of kind that are past retention_s seconds,
//  oldest first. *deleted the rows deleted.
OST_WUR db_status_t flow_store_janitor_purge (db_t *db, int kind, long batch, long retention_s,
                                              long *deleted);

#endif
