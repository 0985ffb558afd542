/*  flow_app - process-wide settings of flow-svc, read once at start-up and
 *  shared read-only by every worker thread (req->app). */
#ifndef FLOW_APP_H
#define FLOW_APP_H

#include "config.h"
#include "ost.h"
#include "password.h"

typedef struct {
    password_params_t argon2;
    long session_ttl;  //  seconds
    long flow_ttl;     //  seconds
    long max_attempts; //  password submissions per execution
    size_t min_password_chars;
    //  An Argon2id hash of a random password made with today's parameters:
    //  a login for an unknown user is verified against it, so that it costs
    //  the same time as a login for a known one.
    char *dummy_hash;
} flow_app_t;

//  NULL after printing why to stderr.
flow_app_t *flow_app_new (const config_t *cfg);
void flow_app_destroy (flow_app_t **self_p);

#endif
