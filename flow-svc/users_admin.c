/*  users_admin - an operator's hold on a user's sign-in: flow.user_totp_reset
 *  (the second factor), flow.user_sessions and flow.user_session_revoke (the
 *  live SSO sessions, ended with the back-channel logout of the clients they
 *  served, as a user's own logout ends them). */
#include "flow_audit.h"
#include "flow_ops.h"
#include "flow_store.h"
#include "flow_txn.h"
#include "log.h"
#include "service.h"
#include "sessions.h"
#include "users.h"

#include <string.h>

#define DESC_USERNAME                                                                                        \
    "username must be 1 to 64 characters of a-z, 0-9, '.', '_', '@', '+', '-', starting with a letter or "   \
    "digit"
#define DESC_NO_USER "no such user"
#define DESC_NO_SESSION "no live session of this user has this sid"
#define DESC_EXPIRED "the request's deadline passed before the change was made"

//  username, folded. -1 after failing req.
static int
s_username (bus_req_t *req, const char *s, char out[USERNAME_MAX + 1])
{
    if (users_fold_username (s, strlen (s), out) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_USERNAME);
        return -1;
    }
    return 0;
}

//  The audit record of an operator's change to the user sub (details
//  consumed), in the caller's transaction when there is one.
static db_status_t
s_audit (bus_req_t *req, audit_event_t event, const char *sub, json_t *details)
{
    db_status_t st = details ? flow_audit_write (flow_db (req),
                                                 &(audit_record_t){.event = event,
                                                                   .outcome = AUDIT_SUCCESS,
                                                                   .actor = req->actor ? req->actor : "admin",
                                                                   .subject = sub,
                                                                   .details = details})
                             : DB_ERROR;
    json_decref (details);
    return st;
}

int
flow_op_user_totp_reset (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_user_totp_reset_in_t *in = BUS_IN (req, flow_user_totp_reset);
    char username[USERNAME_MAX + 1], sub[FLOW_SUB_MAX + 1];
    if (s_username (req, in->username, username) != 0)
        return -1;
    //  The removal and its audit record commit together: a second factor
    //  never goes without a trace.
    db_t *db = flow_db (req);
    int had_totp = 0;
    long codes = 0;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = flow_store_totp_reset (db, username, sub, &had_totp, &codes);
    if (st == DB_OK)
        st = s_audit (req, AUDIT_EV_user_totp_reset, sub,
                      json_pack ("{s:s, s:b, s:I}", "username", username, "totp_removed", had_totp,
                                 "recovery_codes_removed", (json_int_t)codes));
    if (flow_txn_end (req, db, &st, DESC_EXPIRED) != 0)
        return -1;
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_NOT_FOUND, DESC_NO_USER);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    log_info ("a user's second factor was removed by an operator");
    flow_user_totp_reset_out_t out = {.sub = sub,
                                      .totp_removed = had_totp,
                                      .has_totp_removed = true,
                                      .recovery_codes_removed = codes,
                                      .has_recovery_codes_removed = true};
    return flow_result (req, flow_user_totp_reset_out_pack (&out), result);
}

int
flow_op_user_sessions (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_user_sessions_in_t *in = BUS_IN (req, flow_user_sessions);
    char username[USERNAME_MAX + 1], sub[FLOW_SUB_MAX + 1];
    if (s_username (req, in->username, username) != 0)
        return -1;
    json_t *sessions = NULL;
    db_status_t st = flow_store_user_sessions (flow_db (req), username, sub, &sessions);
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_NOT_FOUND, DESC_NO_USER);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    if (!json_is_array (sessions)) {
        json_decref (sessions);
        return flow_fail_internal (req);
    }
    return flow_result (req, json_pack ("{s:s, s:o}", "sub", sub, "sessions", sessions), result);
}

//  The sids of the sessions flow_store_user_session_revoke ended.
static json_t *
s_sids (const json_t *ended)
{
    json_t *sids = json_array ();
    size_t i;
    const json_t *session;
    json_array_foreach (ended, i, session)
    {
        if (sids && json_array_append (sids, json_object_get (session, "sid"))) {
            json_decref (sids);
            sids = NULL;
        }
    }
    return sids;
}

int
flow_op_user_session_revoke (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_user_session_revoke_in_t *in = BUS_IN (req, flow_user_session_revoke);
    char username[USERNAME_MAX + 1], sub[FLOW_SUB_MAX + 1];
    if (s_username (req, in->username, username) != 0)
        return -1;
    //  The end of the sessions, the back-channel logout of every client they
    //  served (Back-Channel Logout 1.0 §2.5, through the outbox) and the
    //  audit record commit together.
    db_t *db = flow_db (req);
    json_t *ended = NULL, *sids = NULL;
    long queued = 0;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = flow_store_user_session_revoke (db, username, in->sid, sub, &ended);
    if (st == DB_OK && in->sid && json_array_size (ended) == 0)
        st = DB_NOT_FOUND;
    if (st == DB_OK)
        st = sessions_ended (db, flow_app (req), ended, "admin", &queued);
    if (st == DB_OK && !(sids = s_sids (ended)))
        st = DB_ERROR;
    if (st == DB_OK)
        st = s_audit (req, AUDIT_EV_session_revoked, sub,
                      json_pack ("{s:s, s:O, s:I}", "username", username, "sids", sids, "backchannel",
                                 (json_int_t)queued));
    json_decref (ended);
    if (flow_txn_end (req, db, &st, DESC_EXPIRED) != 0) {
        json_decref (sids);
        return -1;
    }
    if (st == DB_NOT_FOUND) {
        json_decref (sids);
        bus_req_fail (req, OST_ERR_NOT_FOUND, sub[0] ? DESC_NO_SESSION : DESC_NO_USER);
        return -1;
    }
    if (st != DB_OK) {
        json_decref (sids);
        return flow_fail_db (req, st);
    }
    log_info ("an operator ended %zu session(s) of a user", json_array_size (sids));
    return flow_result (
        req, json_pack ("{s:s, s:o, s:I}", "sub", sub, "ended", sids, "backchannel", (json_int_t)queued),
        result);
}
