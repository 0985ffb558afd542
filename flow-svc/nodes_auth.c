/*  nodes_auth - the nodes that know users by what they type: password,
 *  identify, register, set_password (docs/flows.md, "Node types"). */
#include "engine.h"
#include "flow_audit.h"
#include "metrics.h"
#include "outbox.h"

#include "flow_ops.h"
#include "lockout.h"
#include "log.h"
#include "password.h"
#include "secure.h"
#include "sessions.h"
#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Longest email address (RFC 5321 §4.5.3.1.3: a path is at most 256 octets
//  with its angle brackets).
#define EMAIL_MAX 254
//  Longest identifier typed at an identify node (a username or an address).
#define IDENTIFIER_MAX 256

//  ------------------------------------------------------------------ password

static const char *const s_password_fields[] = {"username", "password"};

node_outcome_t
nodes_password_enter (engine_ctx_t *ctx)
{
    return engine_challenge (ctx, "password", s_password_fields, 2);
}

//  Before the step's transaction: the lockout counters (each one statement
//  of its own, lockout.h) and always one Argon2id verification, against the
//  dummy hash when there is no user or no password, so that the time taken
//  does not tell whether the username exists (OWASP Authentication Cheat
//  Sheet, "Authentication Responses").
int
nodes_password_prepare (engine_ctx_t *ctx)
{
    const flow_app_t *app = ctx->app;
    const char *username = engine_input (ctx, "username", 256);
    const char *password = engine_input (ctx, "password", PASSWORD_MAX_BYTES);
    size_t pwlen = password ? strlen (password) : 0;
    char folded[USERNAME_MAX + 1];
    flow_cred_t cred = {0};
    int found = 0;
    db_status_t st = DB_OK;
    if (username && users_fold_username (username, strlen (username), folded) == 0) {
        st = flow_store_user_credential (ctx->db, folded, &cred);
        found = st == DB_OK;
        if (st == DB_NOT_FOUND)
            st = DB_OK;
    }
    lockout_verdict_t verdict = LOCKOUT_ACCOUNT;
    if (st == DB_OK)
        st = lockout_before (ctx->db, found ? cred.sub : NULL, ctx->client_ip, &verdict);
    if (st != DB_OK) {
        flow_cred_clear (&cred);
        return flow_fail_db (ctx->req, st);
    }
    const char *against = found && cred.password_hash ? cred.password_hash : app->dummy_hash;
    int verified = password_verify (against, password ? password : "", pwlen);
    int ok = verified && pwlen > 0 && found && cred.password_hash && !cred.disabled && verdict == LOCKOUT_OK;
    //  Only a password verified while no lock was in force resets the count;
    //  a failure that brought the count to the threshold locks (lockout.h).
    if (ok)
        st = lockout_success (ctx->db, cred.sub);
    else if (found && verdict != LOCKOUT_ACCOUNT)
        st = lockout_failure (ctx->db, cred.sub, ctx->client_ip);
    if (st != DB_OK) {
        flow_cred_clear (&cred);
        return flow_fail_db (ctx->req, st);
    }
    ctx->pw.done = 1;
    ctx->pw.ok = ok;
    ctx->pw.throttled = verdict == LOCKOUT_ADDRESS;
    //  A refused attempt's audit event (a login that completes writes
    //  login_succeeded at its success node). The typed username is never
    //  recorded (a password typed into it by mistake would be): an unknown
    //  user has no subject.
    const char *reason = ok                                           ? NULL
                         : verdict == LOCKOUT_ADDRESS                 ? "throttled"
                         : !found                                     ? "unknown_user"
                         : verdict == LOCKOUT_ACCOUNT                 ? "locked"
                         : cred.disabled                              ? "disabled"
                         : !cred.password_hash || !verified || !pwlen ? "wrong_password"
                                                                      : "refused";
    json_t *details = reason ? json_pack ("{s:s, s:s}", "method", "password", "reason", reason) : NULL;
    st = !reason ? DB_OK
         : details
             ? flow_audit_write (ctx->db, &(audit_record_t){.event = AUDIT_EV_login_failed,
                                                            .outcome = verdict != LOCKOUT_OK ? AUDIT_REFUSED
                                                                                             : AUDIT_FAILURE,
                                                            .actor = "user",
                                                            .subject = found ? cred.sub : NULL,
                                                            .address = ctx->client_ip,
                                                            .details = details})
             : DB_ERROR;
    json_decref (details);
    if (st != DB_OK) {
        flow_cred_clear (&cred);
        return flow_fail_db (ctx->req, st);
    }
    if (ok) {
        snprintf (ctx->pw.sub, sizeof ctx->pw.sub, "%s", cred.sub);
        snprintf (ctx->pw.username, sizeof ctx->pw.username, "%s", folded);
        //  A hash made with other parameters than today's is replaced now
        //  that we hold the password (OSTIARY_ARGON2_*).
        if (password_needs_rehash (cred.password_hash, &app->argon2)) {
            ctx->pw.rehash = password_hash (&app->argon2, password, pwlen);
            ctx->pw.old_hash = strdup (cred.password_hash);
        }
    }
    flow_cred_clear (&cred);
    return 0;
}

