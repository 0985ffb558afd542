/*  token-svc - authorization requests, codes, tokens (issues 3 and 4 fill it in).
 *  Stateless between requests: run as many replicas as the load needs. */
#include "service.h"
#include "token_ops.h"
#include "token_store.h"

int
main (int argc, char **argv)
{
    service_def_t def = {
        .name = "token",
        .req_flag = CFG_REQ_TOK,
        .routes = token_routes,
        .nroutes = token_nroutes,
        .prepare = token_store_prepare,
    };
    return service_main (argc, argv, &def);
}
