/*  flow_service - flow-svc's service definition. */
#include "flow_service.h"
#include "flow_app.h"
#include "flow_ops.h"
#include "flow_store.h"

static void *
s_app_init (const config_t *cfg, db_t *db, const bus_curve_t *curve, int *exit_code)
{
    OST_UNUSED (exit_code);
    return flow_app_new (cfg, db, curve);
}

static void
s_app_fini (void *app)
{
    flow_app_t *self = app;
    flow_app_destroy (&self);
}

service_def_t
flow_service_def (void)
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
    return def;
}
