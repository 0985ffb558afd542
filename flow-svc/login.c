/*  login - the password login flow as a persisted execution:
 *  flow.login_start, flow.login_get and flow.login_submit (proto/ops.md,
 *  "flow — sessions and the login flow"; ARCHITECTURE.md, "Flows").
 *
 *  An execution is a row of flow.executions: the flow it runs (name and
 *  version, pinned at start), its current node, its context, its status,
 *  its CSRF token, its expiry and its attempt counter. The browser holds the
 *  execution's handle in the ostiary_flow cookie; flow-svc keeps only the
 *  handle's hash. Every step reads and writes the row, so any replica can
 *  take the next step and a restart loses nothing.
 *
 *  Issue 3 runs one flow, password_login v1: node "password" (one password
 *  step), then "done". The general engine of issue 6 walks the graph of
 *  flow.definitions; this file implements exactly that version of it. */
#include "flow_args.h"
#include "flow_ops.h"
#include "flow_store.h"
#include "lockout.h"
#include "log.h"
#include "password.h"
#include "secure.h"
#include "sessions.h"
#include "users.h"

#include <stdio.h>
#include <string.h>

#define FLOW_NAME "password_login"
#define FLOW_VERSION 1
#define NODE_PASSWORD "password"
#define NODE_DONE "done"

#define CSRF_BYTES 32
#define REQUEST_ID_MAX 128
#define LOGIN_HINT_MAX 255
#define CLIENT_IP_MAX 64
#define CSRF_MAX 64

#define DESC_REQUEST_ID "request_id must be 1 to 128 visible ASCII characters"
#define DESC_LOGIN_HINT "login_hint must be text of at most 255 bytes without control characters"
#define DESC_PURPOSE "purpose must be login, consent or select_account"
#define DESC_SESSION "session must be a string or null"
#define DESC_FLOW "the login flow is unknown, expired or finished; start again"
#define DESC_CSRF "the login form is not the one this flow issued; start again"
#define DESC_ATTEMPTS "too many attempts in this login flow; start again"
#define DESC_FIELDS "username, password and client_ip must be strings"
#define DESC_EXPIRED "the request's deadline passed before the login completed"
//  One description for a wrong password, an unknown user, a disabled user
//  and a user without a password, so that none can be told from another.
#define DESC_LOGIN_FAILED "the username or password is incorrect"

//  ------------------------------------------------------------------ execution state

//  The state machine of an execution: active is the only state that moves,
//  and it moves once.
typedef enum { EXEC_ACTIVE, EXEC_SUCCEEDED, EXEC_FAILED, EXEC_EXPIRED } s_status_t;
static const char *const s_status_names[] = {"active", "succeeded", "failed", "expired"};

static int
s_status_parse (const char *name, s_status_t *status)
{
    for (size_t i = 0; i < sizeof s_status_names / sizeof *s_status_names; i++)
        if (!strcmp (name, s_status_names[i])) {
            *status = (s_status_t)i;
            return 0;
        }
    return -1;
}

//  The one transition function: a guarded UPDATE from the state the caller
//  saw. DB_NOT_FOUND when the execution left that state meanwhile (a second
//  submission won, or it expired): the caller's step then did not happen.
static db_status_t
s_exec_set_status (db_t *db, const flow_exec_t *exec, s_status_t to, const char *node,
                   const char *session_sid)
{
    s_status_t from;
    if (s_status_parse (exec->status, &from) != 0 || from != EXEC_ACTIVE || to == EXEC_ACTIVE) {
        log_error ("login: refused execution transition %s -> %s", exec->status, s_status_names[to]);
        return DB_ERROR;
    }
    return flow_store_exec_transition (db, exec->id, s_status_names[from], s_status_names[to], node,
                                       session_sid);
}

//  1 when this build implements the flow and node the execution is pinned to.
static int
s_exec_runnable (const flow_exec_t *exec)
{
    return !strcmp (exec->flow_name, FLOW_NAME) && exec->flow_version == FLOW_VERSION &&
           !strcmp (exec->node, NODE_PASSWORD);
}

//  ------------------------------------------------------------------ arguments

static int
s_visible_ascii (const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static const char *const s_purposes[] = {"login", "consent", "select_account"};

//  The flow handle of a request, hashed. -1 after failing req with invalid_flow.
static int
s_flow_hash (bus_req_t *req, const json_t *body, unsigned char hash[FLOW_HASH_BYTES])
{
    const char *flow = NULL;
    if (flow_arg_string (body, "flow", FLOW_HANDLE_CHARS, 0, &flow) != ARG_OK ||
        flow_handle_hash (flow, hash) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_FLOW);
        return -1;
    }
    return 0;
}

//  ------------------------------------------------------------------ login_start

