/*  flow_app - settings and the dummy password hash. */
#include "flow_app.h"

#include "secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

flow_app_t *
flow_app_new (const config_t *cfg)
{
    flow_app_t *self = calloc (1, sizeof *self);
    if (!self) {
        fprintf (stderr, "flow-svc: out of memory\n");
        return NULL;
    }
    //  config.def bounds each value, so the casts cannot truncate.
    self->argon2.t_cost = (uint32_t)cfg->argon2_t_cost;
    self->argon2.m_cost_kib = (uint32_t)cfg->argon2_m_cost_kib;
    self->argon2.parallelism = (uint32_t)cfg->argon2_parallelism;
    self->session_ttl = cfg->session_ttl;
    self->flow_ttl = cfg->flow_ttl;
    self->max_attempts = cfg->login_max_attempts;
    self->min_password_chars = (size_t)cfg->min_password_length;
    //  RFC 9106 §4: Argon2 requires m >= 8 * p.
    if (self->argon2.m_cost_kib < 8 * self->argon2.parallelism) {
        fprintf (stderr,
                 "flow-svc: OSTIARY_ARGON2_M_COST_KIB must be at least 8 * OSTIARY_ARGON2_PARALLELISM\n");
        flow_app_destroy (&self);
        return NULL;
    }
    char *secret = secure_token (32);
    if (secret)
        self->dummy_hash = password_hash (&self->argon2, secret, strlen (secret));
    secure_free_str (&secret);
    if (!self->dummy_hash) {
        fprintf (stderr, "flow-svc: cannot compute an Argon2id hash with the configured parameters\n");
        flow_app_destroy (&self);
        return NULL;
    }
    return self;
}

void
flow_app_destroy (flow_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    flow_app_t *self = *self_p;
    free (self->dummy_hash);
    free (self);
    *self_p = NULL;
}
