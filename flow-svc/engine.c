/*  engine - executions of flows: the ops of proto/ops.md "flow — the flow
 *  engine", the state machine and the node dispatch table.
 *
 *  An execution is a row of flow.executions (flow name and version pinned at
 *  start, node, context, status, expiry, attempts, the SHA-256 of the flow
 *  handle, the CSRF token, and ui, the last step shown). Every step reads the
 *  row, runs the node handlers inside one transaction, and ends with one
 *  guarded UPDATE; any replica takes any step and a restart loses nothing. */
#include "engine.h"
#include "i18n.h"
#include "metrics.h"

#include "action.h"
#include "flow_args.h"
#include "flow_ops.h"
#include "log.h"
#include "secure.h"
#include "sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSRF_BYTES 32
#define CSRF_MAX 64
#define CALLBACK_DATA_MAX 8192
//  A graph may loop through nodes that need no input (conditions): a step
//  that visits more nodes than this is a broken definition.
#define HOPS_MAX 128

//  The context member of engine_fail_because.
#define CTX_FAILURE "failure"

#define DESC_FLOW "the flow is unknown, expired or finished; start again"
#define DESC_CSRF "the form is not the one this flow issued; start again"
#define DESC_STALE "the page is not for the current step of this flow; reload it"
#define DESC_UNKNOWN_FLOW "flow must name a flow that flow-svc loaded"
#define DESC_REQUEST_ID                                                                                      \
    "request_id must be 1 to 128 visible ASCII characters; login flows need it, others refuse it"
#define DESC_PURPOSE "purpose must be login, consent or select_account"
#define DESC_NEED_SESSION "this flow needs a signed-in user"
#define DESC_INPUT "input: must not contain control characters"
#define DESC_ACTION "the link or callback is unknown, expired, already used, or its flow moved on"
#define DESC_OUTCOME "outcome must be success or failure (webhook callbacks only)"
#define DESC_DATA "data must be an object of at most 8 KiB (webhook callbacks only)"
#define DESC_EXPIRED "the request's deadline passed before the step completed"
#define DESC_MOVED "another request moved this flow on first; reload it"

static const char *const s_status_names[] = {"running", "waiting", "succeeded", "failed", "expired"};

//  The dispatch table, indexed by node type (flow_def.h). Terminal nodes
//  (success, failure) are the engine's own.
static const node_ops_t s_ops[NODE_TYPE_COUNT] = {
    [NODE_PASSWORD] = {nodes_password_enter, nodes_password_submit, nodes_password_prepare, NULL},
    [NODE_IDENTIFY] = {nodes_identify_enter, nodes_identify_submit, NULL, NULL},
    [NODE_REGISTER] = {nodes_register_enter, nodes_register_submit, NULL, NULL},
    [NODE_SET_PASSWORD] = {nodes_set_password_enter, nodes_set_password_submit, NULL, NULL},
    [NODE_TOTP] = {nodes_totp_enter, nodes_totp_submit, nodes_totp_prepare, nodes_totp_redisplay},
    [NODE_EMAIL_CODE] = {nodes_email_code_enter, nodes_email_code_submit, nodes_email_code_prepare, NULL},
    [NODE_MAGIC_LINK] = {nodes_magic_link_enter, NULL, NULL, NULL},
    [NODE_WEBHOOK] = {nodes_webhook_enter, NULL, NULL, NULL},
    [NODE_CONDITION] = {nodes_condition_enter, NULL, NULL, NULL},
};

static int
s_status_parse (const char *name, exec_status_t *status)
{
    //  The password_login executions of login.c say 'active'.
    if (!strcmp (name, "active")) {
        *status = EXEC_RUNNING;
        return 0;
    }
    for (size_t i = 0; i < sizeof s_status_names / sizeof *s_status_names; i++)
        if (!strcmp (name, s_status_names[i])) {
            *status = (exec_status_t)i;
            return 0;
        }
    return -1;
}

//  The moves of the state machine: running and waiting move (to any state
//  but expired, which only the janitor sets); the others are final.
static int
s_move_ok (exec_status_t from, exec_status_t to)
{
    return (from == EXEC_RUNNING || from == EXEC_WAITING) && to != EXEC_EXPIRED;
}

db_status_t
engine_set_status (engine_ctx_t *ctx, const char *from_node, exec_status_t to, const char *to_node)
{
    exec_status_t from;
    if (s_status_parse (ctx->exec->status, &from) != 0 || !s_move_ok (from, to)) {
        log_error ("flow: refused execution transition %s -> %s", ctx->exec->status, s_status_names[to]);
        return DB_ERROR;
    }
    json_t *ui = ctx->step ? ctx->step : json_object ();
    db_status_t st =
        flow_store_exec_save (ctx->db, ctx->exec->id, ctx->exec->status, from_node, s_status_names[to],
                              to_node, ctx->exec->context, ui, ctx->session_sid);
    if (!ctx->step)
        json_decref (ui);
    if (st == DB_OK)
        snprintf (ctx->exec->status, sizeof ctx->exec->status, "%s", s_status_names[to]);
    return st;
}

//  ------------------------------------------------------------------ helpers

