/*  keys-svc - the only process that holds private signing keys. It
 *  generates them (RS256, ES256, EdDSA), keeps them encrypted at rest under
 *  OSTIARY_KEK, publishes the public JWKS and signs the JWTs it frames
 *  itself. See ARCHITECTURE.md, "Keys". */
#include "keys_app.h"
#include "keys_control.h"
#include "keys_ops.h"
#include "service.h"

static const bus_route_t s_routes[] = {
    {"keys.health", keys_op_health},
    {"keys.jwks", keys_op_jwks},
    {"keys.sign", keys_op_sign},
};

//  The exit code a failed start-up asks for: service_main reports any
//  app_init failure alike, but a malformed or wrong KEK is a configuration
//  error (exit 2) that operators and scripts must be able to tell apart.
//  Written by app_init on the main thread before any worker exists.
static int s_startup_exit;
//  The control thread (admin socket and janitor) of the one keys_app_t,
//  started once it is loaded and stopped before it goes: it uses all of it.
static keys_control_t *s_control;

static void *
s_app_init (const config_t *cfg, db_t *db)
{
    int code = 1;
    keys_app_t *app = keys_app_new (cfg, db, &code);
    if (app && !(s_control = keys_control_new (app, &code)))
        keys_app_destroy (&app);
    if (!app)
        s_startup_exit = code;
    return app;
}

static void
s_app_fini (void *app)
{
    keys_control_destroy (&s_control);
    keys_app_t *self = app;
    keys_app_destroy (&self);
}

static const service_def_t s_def = {
    .name = "keys",
    .req_flag = CFG_REQ_KEYS,
    .routes = s_routes,
    .nroutes = sizeof s_routes / sizeof s_routes[0],
    .app_init = s_app_init,
    .app_fini = s_app_fini,
    //  No prepare: the worker threads (and the direct endpoint's) run no
    //  SQL, every op answers from the keyring loaded at start-up and
    //  reloaded by the control thread, so they open no connection.
};

int
main (int argc, char **argv)
{
    int rc = service_main (argc, argv, &s_def);
    return s_startup_exit ? s_startup_exit : rc;
}
