/*  engine - executions of flows (docs/flows.md, "Executions"): the ops
 *  flow.start, flow.get, flow.submit, flow.action_get and flow.action, the
 *  execution state machine, and the node dispatch table. Node handlers live
 *  in nodes_*.c; each returns one outcome and the engine follows the edges.
 *
 *  A step is one transaction: the node's effects, the action token it
 *  mints, the outbox row it queues and the guarded save of the execution
 *  (engine_set_status) commit together or not at all. */
#ifndef FLOW_ENGINE_H
#define FLOW_ENGINE_H

#include "bus_worker.h"
#include "db.h"
#include "flow_app.h"
#include "flow_audit.h"
#include "flow_def.h"
#include "flow_store.h"
#include "lockout.h"

#include <jansson.h>

//  Codes typed by the user (TOTP, email and recovery codes): the fifth wrong
//  one fails the execution (docs/flows.md, "Node types"); across executions
//  the second-factor lockout of lockout.h applies.
#define ENGINE_CODE_ATTEMPTS 5
//  Longest value of one input field, in bytes.
#define ENGINE_INPUT_MAX 1024

typedef enum {
    OUT_SUCCESS,   //  follow the "success" edge
    OUT_FAILURE,   //  follow the "failure" edge
    OUT_CHALLENGE, //  stay, running, with ctx->step for the browser
    OUT_WAIT,      //  stay, waiting for an action token, with ctx->step
    OUT_ERROR,     //  the handler failed the request (bus_req_fail): roll back
} node_outcome_t;

//  The execution states and the one transition function.
typedef enum { EXEC_RUNNING, EXEC_WAITING, EXEC_SUCCEEDED, EXEC_FAILED, EXEC_EXPIRED } exec_status_t;

typedef struct {
    bus_req_t *req;
    db_t *db;
    const flow_app_t *app;
    const flow_def_t *def;
    const flow_node_t *node; //  the current node
    flow_exec_t *exec;       //  exec->context is the working context
    const json_t *input;     //  flow.submit's input (an object of strings); NULL otherwise
    const char *client_ip;   //  NULL when not given
    int browser;             //  1 when the holder of the flow handle made this request
    json_t *step;            //  the step to show (owned; kept in the ui column)
    json_t *extra;           //  step data for this answer only (owned; never stored)
    json_t *result;          //  the login result for this answer (owned)
    const char *session_sid; //  a session this step created
    char sid_buf[65];
    //  The password node's check, made before the step's transaction.
    struct {
        int done, ok, throttled;
        char sub[65];
        char username[65];
        char *rehash, *old_hash;
    } pw;
    //  A code node's counters, moved before the step's transaction
    //  (lockout_code_before); code_done when they were.
    lockout_code_t code;
    int code_done;
    //  An execution that only identified its user (a recovery): the
    //  account's own code counter ("r:" and its sub). code counts what was
    //  typed, known or not, and is the lock the page shows; this one refuses
    //  silently once locked, so that several names of one account cannot
    //  add up their guesses, and its lock shows nothing (nodes_otp.c).
    lockout_code_t code_account;
    int code_account_done;
} engine_ctx_t;

//  The guarded transition: UPDATE ... WHERE status = exec->status AND node =
//  from_node. Refuses moves the state machine does not have (a finished
//  execution never moves). DB_NOT_FOUND when the execution moved meanwhile.
db_status_t engine_set_status (engine_ctx_t *ctx, const char *from_node, exec_status_t to,
                               const char *to_node);

//  ------------------------------------------------------------------ helpers for nodes

//  A new step {type, fields, error: null, field_errors: {}, data: {}}.
json_t *engine_step (const char *type, const char *const *fields, size_t nfields);
//  A node that asks for input: ctx->step = engine_step (...), and
//  OUT_CHALLENGE (or engine_fail_internal when out of memory).
node_outcome_t engine_challenge (engine_ctx_t *ctx, const char *type, const char *const *fields,
                                 size_t nfields);