json_t *
engine_step (const char *type, const char *const *fields, size_t nfields)
{
    json_t *list = json_array ();
    for (size_t i = 0; list && i < nfields; i++)
        json_array_append_new (list, json_string (fields[i]));
    return json_pack ("{s:s, s:o*, s:n, s:{}, s:{}}", "type", type, "fields", list, "error", "field_errors",
                      "data");
}

node_outcome_t
engine_challenge (engine_ctx_t *ctx, const char *type, const char *const *fields, size_t nfields)
{
    ctx->step = engine_step (type, fields, nfields);
    return ctx->step ? OUT_CHALLENGE : engine_fail_internal (ctx);
}

void
engine_step_error (json_t *step, const char *code, const char *field)
{
    if (!step)
        return;
    if (json_is_null (json_object_get (step, "error")))
        json_object_set_new (step, "error", json_string (code));
    if (field)
        json_object_set_new (json_object_get (step, "field_errors"), field, json_string (code));
}

const char *
engine_input (const engine_ctx_t *ctx, const char *name, size_t max)
{
    //  flow.submit checked the input map: strings without NUL nor control
    //  characters (proto/ops.def and s_input).
    const json_t *value = ctx->input ? json_object_get (ctx->input, name) : NULL;
    if (!json_is_string (value) || json_string_length (value) > max)
        return NULL;
    return json_string_value (value);
}

const char *
engine_get (const engine_ctx_t *ctx, const char *key)
{
    return json_string_value (json_object_get (ctx->exec->context, key));
}

int
engine_set (engine_ctx_t *ctx, const char *key, json_t *value)
{
    return value ? json_object_set_new (ctx->exec->context, key, value) : -1;
}

//  Appends text to the context's array key, once. 0 ok.
static int
s_context_add (engine_ctx_t *ctx, const char *key, const char *text)
{
    json_t *list = json_object_get (ctx->exec->context, key);
    if (!json_is_array (list)) {
        list = json_array ();
        if (!list || json_object_set_new (ctx->exec->context, key, list) != 0)
            return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v)
    {
        if (!strcmp (json_string_value (v), text))
            return 0;
    }
    return json_array_append_new (list, json_string (text));
}

int
engine_amr_add (engine_ctx_t *ctx, const char *method)
{
    return s_context_add (ctx, "amr", method);
}

int
engine_method_add (engine_ctx_t *ctx, const char *method)
{
    return s_context_add (ctx, "auth_methods", method);
}

db_status_t
engine_audit (engine_ctx_t *ctx, audit_event_t event, const char *sub, json_t *details)
{
    if (!details)
        details = json_object ();
    if (!details ||
        json_object_set_new (details, "flow", json_string (flow_kind_name (ctx->def->kind))) != 0) {
        json_decref (details);
        return DB_ERROR;
    }
    db_status_t st = flow_audit_write (ctx->db, &(audit_record_t){.event = event,
                                                                  .outcome = AUDIT_SUCCESS,
                                                                  .actor = "user",
                                                                  .subject = sub,
                                                                  .address = ctx->client_ip,
                                                                  .details = details});
    json_decref (details);
    return st;
}

db_status_t
engine_user (engine_ctx_t *ctx, json_t **user)
{
    *user = NULL;
    const char *sub = engine_get (ctx, "sub");
    if (!sub)
        return DB_NOT_FOUND;
    return flow_store_user_get (ctx->db, NULL, sub, user);
}

void
engine_email_hint (const char *email, char *out, size_t size)
{
    const char *at = email ? strchr (email, '@') : NULL;
    if (!email)
        snprintf (out, size, "%s", "");
    else if (!at || at == email)
        snprintf (out, size, "%s", email);
    else {
        //  The first character and the domain: enough to recognize one's
        //  own address, too little to learn someone else's. The whole first
        //  UTF-8 character (1 to 4 bytes): half of one is not text.
        int n = 1;
        while (n < 4 && email + n < at && ((unsigned char)email[n] & 0xc0) == 0x80)
            n++;
        snprintf (out, size, "%.*s***%s", n, email, at);
    }
}

void
engine_address_hint (engine_ctx_t *ctx, const char *to, char *out, size_t size)
{
    const char *typed = engine_get (ctx, "identifier");
    if (typed) {
        //  The user was named by what the browser typed (recovery): the page
        //  may show only what was typed, whether or not it names an account
        //  (docs/flows.md: unknown addresses look exactly like known ones). A typed
        //  address is masked as a known one is; a username shows nothing.
        if (strchr (typed, '@'))
            engine_email_hint (typed, out, size);
        else
            snprintf (out, size, "%s", "");
    } else
        //  The user is known from the session or an earlier step.
        engine_email_hint (to, out, size);
}

node_outcome_t
engine_fail_because (engine_ctx_t *ctx, const char *code)
{
    return engine_set (ctx, CTX_FAILURE, json_string (code)) == 0 ? OUT_FAILURE : engine_fail_internal (ctx);
}

node_outcome_t
engine_fail_db (engine_ctx_t *ctx, db_status_t st)
{
    flow_fail_db (ctx->req, st);
    return OUT_ERROR;
}

