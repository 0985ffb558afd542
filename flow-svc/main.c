/*  flow-svc - users, login sessions and authentication flows (issues 3 and 6 fill it in).
 *  Executions are rows: a restart loses nothing. */
#include "service.h"
#include "flow_ops.h"
#include "flow_store.h"

int
main (int argc, char **argv)
{
    service_def_t def = {
        .name = "flow",
        .req_flag = CFG_REQ_TOK,
        .routes = flow_routes,
        .nroutes = flow_nroutes,
        .prepare = flow_store_prepare,
    };
    return service_main (argc, argv, &def);
}
