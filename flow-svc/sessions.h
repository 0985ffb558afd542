/*  sessions - SSO login sessions: the handle in the ostiary_session cookie
 *  (256 random bits, stored as its SHA-256) and the session row it opens
 *  (sid, sub, auth_time, amr, expiry, revocation). */
#ifndef FLOW_SESSIONS_H
#define FLOW_SESSIONS_H

#include "bus_worker.h"
#include "db.h"
#include "flow_app.h"

#include <jansson.h>
#include <stdint.h>

//  The sid: 128 random bits, base64url (22 characters).
#define SESSION_SID_BYTES 16
#define SESSION_SID_MAX 64

//  A new session of sub, authenticated now by the methods in amr (a JSON
//  array of RFC 8176 values), lasting app->session_ttl. Runs in the
//  caller's transaction. On DB_OK: *handle (free with secure_free_str), sid,
//  *auth_time and *expires_at are set.
db_status_t sessions_create (db_t *db, const flow_app_t *app, const char *sub, const json_t *amr,
                             char **handle, char sid[SESSION_SID_MAX + 1], int64_t *auth_time,
                             int64_t *expires_at);
//  The session object of a handle a caller presented: DB_OK with *session an
//  object, or with *session NULL when the handle is malformed, unknown,
//  expired or revoked, or its user is disabled. Other statuses are errors.
db_status_t sessions_lookup (db_t *db, const char *handle, json_t **session);
//  The same by sid (for a session a flow remembered).
db_status_t sessions_lookup_sid (db_t *db, const char *sid, json_t **session);
//  Back-Channel Logout 1.0 for sessions that just ended, in the caller's
//  transaction (the one that ended them): for each {sid, sub, clients} of
//  the array ended (clients: client ids), one outbox row per client
//  (outbox_backchannel, reason for the logs). Every path that ends a
//  session calls it, the janitor's expiry too; nothing in it calls another
//  service. *queued: the rows queued. A status other than DB_OK leaves the
//  transaction to be rolled back: no session ends untold.
OST_WUR db_status_t sessions_ended (db_t *db, const flow_app_t *app, const json_t *ended, const char *reason,
                                    long *queued);

#endif