node_outcome_t
engine_fail_internal (engine_ctx_t *ctx)
{
    flow_fail_internal (ctx->req);
    return OUT_ERROR;
}

const char *
engine_issuer (const engine_ctx_t *ctx)
{
    return ctx->app->cfg ? ctx->app->cfg->issuer : "";
}

static void
s_ctx_clear (engine_ctx_t *ctx)
{
    json_decref (ctx->step);
    json_decref (ctx->extra);
    json_decref (ctx->result);
    secure_free_str (&ctx->pw.rehash);
    free (ctx->pw.old_hash);
    ctx->step = ctx->extra = ctx->result = NULL;
    ctx->pw.old_hash = NULL;
}

//  The definition an execution is pinned to: the loaded one when it is that
//  version, else the graph stored for it (*owned, to destroy).
static const flow_def_t *
s_def_for (db_t *db, const flow_app_t *app, const char *name, int version, flow_def_t **owned)
{
    *owned = NULL;
    const flow_def_t *def = flow_defs_find (app->defs, name);
    if (def && def->version == version)
        return def;
    char *text = NULL;
    if (flow_store_definition_get (db, name, version, &text) != DB_OK)
        return NULL;
    char origin[128], err[512];
    snprintf (origin, sizeof origin, "flow.definitions %s v%d", name, version);
    *owned = flow_def_parse (text, origin, NULL, NULL, err, sizeof err);
    free (text);
    if (!*owned)
        log_error ("flow: %s", err);
    return *owned;
}

//  The node an execution waits at, in the definition it is pinned to
//  (*def; *owned as for s_def_for): NULL when either is gone.
static const flow_node_t *
s_exec_node (db_t *db, const flow_app_t *app, const flow_exec_t *exec, const flow_def_t **def,
             flow_def_t **owned)
{
    *def = s_def_for (db, app, exec->flow_name, exec->flow_version, owned);
    return *def ? flow_def_node (*def, exec->node) : NULL;
}

//  After an execution lookup: 0 when st is DB_OK, else -1 after failing req
//  (no such running execution is invalid_flow).
static int
s_exec_found (bus_req_t *req, db_status_t st)
{
    if (st == DB_OK)
        return 0;
    if (st == DB_NOT_FOUND)
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_FLOW);
    else
        flow_fail_db (req, st);
    return -1;
}

//  ------------------------------------------------------------------ the state object

//  Attempts a node allows before its failure: codes 5, passwords the
//  configured number.
static long
s_node_attempts_max (const engine_ctx_t *ctx, const flow_node_t *node)
{
    if (node && (node->type == NODE_TOTP || node->type == NODE_EMAIL_CODE))
        return ENGINE_CODE_ATTEMPTS;
    return ctx->app->max_attempts;
}

//  The state of proto/ops.md for the execution as it is now.
static json_t *
s_state (engine_ctx_t *ctx)
{
    flow_exec_t *exec = ctx->exec;
    const flow_def_t *def = ctx->def;
    exec_status_t status = EXEC_RUNNING;
    (void)s_status_parse (exec->status, &status);
    json_t *step = NULL;
    if (status == EXEC_SUCCEEDED || status == EXEC_FAILED || status == EXEC_EXPIRED) {
        step = engine_step (status == EXEC_SUCCEEDED ? "done" : "failed", NULL, 0);
        //  Why it failed, when a node said so (engine_fail_because).
        const char *why = status == EXEC_FAILED ? engine_get (ctx, CTX_FAILURE) : NULL;
        if (why)
            engine_step_error (step, why, NULL);
    } else
        step = json_deep_copy (ctx->step ? ctx->step : exec->ui);
    if (!step)
        return NULL;
    if (!json_object_get (step, "type"))
        json_object_set_new (step, "type", json_string (flow_node_type_name (ctx->node->type)));
    long left = s_node_attempts_max (ctx, ctx->node) - exec->node_attempts;
    json_object_set_new (step, "attempts_left", json_integer (left > 0 ? left : 0));
    if (ctx->extra) {
        json_t *data = json_object_get (step, "data");
        if (!json_is_object (data))
            json_object_set_new (step, "data", (data = json_object ()));
        json_object_update (data, ctx->extra);
    }
    //  The session: the one the flow created, else the live one it started with.
    json_t *session = NULL;
    const char *sid = exec->session_sid[0] ? exec->session_sid : NULL;
    if (ctx->session_sid)
        sid = ctx->session_sid;
    if (!sid)
        sid = engine_get (ctx, "session_sid");
    if (sid && sessions_lookup_sid (ctx->db, sid, &session) != DB_OK)
        session = NULL;
    json_t *state =
        json_pack ("{s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o}", "flow_name", exec->flow_name,
                   "version", exec->flow_version, "kind", flow_kind_name (def->kind), "status",
                   status == EXEC_RUNNING ? "running" : exec->status, "node", exec->node, "csrf", exec->csrf,
                   "expires_at", (json_int_t)exec->expires_at, "attempts", (json_int_t)exec->attempts,
                   "session", session ? session : json_null (), "step", step);
    if (state && def->kind == KIND_LOGIN) {
        static const char *const keys[] = {"request_id", "purpose", "login_hint"};
        for (size_t i = 0; i < 3; i++) {
            json_t *v = json_object_get (exec->context, keys[i]);
            if (v)
                json_object_set (state, keys[i], v);
        }
    }
    json_t *locale = json_object_get (exec->context, "locale");
    if (state && json_is_string (locale))
        json_object_set (state, "locale", locale);
    if (state && ctx->result)
        json_object_set (state, "result", ctx->result);
    return state;
}

