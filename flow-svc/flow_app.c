/*  flow_app - settings, the dummy password hash, the flow key, the hooks,
 *  the flow definitions and the outbox thread. */
#include "flow_app.h"
#include "flow_janitor.h"
#include "i18n.h"

#include "b64url.h"
#include "flow_def.h"
#include "flow_store.h"
#include "outbox.h"
#include "secure.h"
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  OSTIARY_FLOW_SECRET_KEY: 32 bytes, base64url without padding (43
//  characters), like OSTIARY_KEK. 0 ok.
static int
s_flow_key (const char *text, unsigned char key[FLOW_KEY_BYTES])
{
    unsigned char buf[FLOW_KEY_BYTES + 1];
    size_t len = text ? strlen (text) : 0;
    long n = len == b64url_encoded_len (FLOW_KEY_BYTES) ? b64url_decode (text, len, buf, sizeof buf) : -1;
    if (n == FLOW_KEY_BYTES)
        memcpy (key, buf, FLOW_KEY_BYTES);
    secure_wipe (buf, sizeof buf);
    return n == FLOW_KEY_BYTES ? 0 : -1;
}

flow_app_t *
flow_app_new (const config_t *cfg, db_t *db, const bus_curve_t *curve)
{
    flow_app_t *self = calloc (1, sizeof *self);
    if (!self) {
        fprintf (stderr, "flow-svc: out of memory\n");
        return NULL;
    }
    //  config.def bounds each value, so the casts cannot truncate.
    self->cfg = cfg;
    self->argon2.t_cost = (uint32_t)cfg->argon2_t_cost;
    self->argon2.m_cost_kib = (uint32_t)cfg->argon2_m_cost_kib;
    self->argon2.parallelism = (uint32_t)cfg->argon2_parallelism;
    self->session_ttl = cfg->session_ttl;
    self->flow_ttl = cfg->flow_ttl;
    self->max_attempts = cfg->login_max_attempts;
    self->min_password_chars = (size_t)cfg->min_password_length;
    self->action_ttl = cfg->action_token_ttl;
    self->email_code_ttl = cfg->email_code_ttl;
    self->email_code_digits = (int)cfg->email_code_digits;
    snprintf (self->login_flow, sizeof self->login_flow, "%s", cfg->login_flow);
    //  RFC 9106 §4: Argon2 requires m >= 8 * p.
    if (self->argon2.m_cost_kib < 8 * self->argon2.parallelism) {
        fprintf (stderr,
                 "flow-svc: OSTIARY_ARGON2_M_COST_KIB must be at least 8 * OSTIARY_ARGON2_PARALLELISM\n");
        goto fail;
    }
    //  Before the dummy hash below and before any worker thread: the bound
    //  on concurrent Argon2id memory is process-wide.
    if (password_limit ((unsigned)cfg->argon2_concurrency) != 0) {
        fprintf (stderr, "flow-svc: cannot set up the Argon2id concurrency limit\n");
        goto fail;
    }
    if (s_flow_key (cfg->flow_secret_key, self->flow_key) != 0) {
        fprintf (stderr,
                 "flow-svc: OSTIARY_FLOW_SECRET_KEY must be 32 bytes encoded as base64url without padding "
                 "(43 characters)\n");
        goto fail;
    }
    char err[1024] = "";
    self->webhooks = webhooks_load (cfg->webhooks_file, (int)cfg->webhook_allow_private, err, sizeof err);
    if (!self->webhooks) {
        fprintf (stderr, "flow-svc: OSTIARY_WEBHOOKS_FILE: %s\n", err);
        goto fail;
    }
    //  docs/flows.md, "Flows as data": every definition is validated before
    //  anything runs, and stored; a stored version with another graph stops
    //  the start ("bump the version").
    self->defs = flow_defs_load (cfg->flows_dir, self->webhooks, err, sizeof err);
    if (!self->defs) {
        fprintf (stderr, "flow-svc: %s\n", err);
        goto fail;
    }
    self->i18n = i18n_new (cfg->locales_dir);
    if (!self->i18n) {
        fprintf (stderr, "flow-svc: OSTIARY_LOCALES_DIR %s: no usable catalogues\n", cfg->locales_dir);
        goto fail;
    }
    if (flow_store_prepare (db) != 0) {
        fprintf (stderr, "flow-svc: cannot prepare the statements of schema flow\n");
        goto fail;
    }
    if (flow_defs_store (self->defs, db, err, sizeof err) != 0) {
        fprintf (stderr, "flow-svc: %s\n", err);
        goto fail;
    }
    if (!flow_defs_find (self->defs, self->login_flow))
        fprintf (stderr,
                 "flow-svc: warning: OSTIARY_LOGIN_FLOW names flow \"%s\", which %s does not define\n",
                 self->login_flow, cfg->flows_dir);
    char *secret = secure_token (32);
    if (secret)
        self->dummy_hash = password_hash (&self->argon2, secret, strlen (secret));
    secure_free_str (&secret);
    if (!self->dummy_hash) {
        fprintf (stderr, "flow-svc: cannot compute an Argon2id hash with the configured parameters\n");
        goto fail;
    }
    self->outbox = outbox_start (cfg, self, curve);
    if (!self->outbox) {
        fprintf (stderr, "flow-svc: cannot start the outbox delivery thread\n");
        goto fail;
    }
    self->janitor = flow_janitor_new (cfg, self);
    if (!self->janitor) {
        fprintf (stderr, "flow-svc: cannot start the janitor thread\n");
        goto fail;
    }
    return self;
fail:
    flow_app_destroy (&self);
    return NULL;
}

void
flow_app_destroy (flow_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    flow_app_t *self = *self_p;
    //  The outbox thread reads the app: it stops first.
    flow_janitor_destroy (&self->janitor);
    outbox_stop (&self->outbox);
    flow_defs_destroy (&self->defs);
    i18n_destroy (&self->i18n);
    webhooks_destroy (&self->webhooks);
    free (self->dummy_hash);
    secure_wipe (self->flow_key, sizeof self->flow_key);
    free (self);
    *self_p = NULL;
}
