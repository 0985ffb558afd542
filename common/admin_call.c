/*  admin_call - the shared part of the admin envelopes. See admin_call.h. */
#include "admin_call.h"

#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  An actor is "admin:" and a sub of at most 255 bytes.
#define ACTOR_MAX 300

//  The description of a refused inner request: the thread's own, kept
//  until its next request (the reply is sent before that).
static _Thread_local char s_why[SCHEMA_WHY_MAX + 32];

const op_def_t *
admin_call_op (const bus_route_t *routes, size_t nroutes, const char *service, const char *op,
               bus_handler_fn *handler)
{
    *handler = NULL;
    const op_def_t *def = proto_op (op);
    const bus_route_t *route = def ? bus_route_find (routes, nroutes, def->name) : NULL;
    if (!route || !route->handler || !service || strcmp (def->service, service) != 0 ||
        !proto_may_call (BUS_ROLE_ADMIN, def->name))
        return NULL;
    *handler = route->handler;
    return def;
}

int
admin_call_run (bus_req_t *req, const op_def_t *def, bus_handler_fn handler, const char *sub,
                const json_t *body, json_t **result)
{
    char actor[ACTOR_MAX];
    snprintf (actor, sizeof actor, "admin:%s", sub);
    json_t *inner_body = body ? json_incref ((json_t *)body) : json_object ();
    void *inner_in = inner_body ? calloc (1, def->in->size) : NULL;
    if (!inner_in) {
        json_decref (inner_body);
        bus_req_fail (req, OST_ERR_SERVER_ERROR, "out of memory");
        return -1;
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
    inner.err = OST_ERR_SERVER_ERROR;
    inner.err_description = NULL;
    json_t *out = NULL;
    int rc = handler (&inner, inner_body, &out);
    free (inner_in);
    json_decref (inner_body);
    if (rc) {
        bus_req_fail (req, inner.err, inner.err_description);
        return -1;
    }
    *result = json_pack ("{s:o}", "result", out ? out : json_null ());
    if (!*result) {
        bus_req_fail (req, OST_ERR_SERVER_ERROR, "out of memory");
        return -1;
    }
    return 0;
}