//  ------------------------------------------------------------------ success

//  RFC 8176 §2: "mfa" when more than one factor was used.
static json_t *
s_amr (engine_ctx_t *ctx)
{
    json_t *amr = json_deep_copy (json_object_get (ctx->exec->context, "amr"));
    if (!json_is_array (amr)) {
        json_decref (amr);
        amr = json_array ();
    }
    if (amr && json_array_size (amr) >= 2)
        json_array_append_new (amr, json_string ("mfa"));
    return amr;
}

//  A new login session for the holder of the flow handle, the session it
//  had before revoked (a new authentication gets a new handle; the old one
//  must not stay valid beside it) and its clients told, in the same
//  transaction (back-channel logout, reason superseded). Sets ctx->result.
static db_status_t
s_issue_session (engine_ctx_t *ctx, const char *sub)
{
    json_t *amr = s_amr (ctx);
    char *handle = NULL;
    int64_t auth_time = 0, expires_at = 0;
    db_status_t st =
        amr ? sessions_create (ctx->db, ctx->app, sub, amr, &handle, ctx->sid_buf, &auth_time, &expires_at)
            : DB_ERROR;
    const char *old = engine_get (ctx, "session_sid");
    if (st == DB_OK && old && strcmp (old, ctx->sid_buf) != 0) {
        json_t *ended = NULL;
        long queued = 0;
        st = flow_store_session_revoke (ctx->db, old, &ended);
        if (st == DB_OK)
            st = sessions_ended (ctx->db, ctx->app, ended, "superseded", &queued);
        json_decref (ended);
    }
    if (st == DB_OK) {
        ctx->session_sid = ctx->sid_buf;
        ctx->result =
            json_pack ("{s:s, s:s, s:s, s:I, s:O, s:I}", "session", handle, "sid", ctx->sid_buf, "sub", sub,
                       "auth_time", (json_int_t)auth_time, "amr", amr, "expires_at", (json_int_t)expires_at);
        if (!ctx->result)
            st = DB_ERROR;
    }
    secure_free_str (&handle);
    json_decref (amr);
    return st;
}

//  The success node: what the flow's kind means (docs/flows.md).
static node_outcome_t
s_success (engine_ctx_t *ctx)
{
    const char *sub = engine_get (ctx, "sub");
    db_status_t st = DB_OK;
    switch (ctx->def->kind) {
    case KIND_LOGIN:
        if (!sub) {
            log_error ("flow %s: reached success without a user", ctx->def->name);
            return OUT_FAILURE;
        }
        //  A success reached through an action token records the user; the
        //  browser's next flow.submit collects the session (s_claim).
        if (ctx->browser)
            st = s_issue_session (ctx, sub);
        //  Disabled since the flow identified them: no session, no login.
        if (st == DB_NOT_FOUND) {
            log_info ("flow %s: the user was disabled during the flow", ctx->def->name);
            return OUT_FAILURE;
        }
        //  The one record of a completed login, with the metric: whichever
        //  methods led here (a password, a link, a code, a second factor).
        if (st == DB_OK) {
            json_t *methods = json_object_get (ctx->exec->context, "auth_methods");
            st = engine_audit (
                ctx, AUDIT_EV_login_succeeded, sub,
                json_pack ("{s:O}", "methods", json_is_array (methods) ? methods : json_array ()));
        }
        if (st == DB_OK)
            metrics_inc (METRIC_LOGINS_SUCCEEDED, NULL);
        break;
    case KIND_VERIFY_EMAIL:
        if (sub)
            st = flow_store_user_email_verified (ctx->db, sub);
        if (sub && st == DB_OK)
            st = engine_audit (ctx, AUDIT_EV_email_verified, sub, json_pack ("{s:s}", "method", "link"));
        break;
    default:
        //  registration: the user was created by its register node;
        //  recovery: set_password set the password and revoked the
        //  sessions; enrollment: the totp node stored the secret.
        break;
    }
    if (st != DB_OK && st != DB_NOT_FOUND)
        return engine_fail_db (ctx, st);
    return OUT_SUCCESS;
}

//  ------------------------------------------------------------------ running a step

