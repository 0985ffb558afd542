/*  health - the gateway's probes (its metrics are served apart, on the
 *  metrics listener: common/metrics_http.h).
 *    GET /healthz  liveness: the process answers HTTP. Never touches the bus,
 *                  so a slow service cannot get the gateway restarted.
 *    GET /readyz   readiness: every service of proto/ops.def has at least one
 *                  live worker, as the broker sees it (mmi.service). A worker
 *                  thread whose database cannot be reached leaves the broker
 *                  until it can (proto/bus.md, "Readiness"), so this is false
 *                  while a service cannot reach its database. In development
 *                  mode with OSTIARY_DEMO_CLIENT_SECRET_FILE, also until that
 *                  file can be read. */
#include "log.h"
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  How long the broker (in this process) gets to answer one mmi.service.
#define READY_TIMEOUT_MS 500
#define READY_RETRY_AFTER 1
#define MAX_SERVICES 16

int
health_live (gw_req_t *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    return http_send (req, 200, "application/json", "no-store", NULL, 0, body, sizeof body - 1);
}

//  The distinct services of the op table, in table order: adding a service's
//  ops to proto/ops.def is what makes readiness wait for it.
static size_t
s_services (const char *out[MAX_SERVICES])
{
    size_t count = 0;
    for (size_t i = 0; i < proto_op_count (); i++) {
        const char *service = proto_op_at (i)->service;
        size_t j = 0;
        while (j < count && strcmp (out[j], service) != 0)
            j++;
        if (j == count && count < MAX_SERVICES)
            out[count++] = service;
    }
    return count;
}

int
health_ready (gw_req_t *req)
{
    const char *services[MAX_SERVICES];
    size_t count = s_services (services);
    json_t *states = json_object ();
    int ready = 1;
    bus_client_t *client = bus_pool_take (req->bus);
    for (size_t i = 0; i < count; i++) {
        int up = client ? bus_client_service_ready (client, services[i], READY_TIMEOUT_MS) : -1;
        json_object_set_new (states, services[i],
                             json_string (up == 1   ? "up"
                                          : up == 0 ? "down"
                                                    : "unknown"));
        if (up != 1)
            ready = 0;
    }
    bus_pool_give (req->bus, client);
    //  Development mode: the demo relying party is part of the suite, ready
    //  once its client exists (OSTIARY_DEMO_CLIENT_SECRET_FILE).
    int demo_waits = demo_pending (req->gw->cfg);
    if (demo_waits)
        ready = 0;
    json_t *body = json_pack ("{s:s,s:o}", "status", ready ? "ready" : "not_ready", "services", states);
    if (demo_waits)
        json_object_set_new (body, "demo", json_string ("waiting for its client secret"));
    int rc;
    if (ready)
        rc = http_send_json (req, 200, body, "no-store", NULL, 0);
    else {
        char seconds[16];
        snprintf (seconds, sizeof seconds, "%d", READY_RETRY_AFTER);
        http_header_t extra[] = {{"Retry-After", seconds}};
        rc = http_send_json (req, 503, body, "no-store", extra, 1);
        log_info (demo_waits ? "not ready: the demo client's secret file cannot be read yet"
                             : "not ready: a service has no live worker");
    }
    json_decref (body);
    return rc;
}
