/*  nodes_wait - the nodes that take no input from the browser: magic_link
 *  and async webhooks pause the execution until an action token resumes it
 *  (engine.c, flow.action); sync webhooks and conditions decide at once
 *  (docs/flows.md, "Node types"). */
#include "engine.h"
#include "i18n.h"
#include "metrics.h"

#include "action.h"
#include "lockout.h"
#include "log.h"
#include "outbox.h"
#include "secure.h"
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ------------------------------------------------------------------ magic_link

static node_outcome_t
s_wait_step (engine_ctx_t *ctx, const char *type)
{
    json_decref (ctx->step);
    ctx->step = engine_step (type, NULL, 0);
    if (!ctx->step)
        return engine_fail_internal (ctx);
    const char *hint = engine_get (ctx, "email_hint");
    if (hint)
        json_object_set_new (json_object_get (ctx->step, "data"), "email_hint", json_string (hint));
    return OUT_WAIT;
}

node_outcome_t
nodes_magic_link_enter (engine_ctx_t *ctx)
{
    json_t *user = NULL;
    db_status_t st = engine_user (ctx, &user);
    if (st != DB_OK && st != DB_NOT_FOUND)
        return engine_fail_db (ctx, st);
    const char *to = user && !json_is_true (json_object_get (user, "disabled"))
                         ? json_string_value (json_object_get (user, "email"))
                         : NULL;
    if (to && !outbox_address_ok (to)) {
        log_warn ("flow %s: the user's address cannot be mailed; no link is sent", ctx->def->name);
        to = NULL;
    }
    char hint[300];
    engine_address_hint (ctx, to, hint, sizeof hint);
    int rc = engine_set (ctx, "email_hint", json_string (hint));
    //  Sign-in links count in the same per-account cap as code emails
    //  (lockout.h): above it nothing is minted or queued, and the page is
    //  the same, so a login flow that mails links cannot flood an inbox.
    const char *sub = engine_get (ctx, "sub");
    if (rc == 0 && to && sub) {
        bool allowed = false;
        st = lockout_code_mail (ctx->db, sub, ctx->client_ip, &allowed);
        if (st != DB_OK) {
            json_decref (user);
            return engine_fail_db (ctx, st);
        }
        if (!allowed)
            to = NULL;
    }
    if (rc == 0 && to) {
        //  The token travels only in the email (sealed in the outbox); the
        //  link's GET shows a confirm page and only its POST consumes it.
        char *token = NULL;
        int64_t expires_at = 0;
        st = action_token_mint (ctx->db, ctx->app, ACTION_MAGIC_LINK, ctx->exec->id, ctx->node->name, &token,
                                &expires_at);
        if (st == DB_OK) {
            size_t size = strlen (engine_issuer (ctx)) + strlen (token) + 32;
            char *link = malloc (size);
            if (link)
                snprintf (link, size, "%s/action?token=%s", engine_issuer (ctx), token);
            //  In the language of the flow that sends it (flow.start locale).
            const char *lang = engine_get (ctx, "locale");
            char minutes[32];
            snprintf (minutes, sizeof minutes, "%ld", (ctx->app->action_ttl + 59) / 60);
            const char *args[] = {"product", i18n_get (ctx->app->i18n, lang, "product"),
                                  "link",    link ? link : "",
                                  "minutes", minutes,
                                  NULL};
            char *text = link ? i18n_format (ctx->app->i18n, lang, "email.link.text", args) : NULL;
            char *subject = link ? i18n_format (ctx->app->i18n, lang, "email.link.subject", args) : NULL;
            st = text && subject ? outbox_email (ctx->db, ctx->app, ctx->exec->id, to, subject, text)
                                 : DB_ERROR;
            secure_free_str (&text);
            secure_free_str (&link);
            free (subject);
        }
        secure_free_str (&token);
        if (st != DB_OK) {
            json_decref (user);
            return engine_fail_db (ctx, st);
        }
    }
    json_decref (user);
    if (rc != 0)
        return engine_fail_internal (ctx);
    return s_wait_step (ctx, "magic_link_sent");
}

//  ------------------------------------------------------------------ webhook

//  What an outside system may learn of an execution: names and the user's
//  public identifiers, never a secret (no codes, no handles, no csrf).
static json_t *
s_payload (engine_ctx_t *ctx)
{
    json_t *p =
        json_pack ("{s:s, s:s, s:i, s:s, s:s, s:I}", "event", "flow.webhook", "flow_name", ctx->def->name,
                   "version", ctx->def->version, "kind", flow_kind_name (ctx->def->kind), "node",
                   ctx->node->name, "execution", (json_int_t)ctx->exec->id);
    static const char *const keys[] = {"sub", "username", "webhook"};
    for (size_t i = 0; p && i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get (ctx->exec->context, keys[i]);
        if (v)
            json_object_set (p, keys[i], v);
    }
    return p;
}