//  Follows outcomes from the current node until one stops the execution (a
//  challenge, a wait, or a terminal node), then saves it with one guarded
//  UPDATE. In the caller's transaction. 0 ok, -1 after failing req.
static int
s_run (engine_ctx_t *ctx, node_outcome_t out, const char *from_node)
{
    exec_status_t to = EXEC_RUNNING;
    for (int hops = 0;; hops++) {
        if (out == OUT_ERROR)
            return -1;
        if (hops > HOPS_MAX) {
            log_error ("flow %s v%d: more than %d nodes in one step", ctx->def->name, ctx->def->version,
                       HOPS_MAX);
            return flow_fail_internal (ctx->req);
        }
        if (out == OUT_CHALLENGE || out == OUT_WAIT) {
            to = out == OUT_WAIT ? EXEC_WAITING : EXEC_RUNNING;
            break;
        }
        const char *next = out == OUT_SUCCESS ? ctx->node->on_success : ctx->node->on_failure;
        const flow_node_t *node = next ? flow_def_node (ctx->def, next) : NULL;
        if (!node) {
            //  A failure without a failure edge ends the execution.
            to = EXEC_FAILED;
            break;
        }
        ctx->node = node;
        snprintf (ctx->exec->node, sizeof ctx->exec->node, "%s", node->name);
        ctx->exec->node_attempts = 0;
        json_decref (ctx->step);
        ctx->step = NULL;
        if (node->type == NODE_FAILURE) {
            to = EXEC_FAILED;
            break;
        }
        if (node->type == NODE_SUCCESS) {
            out = s_success (ctx);
            if (out == OUT_SUCCESS) {
                to = EXEC_SUCCEEDED;
                break;
            }
            if (out == OUT_ERROR)
                return -1;
            to = EXEC_FAILED;
            break;
        }
        out = s_ops[node->type].enter (ctx);
    }
    //  A failure edge that led on to more nodes: the reason is not the
    //  execution's.
    if (to != EXEC_FAILED)
        json_object_del (ctx->exec->context, CTX_FAILURE);
    if (to == EXEC_SUCCEEDED || to == EXEC_FAILED) {
        json_decref (ctx->step);
        ctx->step = NULL;
        //  Nothing of a finished execution's working state is kept but the
        //  user and the methods (the browser may still collect a session).
        static const char *const drop[] = {"code_mac", "code_expires", "totp_pending", "code_void"};
        for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
            json_object_del (ctx->exec->context, drop[i]);
    }
    db_status_t st = engine_set_status (ctx, from_node, to, ctx->node->name);
    if (st == DB_NOT_FOUND) {
        bus_req_fail (ctx->req, OST_ERR_INVALID_FLOW, DESC_MOVED);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (ctx->req, st);
    if (to == EXEC_SUCCEEDED || to == EXEC_FAILED)
        log_info ("flow %s v%d execution %lld %s at node %s", ctx->def->name, ctx->def->version,
                  (long long)ctx->exec->id, s_status_names[to], ctx->node->name);
    return 0;
}

//  Commits the step's transaction after checking the deadline again
//  (bus.md, "Deadlines": a caller that gave up must not find a change it
//  never heard of). 0 ok, -1 after failing req (rolled back).
static int
s_commit (engine_ctx_t *ctx, int rc)
{
    if (rc == 0 && bus_req_expired (ctx->req)) {
        bus_req_fail (ctx->req, OST_ERR_DEADLINE_EXCEEDED, DESC_EXPIRED);
        rc = -1;
    }
    if (rc != 0) {
        db_rollback (ctx->db);
        return -1;
    }
    db_status_t st = db_commit (ctx->db);
    if (st != DB_OK) {
        db_rollback (ctx->db);
        return flow_fail_db (ctx->req, st);
    }
    return 0;
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

//  The hashed flow handle of a request; -1 after failing req with invalid_flow.
static int
s_flow_hash (bus_req_t *req, const char *flow, unsigned char hash[FLOW_HASH_BYTES])
{
    if (flow_handle_hash (flow, hash) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_FLOW);
        return -1;
    }
    return 0;
}

//  ------------------------------------------------------------------ flow.start

static const char *const s_purposes[] = {"login", "consent", "select_account"};

int
flow_op_start (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_start_in_t *in = BUS_IN (req, flow_start);
    db_t *db = flow_db (req);
    const flow_app_t *app = flow_app (req);
    const char *name = in->flow ? in->flow : app->login_flow, *request_id = in->request_id;
    const char *hint = in->login_hint, *purpose = in->purpose ? in->purpose : "login";
    const char *client_ip = in->client_ip;
    const flow_def_t *def = flow_defs_find (app->defs, name);
    if (!def) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_UNKNOWN_FLOW);
        return -1;
    }
    if ((request_id && !s_visible_ascii (request_id)) || (def->kind == KIND_LOGIN) != (request_id != NULL)) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_REQUEST_ID);
        return -1;
    }
    int known = 0;
    for (size_t i = 0; i < sizeof s_purposes / sizeof *s_purposes; i++)
        known |= !strcmp (purpose, s_purposes[i]);
    if (!known) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_PURPOSE);
        return -1;
    }
    json_t *session = NULL;
    db_status_t st = DB_OK;
    //  A cookie can hold anything: what is not a live handle is no session.
    if (in->session)
        st = sessions_lookup (db, in->session, &session);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    //  verify_email and enrollment act on the signed-in user.
    int needs_user = def->kind == KIND_VERIFY_EMAIL || def->kind == KIND_ENROLLMENT;
    if (needs_user && !session) {
        bus_req_fail (req, OST_ERR_LOGIN_REQUIRED, DESC_NEED_SESSION);
        return -1;
    }
    json_t *context = json_object ();
    //  The language of the pages and emails, for the whole execution.
    if (context && in->locale && i18n_match (app->i18n, in->locale, strlen (in->locale)))
        json_object_set_new (context, "locale",
                             json_string (i18n_match (app->i18n, in->locale, strlen (in->locale))));
    if (context && request_id) {
        json_object_set_new (context, "request_id", json_string (request_id));
        json_object_set_new (context, "purpose", json_string (purpose));
        //  OpenID Connect Core §3.1.2.1: login_hint only prefills a field.
        if (hint && *hint)
            json_object_set_new (context, "login_hint", json_string (hint));
    }
    //  The browser's session is remembered by its sid (never its handle).
    if (context && session)
        json_object_set (context, "session_sid", json_object_get (session, "sid"));
    if (context && session && needs_user) {
        json_object_set (context, "sub", json_object_get (session, "sub"));
        json_object_set (context, "username", json_object_get (session, "username"));
    }
    json_decref (session);

    unsigned char hash[FLOW_HASH_BYTES];
    char *flow = flow_handle_new (hash);
    char *csrf = secure_token (CSRF_BYTES);
    flow_exec_t exec = {0};
    engine_ctx_t ctx = {
        .req = req, .db = db, .app = app, .def = def, .exec = &exec, .client_ip = client_ip, .browser = 1};
    int rc = -1;
    st = context && flow && csrf ? db_begin (db) : DB_ERROR;
    if (st != DB_OK) {
        flow_fail_db (req, st);
        goto done;
    }
    st = flow_store_exec_start (db, hash, def->name, def->version, def->start, context, csrf, app->flow_ttl,
                                &exec);
    if (st != DB_OK) {
        db_rollback (db);
        flow_fail_db (req, st);
        goto done;
    }
    ctx.node = flow_def_node (def, def->start);
    //  The start node is entered as if an edge led to it (flow_def.c
    //  refuses a start node that ends the flow).
    node_outcome_t out = s_ops[ctx.node->type].enter (&ctx);
    rc = s_commit (&ctx, s_run (&ctx, out, def->start));
    if (rc == 0) {
        *result = s_state (&ctx);
        if (*result && json_object_set_new (*result, "flow", json_string (flow)) == 0)
            log_info ("flow %s v%d execution %lld started", def->name, def->version, (long long)exec.id);
        else
            rc = flow_fail_internal (req);
    }
