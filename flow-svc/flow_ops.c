/*  flow-svc operations: the static op → handler table of the service. */
#include "flow_ops.h"
#include "service.h"

#include <unistd.h>
#include "flow_store.h"

//  flow.health: the worker thread can reach its database.
static int
s_health (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    if (flow_store_ping (thread->db)) {
        bus_req_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the flow database is not reachable");
        return -1;
    }
    //  The instance lets operators and tests see which replica answered.
    char host[64] = "";
    gethostname (host, sizeof host - 1);
    *result = json_pack ("{s:s,s:s,s:i}", "status", "ok", "host", host, "pid", (int) getpid ());
    return 0;
}

const bus_route_t flow_routes[] = {
    {"flow.health", s_health},
};
const size_t flow_nroutes = sizeof flow_routes / sizeof flow_routes[0];