int
flow_op_login_start (bus_req_t *req, const json_t *body, json_t **result)
{
    db_t *db = flow_db (req);
    const flow_app_t *app = flow_app (req);
    const char *request_id = NULL, *hint = NULL, *purpose = "login", *handle = NULL;
    if (flow_arg_string (body, "request_id", REQUEST_ID_MAX, 0, &request_id) != ARG_OK ||
        !s_visible_ascii (request_id)) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_REQUEST_ID);
        return -1;
    }
    //  OpenID Connect Core §3.1.2.1: login_hint is a hint the page may use to
    //  prefill the username; it proves nothing, and it is escaped by the
    //  gateway wherever it is shown.
    if (flow_arg_string (body, "login_hint", LOGIN_HINT_MAX, ARG_EMPTY, &hint) == ARG_BAD) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_LOGIN_HINT);
        return -1;
    }
    arg_rc_t prc = flow_arg_string (body, "purpose", 32, 0, &purpose);
    int known = 0;
    for (size_t i = 0; prc != ARG_BAD && i < sizeof s_purposes / sizeof *s_purposes; i++)
        known |= !strcmp (purpose, s_purposes[i]);
    if (!known) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_PURPOSE);
        return -1;
    }
    const json_t *sv = json_object_get (body, "session");
    if (sv && !json_is_null (sv) && !json_is_string (sv)) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_SESSION);
        return -1;
    }
    //  The browser's current session, if it is live, is remembered by its
    //  sid (never by its handle): the page can show the account in session
    //  (prompt=select_account), and a successful login replaces it.
    json_t *session = NULL;
    db_status_t st = DB_OK;
    if (flow_arg_string (body, "session", 256, ARG_EMPTY, &handle) == ARG_OK)
        st = sessions_lookup (db, handle, &session);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    json_t *context = json_pack ("{s:s, s:s}", "request_id", request_id, "purpose", purpose);
    if (context && hint && *hint)
        json_object_set_new (context, "login_hint", json_string (hint));
    if (context && session)
        json_object_set (context, "session_sid", json_object_get (session, "sid"));
    json_decref (session);

    //  Executions past their expiry are marked expired on the way (a bounded
    //  sweep); whether it works does not matter to this request.
    long swept = 0;
    if (flow_store_exec_expire (db, &swept) == DB_OK && swept > 0)
        log_debug ("login: %ld executions expired", swept);

    unsigned char hash[FLOW_HASH_BYTES];
    char *flow = flow_handle_new (hash);
    char *csrf = secure_token (CSRF_BYTES);
    int64_t expires_at = 0;
    st = DB_ERROR;
    if (context && flow && csrf)
        st = flow_store_exec_insert (db, hash, FLOW_NAME, FLOW_VERSION, context, csrf, app->flow_ttl,
                                     &expires_at);
    json_decref (context);
    if (st == DB_OK)
        *result =
            json_pack ("{s:s, s:s, s:I}", "flow", flow, "csrf", csrf, "expires_at", (json_int_t)expires_at);
    secure_free_str (&flow);
    secure_free_str (&csrf);
    if (st == DB_NOT_FOUND) {
        log_error ("login: flow definition %s v%d is missing", FLOW_NAME, FLOW_VERSION);
        return flow_fail_internal (req);
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    return *result ? 0 : flow_fail_internal (req);
}

//  ------------------------------------------------------------------ login_get

int
flow_op_login_get (bus_req_t *req, const json_t *body, json_t **result)
{
    db_t *db = flow_db (req);
    unsigned char hash[FLOW_HASH_BYTES];
    if (s_flow_hash (req, body, hash) != 0)
        return -1;
    flow_exec_t exec;
    db_status_t st = flow_store_exec_get (db, hash, &exec);
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_FLOW);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    //  The session to show: the one this execution created once it
    //  succeeded, else the one the browser had when it started.
    const char *sid = exec.session_sid[0] ? exec.session_sid
                                          : json_string_value (json_object_get (exec.context, "session_sid"));
    json_t *session = NULL;
    if (sid)
        st = sessions_lookup_sid (db, sid, &session);
    if (st != DB_OK) {
        flow_exec_clear (&exec);
        return flow_fail_db (req, st);
    }
    json_t *out = json_pack (
        "{s:O, s:s, s:O, s:s, s:I, s:I, s:o?}", "request_id", json_object_get (exec.context, "request_id"),
        "csrf", exec.csrf, "purpose", json_object_get (exec.context, "purpose"), "status", exec.status,
        "expires_at", (json_int_t)exec.expires_at, "attempts", (json_int_t)exec.attempts, "session", session);
    const json_t *hint = json_object_get (exec.context, "login_hint");
    if (out && hint)
        json_object_set (out, "login_hint", (json_t *)hint);
    flow_exec_clear (&exec);
    return flow_result (req, out, result);
}

