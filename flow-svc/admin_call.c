/*  admin_call - flow.admin_call: one of flow-svc's admin ops run for an
 *  admin authenticated by an access token (proto/bus.md, "Acting for an
 *  admin"). flow-svc does not take the gateway's word for who acts: it asks
 *  token-svc to verify the token (token.admin_check: admin scope, admin
 *  client, the admin role asked again), then runs the op as if the admin
 *  role had called it, with the actor admin:<sub> in its audit events. */
#include "admin_call.h"
#include "flow_ops.h"
#include "service.h"

int
flow_op_admin_call (bus_req_t *req, const json_t *body, json_t **result)
{
    const flow_admin_call_in_t *in = BUS_IN (req, flow_admin_call);
    OST_UNUSED (body);
    //  The op first: nothing is asked of the token for an op no admin may run.
    bus_handler_fn handler;
    const op_def_t *def = admin_call_op (flow_routes, flow_nroutes, "flow", in->op, &handler);
    if (!def) {
        bus_req_fail (req, OST_ERR_FORBIDDEN, ADMIN_CALL_DESC_FORBIDDEN);
        return -1;
    }
    service_thread_t *thread = req->thread_state;
    char sub[256];
    if (admin_call_verify (req, thread->bus, in->admin_token, sub, sizeof sub))
        return -1;
    return admin_call_run (req, def, handler, sub, in->body, result);
}
