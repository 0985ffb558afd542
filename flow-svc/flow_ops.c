/*  flow-svc operations: the static op → handler table of the service. */
#include "flow_ops.h"
#include "service.h"

#include "flow_audit.h"
#include "flow_store.h"
#include "lockout.h"
#include "settings.h"
#include <unistd.h>

#define DESC_INTERNAL "internal error"
#define DESC_DB_AWAY "the flow database is not available; try again"

db_t *
flow_db (const bus_req_t *req)
{
    return ((service_thread_t *)req->thread_state)->db;
}

const flow_app_t *
flow_app (const bus_req_t *req)
{
    return req->app;
}

int
flow_fail_db (bus_req_t *req, db_status_t st)
{
    if (st == DB_UNAVAILABLE || st == DB_RETRY)
        bus_req_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, DESC_DB_AWAY);
    else
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    return -1;
}

int
flow_fail_internal (bus_req_t *req)
{
    bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    return -1;
}

int
flow_result (bus_req_t *req, json_t *obj, json_t **result)
{
    if (!obj)
        return flow_fail_internal (req);
    *result = obj;
    return 0;
}

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
    *result = json_pack ("{s:s,s:s,s:i}", "status", "ok", "host", host, "pid", (int)getpid ());
    return 0;
}

const bus_route_t flow_routes[] = {
    {"flow.health", s_health},
    {"flow.user_add", flow_op_user_add},
    {"flow.user_list", flow_op_user_list},
    {"flow.user_get", flow_op_user_get},
    {"flow.user_passwd", flow_op_user_passwd},
    {"flow.user_disable", flow_op_user_disable},
    {"flow.user_set_admin", flow_op_user_set_admin},
    {"flow.user_roles", flow_op_user_roles},
    {"flow.admin_call", flow_op_admin_call},
    {"flow.user_claims", flow_op_user_claims},
    {"flow.session_get", flow_op_session_get},
    {"flow.session_touch", flow_op_session_touch},
    {"flow.session_end", flow_op_session_end},
    {"flow.session_list", flow_op_session_list},
    //  the flow engine (engine.c)
    {"flow.start", flow_op_start},
    {"flow.get", flow_op_get},
    {"flow.submit", flow_op_submit},
    {"flow.action_get", flow_op_action_get},
    {"flow.action", flow_op_action},
    //  lockout, runtime settings and audit (lockout.c, settings.c, audit.c)
    {"flow.settings_list", flow_op_settings_list},
    {"flow.settings_set", flow_op_settings_set},
    {"flow.user_unlock", flow_op_user_unlock},
    {"flow.user_totp_reset", flow_op_user_totp_reset},
    {"flow.user_sessions", flow_op_user_sessions},
    {"flow.user_session_revoke", flow_op_user_session_revoke},
    {"flow.audit_list", flow_op_audit_list},
};
const size_t flow_nroutes = sizeof flow_routes / sizeof flow_routes[0];
