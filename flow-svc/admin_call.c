/*  admin_call - flow.admin_call: one of flow-svc's admin ops run for an
 *  admin authenticated by an access token (proto/bus.md, "Acting for an
 *  admin"). flow-svc does not take the gateway's word for who acts: it asks
 *  token-svc to verify the token (token.admin_check: admin scope, admin
 *  client, the admin role asked again here), then runs the op as if the
 *  admin role had called it, with the actor admin:<sub> in its audit
 *  events. */
#include "admin_call.h"
#include "flow_ops.h"
#include "log.h"
#include "ops.h"
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MARGIN_MS 200

//  token.admin_check of token: 0 with the admin's sub in sub, or -1 after
//  failing req with token-svc's answer.
static int
s_verify (bus_req_t *req, const char *token, char *sub, size_t size)
{
    service_thread_t *thread = req->thread_state;
    int left = bus_req_time_left_ms (req, REPLY_MARGIN_MS);
    token_admin_check_in_t in = {.access_token = token};
    json_t *body = token_admin_check_in_pack (&in);
    json_t *res = NULL;
    bus_error_t error;
    int rc =
        body && left > 0 ? bus_client_call (thread->bus, "token.admin_check", body, left, &res, &error) : -1;
    json_decref (body);
    token_admin_check_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc != 0) {
        json_decref (res);
        if (!body || left <= 0) {
            bus_req_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the admin could not be verified now");
            return -1;
        }
        //  token-svc's verdict, passed on: its code is one of ours.
        ost_err_t err = error.err == OST_ERR_INVALID_TOKEN || error.err == OST_ERR_INSUFFICIENT_SCOPE ||
                                error.err == OST_ERR_FORBIDDEN
                            ? error.err
                            : OST_ERR_TEMPORARILY_UNAVAILABLE;
        bus_req_fail (req, err,
                      err == OST_ERR_INVALID_TOKEN        ? "the access token is invalid"
                      : err == OST_ERR_INSUFFICIENT_SCOPE ? "the access token lacks the admin scope"
                      : err == OST_ERR_FORBIDDEN          ? "the user does not hold the admin role"
                                                          : "the admin could not be verified now");
        return -1;
    }
    if (token_admin_check_out_unpack (res, &out, why, sizeof why) != 0) {
        json_decref (res);
        log_error ("token.admin_check answered a result outside proto/ops.def: %s", why);
        return flow_fail_internal (req);
    }
    snprintf (sub, size, "%s", out.sub);
    json_decref (res);
    return 0;
}

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
    char sub[256];
    if (s_verify (req, in->admin_token, sub, sizeof sub))
        return -1;
    return admin_call_run (req, def, handler, sub, in->body, result);
}
