/*  token-svc operations: the static op → handler table of the service. */
#include "token_ops.h"
#include "service.h"

#include <unistd.h>
#include "token_store.h"

//  token.health: the worker thread can reach its database.
static int
s_health (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    if (token_store_ping (thread->db)) {
        bus_req_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the token database is not reachable");
        return -1;
    }
    //  The instance lets operators and tests see which replica answered.
    char host[64] = "";
    gethostname (host, sizeof host - 1);
    *result = json_pack ("{s:s,s:s,s:i}", "status", "ok", "host", host, "pid", (int) getpid ());
    return 0;
}

const bus_route_t token_routes[] = {
    {"token.health", s_health},
};
const size_t token_nroutes = sizeof token_routes / sizeof token_routes[0];