done:
    json_decref (context);
    secure_free_str (&flow);
    secure_free_str (&csrf);
    s_ctx_clear (&ctx);
    flow_exec_clear (&exec);
    return rc;
}

//  ------------------------------------------------------------------ flow.get

int
flow_op_get (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_get_in_t *in = BUS_IN (req, flow_get);
    db_t *db = flow_db (req);
    unsigned char hash[FLOW_HASH_BYTES];
    if (s_flow_hash (req, in->flow, hash) != 0)
        return -1;
    flow_exec_t exec;
    if (s_exec_found (req, flow_store_exec_get (db, hash, &exec)) != 0)
        return -1;
    flow_def_t *owned = NULL;
    const flow_def_t *def;
    const flow_node_t *node = s_exec_node (db, flow_app (req), &exec, &def, &owned);
    int rc = -1;
    if (!node) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_FLOW);
    } else {
        engine_ctx_t ctx = {
            .req = req, .db = db, .app = flow_app (req), .def = def, .node = node, .exec = &exec};
        exec_status_t status;
        if (s_status_parse (exec.status, &status) == 0 && status == EXEC_RUNNING &&
            s_ops[node->type].redisplay)
            s_ops[node->type].redisplay (&ctx);
        rc = flow_result (req, s_state (&ctx), result);
        s_ctx_clear (&ctx);
    }
    flow_def_destroy (&owned);
    flow_exec_clear (&exec);
    return rc;
}

//  ------------------------------------------------------------------ flow.submit

//  A login that succeeded through an action token: the holder of the flow
//  handle collects its session once (one conditional UPDATE).
static int
s_claim (engine_ctx_t *ctx, const char *csrf, json_t **result)
{
    const char *sub = engine_get (ctx, "sub");
    if (ctx->def->kind != KIND_LOGIN || strcmp (ctx->exec->status, "succeeded") ||
        ctx->exec->session_sid[0] || !sub || !secure_streq (ctx->exec->csrf, csrf)) {
        bus_req_fail (ctx->req, OST_ERR_INVALID_FLOW, DESC_FLOW);
        return -1;
    }
    db_status_t st = db_begin (ctx->db);
    if (st == DB_OK)
        st = s_issue_session (ctx, sub);
    if (st == DB_OK)
        st = flow_store_exec_claim_session (ctx->db, ctx->exec->id, ctx->sid_buf);
    if (st != DB_OK) {
        db_rollback (ctx->db);
        if (st == DB_NOT_FOUND) {
            bus_req_fail (ctx->req, OST_ERR_INVALID_FLOW, DESC_FLOW);
            return -1;
        }
        return flow_fail_db (ctx->req, st);
    }
    if (s_commit (ctx, 0) != 0)
        return -1;
    return flow_result (ctx->req, s_state (ctx), result);
}

