/*  keys_service - keys-svc's service definition. */
#include "keys_service.h"
#include "keys_app.h"
#include "keys_control.h"
#include "keys_ops.h"

const bus_route_t keys_routes[] = {
    {"keys.health", keys_op_health},
    {"keys.jwks", keys_op_jwks},
    {"keys.sign", keys_op_sign},
    {"keys.audit_list", keys_op_audit_list},
    {"keys.key_status", keys_op_key_status},
    {"keys.key_list", keys_op_key_list},
    {"keys.key_rotate", keys_op_key_rotate},
    {"keys.key_retire", keys_op_key_retire},
    {"keys.admin_call", keys_op_admin_call},
};
const size_t keys_nroutes = sizeof keys_routes / sizeof keys_routes[0];

//  The control thread (admin socket and janitor) of the process's one
//  keys_app_t, started once it is loaded and stopped before it goes: it
//  uses all of it.
static keys_control_t *s_control;

//  A malformed or wrong KEK is a configuration error (exit 2) that
//  operators and scripts must be able to tell from a runtime failure (1).
static void *
s_app_init (const config_t *cfg, db_t *db, const bus_curve_t *curve, int *exit_code)
{
    OST_UNUSED (curve);
    *exit_code = 1;
    keys_app_t *app = keys_app_new (cfg, db, exit_code);
    if (app && !(s_control = keys_control_new (app, exit_code)))
        keys_app_destroy (&app);
    return app;
}

static void
s_app_fini (void *app)
{
    keys_control_destroy (&s_control);
    keys_app_t *self = app;
    keys_app_destroy (&self);
}

service_def_t
keys_service_def (void)
{
    service_def_t def = {
        .name = "keys",
        .req_flag = CFG_REQ_KEYS,
        .routes = keys_routes,
        .nroutes = keys_nroutes,
        .app_init = s_app_init,
        .app_fini = s_app_fini,
        //  No prepare: the worker threads (and the direct endpoint's) run no
        //  SQL, every op answers from the keyring loaded at start-up and
        //  reloaded by the control thread, so they open no connection;
        //  the ops that use the database (keys.audit_list and the admin
        //  commands) open one in the thread that first serves them.
    };
    return def;
}
