/*  flow_app - process-wide settings of flow-svc, read once at start-up and
 *  shared read-only by every worker thread (req->app). */
#ifndef FLOW_APP_H
#define FLOW_APP_H

#include "bus_curve.h"
#include "config.h"
#include "db.h"
#include "ost.h"
#include "password.h"

//  OSTIARY_FLOW_SECRET_KEY, decoded.
#define FLOW_KEY_BYTES 32

typedef struct _webhooks_t webhooks_t;
typedef struct _flow_defs_t flow_defs_t;
typedef struct _outbox_t outbox_t;
typedef struct _flow_janitor_t flow_janitor_t;
typedef struct _i18n_t i18n_t;

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
    //  docs/flows.md: flow-svc's own key (HMAC of action tokens,
    //  email and recovery codes; seal.h derives encryption keys from it).
    unsigned char flow_key[FLOW_KEY_BYTES];
    webhooks_t *webhooks;    //  OSTIARY_WEBHOOKS_FILE ("" = an empty set)
    flow_defs_t *defs;       //  flows/*.json, validated and stored
    i18n_t *i18n;            //  the emails' message catalogues (OSTIARY_LOCALES_DIR)
    outbox_t *outbox;        //  the delivery thread (started after the definitions)
    flow_janitor_t *janitor; //  expiry and purge of finished rows (flow_janitor.h)
    char login_flow[65];     //  OSTIARY_LOGIN_FLOW
    long action_ttl;         //  seconds
    long email_code_ttl;     //  seconds
    int email_code_digits;   //  6..8
    const config_t *cfg;     //  the process configuration (outlives the app)
} flow_app_t;

//  NULL after printing why to stderr. db is the start-up connection: the
//  flow definitions are stored through it. curve (NULL: plain) is the
//  process's CURVE key, for the outbox thread's calls to token-svc.
flow_app_t *flow_app_new (const config_t *cfg, db_t *db, const bus_curve_t *curve);
void flow_app_destroy (flow_app_t **self_p);

#endif