//  input (proto/ops.def bounds its members and their length): text
//  without control characters. -1 after failing req.
static int
s_input (bus_req_t *req, const json_t *input)
{
    int ok = 1;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)input, key, value)
    {
        ok = ok && schema_text_ok (json_string_value (value), json_string_length (value), 0);
    }
    if (!ok) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_INPUT);
        return -1;
    }
    return 0;
}

static int
s_submit (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_submit_in_t *in = BUS_IN (req, flow_submit);
    db_t *db = flow_db (req);
    const flow_app_t *app = flow_app (req);
    unsigned char hash[FLOW_HASH_BYTES];
    if (s_flow_hash (req, in->flow, hash) != 0)
        return -1;
    const char *csrf = in->csrf, *node_name = in->node, *client_ip = in->client_ip;
    const json_t *input = in->input;
    //  The token is compared in constant time below; one that is empty or
    //  longer than any we issue is no match.
    if (!*csrf || strlen (csrf) > CSRF_MAX) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_CSRF);
        return -1;
    }
    if (input && s_input (req, input) != 0)
        return -1;

    //  ARCHITECTURE.md, "Security rules": the attempt is counted before
    //  anything is checked, in one UPDATE ... RETURNING, and only at the
    //  node the page was made for.
    flow_exec_t exec;
    db_status_t st = node_name ? flow_store_exec_submit (db, hash, node_name, &exec) : DB_NOT_FOUND;
    int counted = st == DB_OK;
    if (st == DB_NOT_FOUND)
        st = flow_store_exec_get (db, hash, &exec);
    if (s_exec_found (req, st) != 0)
        return -1;
    flow_def_t *owned = NULL;
    const flow_def_t *def;
    const flow_node_t *node = s_exec_node (db, app, &exec, &def, &owned);
    engine_ctx_t ctx = {.req = req,
                        .db = db,
                        .app = app,
                        .def = def,
                        .node = node,
                        .exec = &exec,
                        .input = input,
                        .client_ip = client_ip,
                        .browser = 1};
    int rc = -1;
    if (!node) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_FLOW);
        goto done;
    }
    if (!counted) {
        //  Not running at that node: a login to collect, a stale page, or
        //  a finished execution.
        if (!strcmp (exec.status, "succeeded"))
            rc = s_claim (&ctx, csrf, result);
        else
            bus_req_fail (req, OST_ERR_INVALID_FLOW,
                          strcmp (exec.status, "running") && strcmp (exec.status, "active") ? DESC_FLOW
                                                                                            : DESC_STALE);
        goto done;
    }
    //  The CSRF token binds the form to the flow cookie: constant time.
    if (!secure_streq (exec.csrf, csrf)) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_CSRF);
        goto done;
    }
    const node_ops_t *ops = &s_ops[node->type];
    if (!ops->submit) {
        bus_req_fail (req, OST_ERR_INVALID_FLOW, DESC_STALE);
        goto done;
    }
    node_outcome_t out;
    if (exec.node_attempts > s_node_attempts_max (&ctx, node)) {
        //  A submission that raced past the last one allowed.
        out = OUT_FAILURE;
    } else {
        if (ops->prepare && ops->prepare (&ctx) != 0)
            goto done;
        out = OUT_ERROR;
    }
    if (db_begin (db) != DB_OK) {
        flow_fail_db (req, DB_UNAVAILABLE);
        goto done;
    }
    if (out == OUT_ERROR)
        out = ops->submit (&ctx);
    rc = s_commit (&ctx, s_run (&ctx, out, node->name));
    if (rc == 0)
        rc = flow_result (req, s_state (&ctx), result);
done:
    s_ctx_clear (&ctx);
    flow_def_destroy (&owned);
    flow_exec_clear (&exec);
    return rc;
}

int
flow_op_submit (bus_req_t *req, const json_t *body, json_t **result)
{
    int rc = s_submit (req, body, result);
    //  Whatever happened, passwords and codes do not outlive the step.
    const json_t *input = BUS_IN (req, flow_submit)->input;
    const char *key;
    json_t *value;
    if (input) {
        json_object_foreach ((json_t *)input, key, value)
        {
            flow_arg_wipe (input, key);
        }
    }
    return rc;
}

//  ------------------------------------------------------------------ flow.action_get, flow.action

//  token and purpose of an action request; -1 after failing req.
static int
s_action_args (bus_req_t *req, const char *token, const char *purpose, int any_purpose,
               unsigned char hash[FLOW_HASH_BYTES])
{
    if (strcmp (purpose, ACTION_MAGIC_LINK) && (!any_purpose || strcmp (purpose, ACTION_WEBHOOK_CALLBACK))) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, "purpose must be magic_link or webhook_callback");
        return -1;
    }
    //  A token we never minted is as unknown as one that was deleted.
    if (action_token_hash (flow_app (req), token, hash) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_ACTION, DESC_ACTION);
        return -1;
    }
    return 0;
}

