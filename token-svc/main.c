/*  token-svc - clients, authorization requests, codes, tokens and userinfo
 *  validation; refresh rotation, revocation, introspection,
 *  client credentials and the janitor thread. Stateless between requests: run as many replicas as
 * the load needs; everything they share is in schema token. */
#include "janitor.h"
#include "service.h"
#include "token_app.h"
#include "token_ops.h"
#include "token_store.h"

#include <stdio.h>

static void *
s_app_init (const config_t *cfg, db_t *db)
{
    OST_UNUSED (db);
    token_app_t *app = token_app_new (cfg);
    if (app) {
        app->janitor = token_janitor_new (cfg);
        if (!app->janitor) {
            fprintf (stderr, "token-svc: cannot start the janitor thread\n");
            token_app_destroy (&app);
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

int
main (int argc, char **argv)
{
    service_def_t def = {
        .name = "token",
        .req_flag = CFG_REQ_TOK,
        .routes = token_routes,
        .nroutes = token_nroutes,
        .app_init = s_app_init,
        .app_fini = s_app_fini,
        //  Every worker thread prepares the statements of token_store.c on
        //  its own connection (and db_t prepares them again after a reconnect).
        .prepare = token_store_prepare,
    };
    return service_main (argc, argv, &def);
}
