/*  sessions - flow.session_get, session_touch and session_end, and the
 *  session helpers of the login flow. */
#include "sessions.h"

#include "flow_args.h"
#include "flow_audit.h"
#include "flow_ops.h"
#include "flow_store.h"
#include "flow_txn.h"
#include "log.h"
#include "outbox.h"
#include "secure.h"
#include "service.h"

#include <stdio.h>
#include <string.h>

db_status_t
sessions_create (db_t *db, const flow_app_t *app, const char *sub, const json_t *amr, char **handle,
                 char sid[SESSION_SID_MAX + 1], int64_t *auth_time, int64_t *expires_at)
{
    *handle = NULL;
    sid[0] = '\0';
    unsigned char hash[FLOW_HASH_BYTES];
    char *h = flow_handle_new (hash);
    char *s = secure_token (SESSION_SID_BYTES);
    db_status_t st = DB_ERROR;
    if (h && s)
        st = flow_store_session_insert (db, s, hash, sub, amr, app->session_ttl, auth_time, expires_at);
    if (st == DB_OK) {
        snprintf (sid, SESSION_SID_MAX + 1, "%s", s);
        *handle = h;
        h = NULL;
    }
    secure_free_str (&h);
    secure_free_str (&s);
    return st;
}

static db_status_t
s_lookup (db_t *db, const unsigned char *hash, const char *sid, json_t **session)
{
    *session = NULL;
    db_status_t st = flow_store_session_get (db, hash, sid, session);
    return st == DB_NOT_FOUND ? DB_OK : st;
}

db_status_t
sessions_lookup (db_t *db, const char *handle, json_t **session)
{
    *session = NULL;
    unsigned char hash[FLOW_HASH_BYTES];
    //  A cookie value we never minted is simply no session.
    if (flow_handle_hash (handle, hash) != 0)
        return DB_OK;
    return s_lookup (db, hash, NULL, session);
}

db_status_t
sessions_lookup_sid (db_t *db, const char *sid, json_t **session)
{
    return s_lookup (db, NULL, sid, session);
}

//  flow.session_get: the SSO session behind a cookie, or null.
int
flow_op_session_get (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    //  A cookie can hold anything: any string that is not a live handle is
    //  "no session".
    const flow_session_get_in_t *in = BUS_IN (req, flow_session_get);
    json_t *session = NULL;
    db_status_t st = sessions_lookup (flow_db (req), in->session, &session);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    return flow_result (req, json_pack ("{s:o?}", "session", session), result);
}

//  flow.session_touch: the session serves a client now.
int
flow_op_session_touch (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_session_touch_in_t *in = BUS_IN (req, flow_session_touch);
    if (!in->client_id != !in->client_name) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, "client_id and client_name go together");
        return -1;
    }
    db_status_t st = flow_store_session_touch (flow_db (req), in->sid, in->client_id, in->client_name,
                                               in->client_ip, in->user_agent);
    if (st != DB_OK && st != DB_NOT_FOUND)
        return flow_fail_db (req, st);
    return flow_result (req, json_pack ("{s:b}", "live", st == DB_OK), result);
}

//  The client ids of a list of session_client objects, for the audit event.
static json_t *
s_client_ids (const json_t *clients)
{
    json_t *ids = json_array ();
    size_t i;
    const json_t *c;
    json_array_foreach (clients, i, c)
    {
        if (ids && json_array_append (ids, json_object_get (c, "client_id"))) {
            json_decref (ids);
            ids = NULL;
        }
    }
    return ids;
}

//  Back-Channel Logout 1.0 §2.5: queues, in the caller's transaction, the
//  logout of every client of one ended session (outbox_backchannel). The
//  outbox gets each logout token signed when it delivers it, so nothing
//  here waits for token-svc or a client. *queued grows by the rows queued.
static db_status_t
s_queue_backchannel (db_t *db, const flow_app_t *app, const char *sub, const char *sid,
                     const json_t *client_ids, const char *reason, long *queued)
{
    size_t i;
    const json_t *id;
    json_array_foreach (client_ids, i, id)
    {
        db_status_t st = outbox_backchannel (db, app, sub, sid, json_string_value (id), reason);
        if (st != DB_OK)
            return st;
        (*queued)++;
    }
    return DB_OK;
}