int
flow_op_action_get (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_action_get_in_t *in = BUS_IN (req, flow_action_get);
    db_t *db = flow_db (req);
    const char *purpose = in->purpose;
    unsigned char hash[FLOW_HASH_BYTES];
    if (s_action_args (req, in->token, purpose, 0, hash) != 0)
        return -1;
    //  A mail scanner's GET: nothing changes.
    json_t *info = NULL;
    db_status_t st = flow_store_action_peek (db, hash, purpose, &info);
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_INVALID_ACTION, DESC_ACTION);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    const char *name = json_string_value (json_object_get (info, "flow_name"));
    flow_def_t *owned = NULL;
    const flow_def_t *def =
        name ? s_def_for (db, flow_app (req), name,
                          (int)json_integer_value (json_object_get (info, "version")), &owned)
             : NULL;
    int rc;
    if (!def) {
        rc = flow_fail_internal (req);
    } else {
        json_t *out =
            json_pack ("{s:s, s:s, s:s, s:O}", "purpose", purpose, "flow_name", name, "kind",
                       flow_kind_name (def->kind), "expires_at", json_object_get (info, "expires_at"));
        json_t *hint = json_object_get (info, "email_hint");
        if (out && json_is_string (hint))
            json_object_set (out, "email_hint", hint);
        json_t *locale = json_object_get (info, "locale");
        if (out && json_is_string (locale))
            json_object_set (out, "locale", locale);
        rc = flow_result (req, out, result);
    }
    flow_def_destroy (&owned);
    json_decref (info);
    return rc;
}

int
flow_op_action (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_action_in_t *in = BUS_IN (req, flow_action);
    db_t *db = flow_db (req);
    const flow_app_t *app = flow_app (req);
    const char *purpose = in->purpose, *outcome = in->outcome, *client_ip = in->client_ip;
    unsigned char hash[FLOW_HASH_BYTES];
    if (s_action_args (req, in->token, purpose, 1, hash) != 0)
        return -1;
    int callback = !strcmp (purpose, ACTION_WEBHOOK_CALLBACK);
    if (callback ? !outcome || (strcmp (outcome, "success") && strcmp (outcome, "failure"))
                 : outcome != NULL) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_OUTCOME);
        return -1;
    }
    const json_t *data = in->data;
    if (data) {
        char *text = callback ? json_dumps (data, JSON_COMPACT) : NULL;
        size_t len = text ? strlen (text) : CALLBACK_DATA_MAX + 1;
        free (text);
        if (len > CALLBACK_DATA_MAX) {
            bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_DATA);
            return -1;
        }
    }
    flow_exec_t exec = {0};
    flow_def_t *owned = NULL;
    engine_ctx_t ctx = {
        .req = req, .db = db, .app = app, .exec = &exec, .client_ip = client_ip, .browser = 0};
    int rc = -1;
    if (db_begin (db) != DB_OK) {
        flow_fail_db (req, DB_UNAVAILABLE);
        goto done;
    }
    //  docs/flows.md, "Action tokens": one conditional UPDATE consumes the
    //  token; then the execution must still wait at the token's node, or
    //  the whole transaction (the consumption included) is undone.
    int64_t id = 0;
    char node_name[65];
    db_status_t st = flow_store_action_consume (db, hash, purpose, &id, node_name);
    if (st == DB_OK)
        st = flow_store_exec_lock_waiting (db, id, node_name, &exec);
    if (st == DB_OK) {
        ctx.node = s_exec_node (db, app, &exec, &ctx.def, &owned);
        if (!ctx.node || ctx.node->type != (callback ? NODE_WEBHOOK : NODE_MAGIC_LINK))
            st = DB_NOT_FOUND;
    }
    if (st != DB_OK) {
        db_rollback (db);
        if (st == DB_NOT_FOUND)
            bus_req_fail (req, OST_ERR_INVALID_ACTION, DESC_ACTION);
        else
            flow_fail_db (req, st);
        goto done;
    }
    node_outcome_t out = OUT_SUCCESS;
    if (callback) {
        out = !strcmp (outcome, "success") ? OUT_SUCCESS : OUT_FAILURE;
        //  The outside system's answer joins the context (public data only).
        if (data && engine_set (&ctx, "webhook", json_deep_copy (data)) != 0) {
            db_rollback (db);
            flow_fail_internal (req);
            goto done;
        }
    } else if (engine_amr_add (&ctx, "otp") != 0 || engine_method_add (&ctx, "magic_link") != 0) {
        db_rollback (db);
        flow_fail_internal (req);
        goto done;
    }
    rc = s_commit (&ctx, s_run (&ctx, out, node_name));
    if (rc == 0) {
        exec_status_t status = EXEC_RUNNING;
        (void)s_status_parse (exec.status, &status);
        *result =
            json_pack ("{s:s, s:s, s:s, s:s}", "flow_name", exec.flow_name, "kind",
                       flow_kind_name (ctx.def->kind), "status", s_status_names[status], "node", exec.node);
        rc = flow_result (req, *result, result);
        log_info ("flow %s execution %lld resumed by %s", exec.flow_name, (long long)exec.id, purpose);
    }
done:
    s_ctx_clear (&ctx);
    flow_def_destroy (&owned);
    flow_exec_clear (&exec);
    return rc;
}