//  ------------------------------------------------------------------ login_submit

//  The end of a failed submission: the execution fails once its attempts
//  are used up, and the caller gets the one answer that tells nothing.
static int
s_login_failed (bus_req_t *req, const flow_exec_t *exec, const char *client_ip)
{
    const flow_app_t *app = flow_app (req);
    if (exec->attempts >= app->max_attempts) {
        db_status_t st = s_exec_set_status (flow_db (req), exec, EXEC_FAILED, exec->node, NULL);
        if (st != DB_OK && st != DB_NOT_FOUND)
            log_warn ("login: could not mark an exhausted execution failed (%s)", db_status_name (st));
    }
    log_info ("login failed: attempt %ld of %ld%s%s", exec->attempts, app->max_attempts,
              client_ip ? " from " : "", client_ip ? client_ip : "");
    bus_req_fail (req, OST_ERR_LOGIN_FAILED, DESC_LOGIN_FAILED);
    return -1;
}

//  The success of the password step, in one transaction: a new session, the
//  execution moved from active to succeeded (the guarded UPDATE that makes a
//  flow handle complete once), and the session the browser had before
//  revoked (a new authentication gets a new handle; the old one must not
//  stay valid beside it). On success *handle, sid, *auth_time and *expires_at
//  are set.
static int
s_complete (bus_req_t *req, const flow_exec_t *exec, const char *sub, char **handle,
            char sid[SESSION_SID_MAX + 1], int64_t *auth_time, int64_t *expires_at)
{
    db_t *db = flow_db (req);
    json_t *amr = json_pack ("[s]", "pwd"); //  RFC 8176 §2: "pwd", password-based authentication
    if (!amr)
        return flow_fail_internal (req);
    db_status_t st = flow_store_begin (db);
    if (st == DB_OK)
        st = sessions_create (db, flow_app (req), sub, amr, handle, sid, auth_time, expires_at);
    json_decref (amr);
    if (st == DB_OK)
        st = s_exec_set_status (db, exec, EXEC_SUCCEEDED, NODE_DONE, sid);
    const char *old = json_string_value (json_object_get (exec->context, "session_sid"));
    if (st == DB_OK && old && strcmp (old, sid) != 0)
        st = flow_store_session_revoke (db, old);
    //  bus.md, "Deadlines": the deadline is checked again before the commit;
    //  a caller that gave up must not find a session it never received.
    int late = st == DB_OK && bus_req_expired (req);
    if (st == DB_OK && !late)
        st = flow_store_commit (db);
    else
        flow_store_rollback (db);
    if (st == DB_OK && !late)
        return 0;
    secure_free_str (handle);
    if (late)
        bus_req_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_EXPIRED);
    else if (st == DB_NOT_FOUND)
        //  Another submission of this flow completed first.
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_FLOW);
    else
        flow_fail_db (req, st);
    return -1;
}