//  Sets step.error (and, with field, step.field_errors[field]).
void engine_step_error (json_t *step, const char *code, const char *field);
//  The input field name: a string of at most max bytes, or NULL.
const char *engine_input (const engine_ctx_t *ctx, const char *name, size_t max);
//  The context's string member, or NULL.
const char *engine_get (const engine_ctx_t *ctx, const char *key);
//  Sets a context member (takes value; NULL is ignored). 0 ok.
OST_WUR int engine_set (engine_ctx_t *ctx, const char *key, json_t *value);
//  Adds an RFC 8176 method to the context's amr (once).
OST_WUR int engine_amr_add (engine_ctx_t *ctx, const char *method);
//  Adds a sign-in method (password, magic_link, code, totp, recovery_code)
//  to the context's auth_methods (once): details.methods of the
//  login_succeeded event written when the login completes.
OST_WUR int engine_method_add (engine_ctx_t *ctx, const char *method);
//  Writes the user's event (actor "user", the request's address) about sub,
//  with details (taken; NULL for none) and details.flow, the flow's kind.
//  In the caller's transaction.
OST_WUR db_status_t engine_audit (engine_ctx_t *ctx, audit_event_t event, const char *sub, json_t *details);
//  The user object of the context's sub: DB_OK and *user, DB_NOT_FOUND when
//  there is no sub or no such user.
db_status_t engine_user (engine_ctx_t *ctx, json_t **user);
//  a***@example.com for an address; the typed text for anything else.
void engine_email_hint (const char *email, char *out, size_t size);
//  What a page says an email went to: from the typed identifier when the
//  user was named by one (never from the account, so that a known and an
//  unknown one look the same), else from `to`, the user's address. "" when
//  there is nothing to show (the page then says "your email address").
void engine_address_hint (engine_ctx_t *ctx, const char *to, char *out, size_t size);
//  A node that fails the execution for a reason the failed step shows:
//  step.error of the final state is code (proto/ops.md). OUT_FAILURE.
node_outcome_t engine_fail_because (engine_ctx_t *ctx, const char *code);
//  Fail the request: OUT_ERROR after bus_req_fail.
node_outcome_t engine_fail_db (engine_ctx_t *ctx, db_status_t st);
node_outcome_t engine_fail_internal (engine_ctx_t *ctx);
//  The bus client of the worker thread's service (for nothing yet) and the
//  issuer, for links in emails.
const char *engine_issuer (const engine_ctx_t *ctx);

//  ------------------------------------------------------------------ node handlers (nodes_*.c)

//  enter: the execution arrived at the node. submit: the browser answered
//  the node's step. prepare (optional): work done before the transaction
//  (the password node's lockout counters and Argon2id verification).
//  redisplay (optional): rebuilds step data that is never stored (a TOTP
//  secret being enrolled) for flow.get.
typedef struct {
    node_outcome_t (*enter) (engine_ctx_t *ctx);
    node_outcome_t (*submit) (engine_ctx_t *ctx);
    int (*prepare) (engine_ctx_t *ctx);
    void (*redisplay) (engine_ctx_t *ctx);
} node_ops_t;

//  nodes_auth.c
node_outcome_t nodes_password_enter (engine_ctx_t *ctx);
int nodes_password_prepare (engine_ctx_t *ctx);
node_outcome_t nodes_password_submit (engine_ctx_t *ctx);
node_outcome_t nodes_identify_enter (engine_ctx_t *ctx);
node_outcome_t nodes_identify_submit (engine_ctx_t *ctx);
node_outcome_t nodes_register_enter (engine_ctx_t *ctx);
node_outcome_t nodes_register_submit (engine_ctx_t *ctx);
node_outcome_t nodes_set_password_enter (engine_ctx_t *ctx);
node_outcome_t nodes_set_password_submit (engine_ctx_t *ctx);
//  nodes_otp.c
node_outcome_t nodes_totp_enter (engine_ctx_t *ctx);
int nodes_totp_prepare (engine_ctx_t *ctx);
node_outcome_t nodes_totp_submit (engine_ctx_t *ctx);
void nodes_totp_redisplay (engine_ctx_t *ctx);
node_outcome_t nodes_email_code_enter (engine_ctx_t *ctx);
int nodes_email_code_prepare (engine_ctx_t *ctx);
node_outcome_t nodes_email_code_submit (engine_ctx_t *ctx);
//  nodes_wait.c
node_outcome_t nodes_magic_link_enter (engine_ctx_t *ctx);
node_outcome_t nodes_webhook_enter (engine_ctx_t *ctx);
node_outcome_t nodes_condition_enter (engine_ctx_t *ctx);

#endif