db_status_t
sessions_ended (db_t *db, const flow_app_t *app, const json_t *ended, const char *reason, long *queued)
{
    *queued = 0;
    size_t i;
    const json_t *session;
    json_array_foreach (ended, i, session)
    {
        const char *sub = json_string_value (json_object_get (session, "sub"));
        const char *sid = json_string_value (json_object_get (session, "sid"));
        if (!sub || !sid)
            return DB_ERROR;
        db_status_t st =
            s_queue_backchannel (db, app, sub, sid, json_object_get (session, "clients"), reason, queued);
        if (st != DB_OK)
            return st;
    }
    return DB_OK;
}

//  flow.session_end: the user signs out of a session (theirs, or another of
//  theirs). The end, its audit event and the back-channel logouts of its
//  clients commit together.
int
flow_op_session_end (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_session_end_in_t *in = BUS_IN (req, flow_session_end);
    const char *reason = in->reason ? in->reason : "rp_initiated";
    if (strcmp (reason, "rp_initiated") != 0 && strcmp (reason, "account") != 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, "reason must be rp_initiated or account");
        return -1;
    }
    unsigned char hash[FLOW_HASH_BYTES];
    //  A cookie value we never minted opens no session: nothing ends.
    if (flow_handle_hash (in->session, hash) != 0)
        return flow_result (req, json_pack ("{s:b, s:[]}", "ended", 0, "clients"), result);
    db_t *db = flow_db (req);
    json_t *ended = NULL;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = flow_store_session_end (db, hash, in->sid, &ended);
    if (st == DB_OK) {
        const char *sub = json_string_value (json_object_get (ended, "sub"));
        json_t *ids = s_client_ids (json_object_get (ended, "clients"));
        long queued = 0;
        st = ids ? s_queue_backchannel (db, flow_app (req), sub,
                                        json_string_value (json_object_get (ended, "sid")), ids, reason,
                                        &queued)
                 : DB_ERROR;
        json_t *details =
            st == DB_OK ? json_pack ("{s:O, s:s, s:O, s:I}", "sid", json_object_get (ended, "sid"), "reason",
                                     reason, "clients", ids, "backchannel", (json_int_t)queued)
                        : NULL;
        json_decref (ids);
        if (st == DB_OK)
            st = details ? flow_audit_write (db, &(audit_record_t){.event = AUDIT_EV_logout,
                                                                   .outcome = AUDIT_SUCCESS,
                                                                   .actor = "user",
                                                                   .subject = sub,
                                                                   .client_id = in->client_id,
                                                                   .address = in->client_ip,
                                                                   .details = details})
                         : DB_ERROR;
        json_decref (details);
    }
    secure_wipe (hash, sizeof hash);
    if (flow_txn_end (req, db, &st, "the request's deadline passed before the session ended") != 0) {
        json_decref (ended);
        return -1;
    }
    if (st == DB_NOT_FOUND)
        return flow_result (req, json_pack ("{s:b, s:[]}", "ended", 0, "clients"), result);
    if (st != DB_OK) {
        json_decref (ended);
        return flow_fail_db (req, st);
    }
    log_info ("session ended (%s)", reason);
    json_object_set_new (ended, "ended", json_true ());
    return flow_result (req, ended, result);
}

//  flow.session_list: the user's live sessions, for the account page.
int
flow_op_session_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_session_list_in_t *in = BUS_IN (req, flow_session_list);
    unsigned char hash[FLOW_HASH_BYTES];
    if (flow_handle_hash (in->session, hash) != 0)
        return flow_result (req, json_pack ("{s:[]}", "sessions"), result);
    json_t *sessions = NULL;
    db_status_t st = flow_store_session_list (flow_db (req), hash, &sessions);
    secure_wipe (hash, sizeof hash);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    if (!json_is_array (sessions)) {
        json_decref (sessions);
        return flow_fail_internal (req);
    }
    return flow_result (req, json_pack ("{s:o}", "sessions", sessions), result);
}
