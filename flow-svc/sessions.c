/*  sessions - flow.session_get and the session helpers of the login flow. */
#include "sessions.h"

#include "flow_args.h"
#include "flow_ops.h"
#include "flow_store.h"
#include "secure.h"

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