node_outcome_t
nodes_webhook_enter (engine_ctx_t *ctx)
{
    const webhook_t *hook = webhooks_find (ctx->app->webhooks, ctx->node->hook);
    if (!hook) {
        //  A version pinned before the hook was removed from the file.
        log_warn ("flow %s: hook %s is not configured; the node fails", ctx->def->name, ctx->node->hook);
        return OUT_FAILURE;
    }
    json_t *payload = s_payload (ctx);
    if (!payload)
        return engine_fail_internal (ctx);
    if (!webhook_is_async (hook)) {
        //  Sync: the answer picks the outcome ({"outcome": "failure"} fails;
        //  any other 2xx answer succeeds); its "data" object joins the context.
        json_t *answer = NULL;
        int rc = webhook_call (hook, payload, &answer);
        metrics_inc (rc == 0 ? METRIC_WEBHOOKS_DELIVERED : METRIC_WEBHOOKS_FAILED, NULL);
        json_decref (payload);
        node_outcome_t out = OUT_FAILURE;
        if (rc == 0) {
            const char *outcome = json_string_value (json_object_get (answer, "outcome"));
            out = outcome && !strcmp (outcome, "failure") ? OUT_FAILURE : OUT_SUCCESS;
            json_t *data = json_object_get (answer, "data");
            if (json_is_object (data) && engine_set (ctx, "webhook", json_deep_copy (data)) != 0)
                out = engine_fail_internal (ctx);
        } else {
            log_warn ("flow %s: hook %s failed; the node fails", ctx->def->name, ctx->node->hook);
        }
        json_decref (answer);
        return out;
    }
    //  Async: the outbox delivers the payload with a callback token; the
    //  execution waits until flow.action brings the outcome.
    char *token = NULL;
    int64_t expires_at = 0;
    db_status_t st = action_token_mint (ctx->db, ctx->app, ACTION_WEBHOOK_CALLBACK, ctx->exec->id,
                                        ctx->node->name, &token, &expires_at);
    if (st == DB_OK) {
        //  docs/flows.md, "Gateway endpoints": the outside system calls back
        //  at the issuer's /flows/callback with the token as a bearer token.
        char url[512];
        snprintf (url, sizeof url, "%s/flows/callback", engine_issuer (ctx));
        json_t *cb = json_pack ("{s:s, s:s, s:s, s:I}", "token", token, "purpose", ACTION_WEBHOOK_CALLBACK,
                                "url", url, "expires_at", (json_int_t)expires_at);
        st = cb && json_object_set_new (payload, "callback", cb) == 0
                 ? outbox_webhook (ctx->db, ctx->app, ctx->exec->id, ctx->node->hook, payload)
                 : DB_ERROR;
        //  The token in the payload is wiped before it is freed (jansson
        //  allocated the string; it is ours to overwrite).
        json_t *t = json_object_get (json_object_get (payload, "callback"), "token");
        if (t)
            secure_wipe ((char *)json_string_value (t), json_string_length (t));
    }
    secure_free_str (&token);
    json_decref (payload);
    if (st != DB_OK)
        return engine_fail_db (ctx, st);
    return s_wait_step (ctx, "webhook_wait");
}

//  ------------------------------------------------------------------ condition

node_outcome_t
nodes_condition_enter (engine_ctx_t *ctx)
{
    json_t *user = NULL;
    db_status_t st = engine_user (ctx, &user);
    if (st != DB_OK && st != DB_NOT_FOUND)
        return engine_fail_db (ctx, st);
    int yes = 0;
    switch (ctx->node->test) {
    case TEST_USER_KNOWN:
        yes = user != NULL;
        break;
    case TEST_HAS_EMAIL:
        yes = user && json_is_string (json_object_get (user, "email"));
        break;
    case TEST_EMAIL_VERIFIED:
        yes = user && json_is_true (json_object_get (user, "email_verified"));
        break;
    case TEST_HAS_PASSWORD:
        yes = user && json_is_true (json_object_get (user, "has_password"));
        break;
    case TEST_TOTP_ENROLLED:
        if (user) {
            char *sealed = NULL;
            int64_t last = -1;
            st = flow_store_totp_get (ctx->db, engine_get (ctx, "sub"), &sealed, &last);
            free (sealed);
            if (st != DB_OK && st != DB_NOT_FOUND) {
                json_decref (user);
                return engine_fail_db (ctx, st);
            }
            yes = st == DB_OK;
        }
        break;
    default:
        break;
    }
    json_decref (user);
    return yes ? OUT_SUCCESS : OUT_FAILURE;
}
