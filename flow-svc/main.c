/*  flow-svc - users, login sessions and authentication flows: the flow
 *  engine (docs/flows.md). Executions are rows: a restart loses
 *  nothing. */
#include "flow_app.h"
#include "flow_ops.h"
#include "flow_store.h"
#include "service.h"

static void *
s_app_init (const config_t *cfg, db_t *db)
{
    return flow_app_new (cfg, db);
}

static void
s_app_fini (void *app)
{
    flow_app_t *self = app;
    flow_app_destroy (&self);
}

int
main (int argc, char **argv)
{
    service_def_t def = {
        .name = "flow",
        .req_flag = CFG_REQ_FLOW,
        .routes = flow_routes,
        .nroutes = flow_nroutes,
        .app_init = s_app_init,
        .app_fini = s_app_fini,
        .prepare = flow_store_prepare,
    };
    return service_main (argc, argv, &def);
}
