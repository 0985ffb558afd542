/*  admin_call - flow.admin_call: one of flow-svc's admin ops run for an
 *  admin authenticated by an access token (proto/bus.md, "Acting for an
 *  admin"). flow-svc does not take the gateway's word for who acts: it asks
 *  token-svc to verify the token (token.admin_check: admin scope, admin
 *  client, the admin role asked again here), then runs the op as if the
 *  admin role had called it, with the actor admin:<sub> in its audit
 *  events. */
#include "flow_ops.h"
#include "log.h"
#include "ops.h"
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MARGIN_MS 200

//  The description of a refused inner request: the thread's own, kept
//  until its next request (the reply is sent before that).
static _Thread_local char s_why[SCHEMA_WHY_MAX + 32];

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
    const op_def_t *def = proto_op (in->op);
    bus_handler_fn handler = NULL;
    for (size_t i = 0; def && i < flow_nroutes; i++)
        if (!strcmp (flow_routes[i].op, def->name))
            handler = flow_routes[i].handler;
    if (!def || !handler || strcmp (def->service, "flow") != 0 ||
        !proto_may_call (BUS_ROLE_ADMIN, def->name)) {
        bus_req_fail (req, OST_ERR_FORBIDDEN, "the admin role may not call this op");
        return -1;
    }
    char sub[256], actor[300];
    if (s_verify (req, in->admin_token, sub, sizeof sub))
        return -1;
    snprintf (actor, sizeof actor, "admin:%s", sub);

    json_t *inner_body = in->body ? json_incref ((json_t *)in->body) : json_object ();
    void *inner_in = inner_body ? calloc (1, def->in->size) : NULL;
    if (!inner_in) {
        json_decref (inner_body);
        return flow_fail_internal (req);
    }
    char what[SCHEMA_WHY_MAX];
    if (schema_unpack (def->in, inner_body, inner_in, what, sizeof what) != 0) {
        free (inner_in);
        json_decref (inner_body);
        snprintf (s_why, sizeof s_why, "invalid request: %s", what);
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, s_why);
        return -1;
    }
    bus_req_t inner = *req;
    inner.op = def->name;
    inner.in = inner_in;
    inner.actor = actor;
    inner.err_description = NULL;
    json_t *out = NULL;
    int rc = handler (&inner, inner_body, &out);
    free (inner_in);
    json_decref (inner_body);
    if (rc) {
        req->err = inner.err;
        req->err_description = inner.err_description;
        return -1;
    }
    return flow_result (req, json_pack ("{s:o}", "result", out ? out : json_null ()), result);
}
