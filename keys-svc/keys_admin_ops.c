/*  keys_admin_ops - the admin commands status, list, rotate and retire as
 *  bus ops (keys.key_*), for operators on the bus and, through
 *  keys.admin_call, for an admin of the admin API (proto/bus.md, "Acting
 *  for an admin"). They run the admin socket's own functions
 *  (keys_admin_run): one implementation, audited alike, with the actor
 *  admin:<sub> or admin. keys-svc does not take the gateway's word for who
 *  acts: token-svc verifies the admin's token (token.admin_check). */
#include "admin_call.h"
#include "keys_admin.h"
#include "keys_ops.h"
#include "service.h"

//  Runs the command name with the op's body as its arguments; *result
//  {member: the command's result}, or the result itself when member is
//  NULL (list's result is already the op's).
static int
s_command (bus_req_t *req, const char *name, const json_t *body, const char *member, json_t **result)
{
    db_t *db = keys_thread_db (req);
    if (!db)
        return -1;
    //  The description outlives the handler: the reply is sent after it.
    static _Thread_local keys_err_t err;
    json_t *out = NULL;
    if (keys_admin_run (req->app, db, req->actor ? req->actor : "admin", name, body, &out, &err) != 0) {
        bus_req_fail (req, err.err, err.description);
        return -1;
    }
    *result = member ? json_pack ("{s:o}", member, out) : out;
    if (!*result) {
        bus_req_fail (req, OST_ERR_SERVER_ERROR, "out of memory");
        return -1;
    }
    return 0;
}

int
keys_op_key_status (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (BUS_IN (req, keys_key_status));
    return s_command (req, "status", body, "status", result);
}

int
keys_op_key_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (BUS_IN (req, keys_key_list));
    return s_command (req, "list", body, NULL, result);
}

int
keys_op_key_rotate (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (BUS_IN (req, keys_key_rotate));
    return s_command (req, "rotate", body, "rotation", result);
}

int
keys_op_key_retire (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (BUS_IN (req, keys_key_retire));
    return s_command (req, "retire", body, "retirement", result);
}

int
keys_op_admin_call (bus_req_t *req, const json_t *body, json_t **result)
{
    const keys_admin_call_in_t *in = BUS_IN (req, keys_admin_call);
    OST_UNUSED (body);
    //  The op first: nothing is asked of the token for an op no admin may run.
    bus_handler_fn handler;
    const op_def_t *def = admin_call_op (keys_routes, keys_nroutes, "keys", in->op, &handler);
    if (!def) {
        bus_req_fail (req, OST_ERR_FORBIDDEN, ADMIN_CALL_DESC_FORBIDDEN);
        return -1;
    }
    service_thread_t *thread = req->thread_state;
    char sub[256];
    if (admin_call_verify (req, thread ? thread->bus : NULL, in->admin_token, sub, sizeof sub))
        return -1;
    return admin_call_run (req, def, handler, sub, in->body, result);
}