static int
s_submit (bus_req_t *req, const json_t *body, json_t **result)
{
    db_t *db = flow_db (req);
    const flow_app_t *app = flow_app (req);
    unsigned char hash[FLOW_HASH_BYTES];
    if (s_flow_hash (req, body, hash) != 0)
        return -1;
    const char *csrf = NULL, *username = NULL, *password = "", *client_ip = NULL;
    size_t pwlen = 0;
    if (flow_arg_string (body, "csrf", CSRF_MAX, 0, &csrf) != ARG_OK) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_CSRF);
        return -1;
    }
    //  Wrong types are the caller's bug; an empty or overlong username or
    //  password is a user's typing and ends as login_failed below.
    const json_t *uv = json_object_get (body, "username"), *pv = json_object_get (body, "password");
    arg_rc_t urc = flow_arg_string (body, "username", 256, ARG_EMPTY, &username);
    arg_rc_t prc = flow_arg_secret (body, "password", PASSWORD_MAX_BYTES, &password, &pwlen);
    arg_rc_t irc = flow_arg_string (body, "client_ip", CLIENT_IP_MAX, 0, &client_ip);
    if ((uv && !json_is_null (uv) && !json_is_string (uv)) ||
        (pv && !json_is_null (pv) && !json_is_string (pv)) || irc == ARG_BAD) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_FIELDS);
        return -1;
    }
    if (prc != ARG_OK) {
        password = "";
        pwlen = 0;
    }
    if (irc != ARG_OK)
        client_ip = NULL;

    //  ARCHITECTURE.md, "Security rules": the attempt is counted before
    //  anything is checked, in one UPDATE ... RETURNING.
    flow_exec_t exec;
    db_status_t st = flow_store_exec_attempt (db, hash, &exec);
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_FLOW);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    int rc = -1;
    flow_cred_t cred = {0};
    //  The CSRF token binds the form to the flow cookie (RFC 6749 §10.12
    //  asks the same of the redirect): compared in constant time.
    if (!secure_streq (exec.csrf, csrf)) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_CSRF);
        goto done;
    }
    if (!s_exec_runnable (&exec)) {
        log_warn ("login: execution pinned to %s v%d at node %s, which this build does not run",
                  exec.flow_name, exec.flow_version, exec.node);
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_FLOW);
        goto done;
    }
    if (exec.attempts > app->max_attempts) {
        //  A submission that raced past the last allowed one.
        (void)s_exec_set_status (db, &exec, EXEC_FAILED, exec.node, NULL);
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_ATTEMPTS);
        goto done;
    }
    char folded[USERNAME_MAX + 1];
    int found = 0;
    if (urc == ARG_OK && users_fold_username (username, strlen (username), folded) == 0) {
        st = flow_store_user_credential (db, folded, &cred);
        if (st != DB_OK && st != DB_NOT_FOUND) {
            flow_fail_db (req, st);
            goto done;
        }
        found = st == DB_OK;
    }
    //  issue 6, "Lockout": the account's and the address's counters move
    //  before the password is checked (lockout.h). A locked account or a
    //  throttled address gets the same login_failed as a wrong password.
    lockout_verdict_t verdict = LOCKOUT_ACCOUNT;
    st = lockout_before (db, found ? cred.sub : NULL, client_ip, &verdict);
    if (st != DB_OK) {
        flow_fail_db (req, st);
        goto done;
    }
    //  Always one Argon2id verification, against the dummy hash when there
    //  is no user or no password, so that the time taken does not tell
    //  whether the username exists (OWASP Authentication Cheat Sheet,
    //  "Authentication Responses": the same answer in the same time). A
    //  locked account is verified too, for the same reason.
    const char *against = found && cred.password_hash ? cred.password_hash : app->dummy_hash;
    int verified = password_verify (against, password, pwlen);
    int ok = verified && found && cred.password_hash && !cred.disabled && verdict == LOCKOUT_OK;
    //  Only a password verified while no lock was in force resets the count;
    //  a failure that brought the count to the threshold locks (lockout.h).
    if (ok && (st = lockout_success (db, cred.sub)) != DB_OK) {
        flow_fail_db (req, st);
        goto done;
    }
    if (!ok && found && verdict != LOCKOUT_ACCOUNT &&
        (st = lockout_failure (db, cred.sub, client_ip)) != DB_OK) {
        flow_fail_db (req, st);
        goto done;
    }
    //  A hash made with other parameters than today's is replaced now that
    //  we hold the password (OSTIARY_ARGON2_*: stronger settings reach every
    //  active user without a reset).
    char *rehash = NULL;
    if (ok && password_needs_rehash (cred.password_hash, &app->argon2))
        rehash = password_hash (&app->argon2, password, pwlen);
    if (!ok) {
        rc = s_login_failed (req, &exec, client_ip);
        goto done;
    }

    char *session = NULL;
    char sid[SESSION_SID_MAX + 1];
    int64_t auth_time = 0, expires_at = 0;
    if (s_complete (req, &exec, cred.sub, &session, sid, &auth_time, &expires_at) != 0) {
        free (rehash);
        goto done;
    }
    //  Best effort, guarded by the old hash: a failure (or a password
    //  changed meanwhile) leaves a hash that still verifies.
    if (rehash && flow_store_user_rehash (db, cred.sub, cred.password_hash, rehash) == DB_OK)
        log_info ("login: password hash upgraded to the configured Argon2id parameters");
    free (rehash);
    //  expires_at (the session's end) gives the gateway the cookie's Max-Age.
    *result = json_pack ("{s:O, s:s, s:s, s:s, s:I, s:[s], s:I}", "request_id",
                         json_object_get (exec.context, "request_id"), "session", session, "sid", sid, "sub",
                         cred.sub, "auth_time", (json_int_t)auth_time, "amr", "pwd", "expires_at",
                         (json_int_t)expires_at);
    secure_free_str (&session);
    rc = *result ? 0 : flow_fail_internal (req);
    if (rc == 0)
        log_info ("login succeeded (attempt %ld)", exec.attempts);
done:
    flow_cred_clear (&cred);
    flow_exec_clear (&exec);
    return rc;
}

int
flow_op_login_submit (bus_req_t *req, const json_t *body, json_t **result)
{
    int rc = s_submit (req, body, result);
    //  Whatever the outcome, the password does not outlive the step.
    flow_arg_wipe (body, "password");
    return rc;
}