node_outcome_t
nodes_password_submit (engine_ctx_t *ctx)
{
    if (!ctx->pw.done)
        return engine_fail_internal (ctx);
    if (ctx->pw.ok) {
        if (engine_set (ctx, "sub", json_string (ctx->pw.sub)) != 0 ||
            engine_set (ctx, "username", json_string (ctx->pw.username)) != 0 ||
            //  RFC 8176 §2: "pwd", password-based authentication.
            engine_amr_add (ctx, "pwd") != 0 || engine_method_add (ctx, "password") != 0)
            return engine_fail_internal (ctx);
        //  Guarded by the old hash: a password changed meanwhile stays.
        if (ctx->pw.rehash && ctx->pw.old_hash &&
            flow_store_user_rehash (ctx->db, ctx->pw.sub, ctx->pw.old_hash, ctx->pw.rehash) == DB_OK)
            log_info ("login: password hash upgraded to the configured Argon2id parameters");
        return OUT_SUCCESS;
    }
    log_info ("flow: password refused (attempt %ld of %ld)%s%s", ctx->exec->node_attempts,
              ctx->app->max_attempts, ctx->client_ip ? " from " : "", ctx->client_ip ? ctx->client_ip : "");
    metrics_inc (METRIC_LOGINS_FAILED, METRICS_L (ctx->pw.throttled ? "throttled" : "login_failed"));
    if (ctx->exec->node_attempts >= ctx->app->max_attempts)
        return OUT_FAILURE;
    ctx->step = engine_step ("password", s_password_fields, 2);
    //  One code for a wrong password, an unknown, disabled or locked user.
    engine_step_error (ctx->step, ctx->pw.throttled ? "throttled" : "login_failed", NULL);
    return ctx->step ? OUT_CHALLENGE : engine_fail_internal (ctx);
}

//  ------------------------------------------------------------------ identify

static const char *const s_identify_fields[] = {"identifier"};

node_outcome_t
nodes_identify_enter (engine_ctx_t *ctx)
{
    return engine_challenge (ctx, "identify", s_identify_fields, 1);
}

//  Never tells whether the identifier exists: the outcome is success
//  either way, and only the context learns the sub.
node_outcome_t
nodes_identify_submit (engine_ctx_t *ctx)
{
    const char *id = engine_input (ctx, "identifier", IDENTIFIER_MAX);
    if (!id || !*id) {
        ctx->step = engine_step ("identify", s_identify_fields, 1);
        engine_step_error (ctx->step, "invalid", "identifier");
        return ctx->step ? OUT_CHALLENGE : engine_fail_internal (ctx);
    }
    json_t *user = NULL;
    db_status_t st = DB_NOT_FOUND;
    char folded[USERNAME_MAX + 1];
    if (strchr (id, '@') && strlen (id) <= EMAIL_MAX)
        st = flow_store_user_by_email (ctx->db, id, &user);
    else if (users_fold_username (id, strlen (id), folded) == 0)
        st = flow_store_user_get (ctx->db, folded, NULL, &user);
    if (st != DB_OK && st != DB_NOT_FOUND)
        return engine_fail_db (ctx, st);
    json_object_del (ctx->exec->context, "sub");
    int rc = engine_set (ctx, "identifier", json_string (id));
    if (rc == 0 && user && !json_is_true (json_object_get (user, "disabled"))) {
        rc = engine_set (ctx, "sub", json_incref (json_object_get (user, "sub")));
        if (rc == 0)
            rc = engine_set (ctx, "username", json_incref (json_object_get (user, "username")));
    }
    json_decref (user);
    return rc == 0 ? OUT_SUCCESS : engine_fail_internal (ctx);
}

//  ------------------------------------------------------------------ register, set_password

static const char *const s_register_fields[] = {"username", "email", "password", "password_confirm"};
static const char *const s_set_password_fields[] = {"password", "password_confirm"};

node_outcome_t
nodes_register_enter (engine_ctx_t *ctx)
{
    return engine_challenge (ctx, "register", s_register_fields, 4);
}

node_outcome_t
nodes_set_password_enter (engine_ctx_t *ctx)
{
    return engine_challenge (ctx, "set_password", s_set_password_fields, 2);
}

