/*  token_service - token-svc's service definition. */
#include "token_service.h"
#include "janitor.h"
#include "token_app.h"
#include "token_ops.h"
#include "token_store.h"

#include <stdio.h>

static void *
s_app_init (const config_t *cfg, db_t *db, const bus_curve_t *curve, int *exit_code)
{
    OST_UNUSED (curve);
    OST_UNUSED (db);
    token_app_t *app = token_app_new (cfg);
    if (app) {
        app->janitor = token_janitor_new (cfg);
        if (!app->janitor) {
            fprintf (stderr, "token-svc: cannot start the janitor thread\n");
            token_app_destroy (&app);
            *exit_code = 1;
        }
    }
    return app;
}

static void
s_app_fini (void *app)
{
    token_app_t *self = app;
    token_janitor_destroy (&self->janitor);
    token_app_destroy (&self);
}

service_def_t
token_service_def (void)
{
    service_def_t def = {
        .name = "token",
        .req_flag = CFG_REQ_TOK,
        .routes = token_routes,
        .nroutes = token_nroutes,
        .app_init = s_app_init,
        .app_fini = s_app_fini,
        //  Every worker thread prepares the statements of token_store.c on its
        //  own connection (and db_t prepares them again after a reconnect).
        .prepare = token_store_prepare,
    };
    return def;
}
