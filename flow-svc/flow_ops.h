/*  flow_ops - the op → handler table of flow-svc and what the handler
 *  families (users.c, sessions.c, engine.c, ...) share. */
#ifndef FLOW_OPS_H
#define FLOW_OPS_H

#include "bus_worker.h"
#include "db.h"
#include "flow_app.h"

extern const bus_route_t flow_routes[];
extern const size_t flow_nroutes;

//  The worker thread's database connection and the process settings.
db_t *flow_db (const bus_req_t *req);
const flow_app_t *flow_app (const bus_req_t *req);
//  Fails req for a storage status other than DB_OK and DB_NOT_FOUND:
//  temporarily_unavailable when the database is away or asks for a retry,
//  server_error otherwise. Returns -1.
int flow_fail_db (bus_req_t *req, db_status_t st);
//  Fails req with server_error "internal error". Returns -1.
int flow_fail_internal (bus_req_t *req);
//  Sets *result to obj, or fails req when obj is NULL (allocation failure).
int flow_result (bus_req_t *req, json_t *obj, json_t **result);

//  users.c
int flow_op_user_add (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_list (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_get (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_passwd (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_disable (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_set_admin (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_roles (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_totp_reset (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_sessions (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_session_revoke (bus_req_t *req, const json_t *body, json_t **result);
//  admin_call.c
int flow_op_admin_call (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_user_claims (bus_req_t *req, const json_t *body, json_t **result);
//  sessions.c
int flow_op_session_get (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_session_touch (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_session_end (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_session_list (bus_req_t *req, const json_t *body, json_t **result);
//  engine.c
int flow_op_start (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_get (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_submit (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_action_get (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_action (bus_req_t *req, const json_t *body, json_t **result);

#endif