//  The checks of a new password typed twice: 0 ok, else field errors set.
static int
s_new_password (engine_ctx_t *ctx, json_t *step, const char **password)
{
    *password = engine_input (ctx, "password", PASSWORD_MAX_BYTES);
    const char *confirm = engine_input (ctx, "password_confirm", PASSWORD_MAX_BYTES);
    int bad = 0;
    //  NIST SP 800-63B §5.1.1.2: a minimum length, counted in characters.
    if (!*password || password_chars (*password, strlen (*password)) < ctx->app->min_password_chars) {
        engine_step_error (step, "weak_password", "password");
        bad = 1;
    }
    //  Checked whatever the first check said: every field's error at once.
    if (*password && (!confirm || !secure_streq (*password, confirm))) {
        engine_step_error (step, "mismatch", "password_confirm");
        bad = 1;
    }
    return bad ? -1 : 0;
}

//  An address the outbox can mail: registration must not accept one whose
//  verification code could never be sent.
static int
s_email_ok (const char *email)
{
    return email && strlen (email) <= EMAIL_MAX && outbox_address_ok (email);
}

node_outcome_t
nodes_register_submit (engine_ctx_t *ctx)
{
    json_t *step = engine_step ("register", s_register_fields, 4);
    if (!step)
        return engine_fail_internal (ctx);
    const char *username = engine_input (ctx, "username", 256);
    const char *email = engine_input (ctx, "email", EMAIL_MAX + 1);
    const char *password = NULL;
    char folded[USERNAME_MAX + 1];
    int bad = 0;
    if (!username || users_fold_username (username, strlen (username), folded) != 0) {
        engine_step_error (step, "invalid", "username");
        bad = 1;
    }
    if (!s_email_ok (email)) {
        engine_step_error (step, "invalid", "email");
        bad = 1;
    }
    if (s_new_password (ctx, step, &password) != 0)
        bad = 1;
    if (bad) {
        ctx->step = step;
        return OUT_CHALLENGE;
    }
    char *hash = password_hash (&ctx->app->argon2, password, strlen (password));
    char *sub = secure_token (SUB_BYTES);
    json_t *claims = json_pack ("{s:s}", "email", email);
    json_t *user = NULL;
    db_status_t st = hash && sub && claims
                         ? flow_store_user_insert (ctx->db, sub, folded, hash, 0, claims, &user)
                         : DB_ERROR;
    json_decref (claims);
    free (hash);
    node_outcome_t out = OUT_SUCCESS;
    if (st == DB_CONFLICT) {
        engine_step_error (step, "taken", "username");
        ctx->step = step;
        step = NULL;
        out = OUT_CHALLENGE;
    } else if (st != DB_OK) {
        out = engine_fail_db (ctx, st);
    } else if (engine_set (ctx, "sub", json_string (sub)) != 0 ||
               engine_set (ctx, "username", json_string (folded))) {
        out = engine_fail_internal (ctx);
    } else if ((st = engine_audit (ctx, AUDIT_EV_user_registered, sub,
                                   json_pack ("{s:s}", "username", folded))) != DB_OK) {
        out = engine_fail_db (ctx, st);
    } else {
        log_info ("flow: user registered: sub %s", sub);
    }
    json_decref (step);
    json_decref (user);
    free (sub);
    return out;
}

node_outcome_t
nodes_set_password_submit (engine_ctx_t *ctx)
{
    const char *sub = engine_get (ctx, "sub");
    if (!sub)
        return OUT_FAILURE;
    json_t *step = engine_step ("set_password", s_set_password_fields, 2);
    const char *password = NULL;
    if (!step)
        return engine_fail_internal (ctx);
    if (s_new_password (ctx, step, &password) != 0) {
        ctx->step = step;
        return OUT_CHALLENGE;
    }
    json_decref (step);
    char *hash = password_hash (&ctx->app->argon2, password, strlen (password));
    //  One statement sets the password and revokes every session of the
    //  user: a recovery ends whatever the old password opened. The step's
    //  transaction also queues their back-channel logout.
    json_t *ended = NULL;
    db_status_t st = hash ? flow_store_user_password_sub (ctx->db, sub, hash, &ended) : DB_ERROR;
    free (hash);
    long queued = 0;
    if (st == DB_OK)
        st = sessions_ended (ctx->db, ctx->app, ended, "password", &queued);
    json_decref (ended);
    if (st == DB_NOT_FOUND)
        return OUT_FAILURE;
    if (st == DB_OK)
        st = engine_audit (ctx, AUDIT_EV_password_set, sub, NULL);
    if (st != DB_OK)
        return engine_fail_db (ctx, st);
    log_info ("flow: password set for sub %s; its sessions are revoked", sub);
    return OUT_SUCCESS;
}
