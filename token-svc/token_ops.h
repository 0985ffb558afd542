/*  token_ops - the op → handler table of token-svc and its handlers, one
 *  file per family: clients.c, authorize.c, code.c, tokens.c (with refresh.c
 *  and client_credentials.c), userinfo.c, revoke.c, introspect.c.
 *  Requests and results are those of proto/ops/token.def. */
#ifndef TOKEN_OPS_H
#define TOKEN_OPS_H

#include "bus_worker.h"

extern const bus_route_t token_routes[];
extern const size_t token_nroutes;

//  clients.c
int token_op_client_add (bus_req_t *req, const json_t *body, json_t **result);
int token_op_client_list (bus_req_t *req, const json_t *body, json_t **result);
int token_op_web_origins (bus_req_t *req, const json_t *body, json_t **result);
int token_op_client_get (bus_req_t *req, const json_t *body, json_t **result);
int token_op_client_remove (bus_req_t *req, const json_t *body, json_t **result);
int token_op_client_rotate_secret (bus_req_t *req, const json_t *body, json_t **result);
int token_op_client_update (bus_req_t *req, const json_t *body, json_t **result);
int token_op_admin_check (bus_req_t *req, const json_t *body, json_t **result);
int token_op_admin_call (bus_req_t *req, const json_t *body, json_t **result);
//  token.admin_check's verification (an access token of the admin client
//  with the admin scope whose user holds the admin role now): 0 with
//  *result {sub, scopes, client_id}, or -1 after failing req.
int token_admin_verify (bus_req_t *req, const char *access_token, json_t **result);

//  authorize.c
int token_op_authorize (bus_req_t *req, const json_t *body, json_t **result);

//  code.c
int token_op_request_get (bus_req_t *req, const json_t *body, json_t **result);
int token_op_authorize_error (bus_req_t *req, const json_t *body, json_t **result);
int token_op_consent_check (bus_req_t *req, const json_t *body, json_t **result);
int token_op_issue_code (bus_req_t *req, const json_t *body, json_t **result);

//  tokens.c
int token_op_exchange (bus_req_t *req, const json_t *body, json_t **result);

//  logout.c (RP-Initiated and Back-Channel Logout 1.0)
int token_op_logout_check (bus_req_t *req, const json_t *body, json_t **result);
int token_op_logout_tokens (bus_req_t *req, const json_t *body, json_t **result);
int token_op_frontchannel_frames (bus_req_t *req, const json_t *body, json_t **result);

//  userinfo.c
int token_op_userinfo (bus_req_t *req, const json_t *body, json_t **result);

//  revoke.c (RFC 7009)
int token_op_revoke (bus_req_t *req, const json_t *body, json_t **result);
//  token.subject_revoke {sub, reason?}: everything issued to a user
//  (revoke.c; flow-svc calls it when it disables the user).
int token_op_subject_revoke (bus_req_t *req, const json_t *body, json_t **result);

//  user_grants.c: a user's grants, for operators
int token_op_grant_list (bus_req_t *req, const json_t *body, json_t **result);
int token_op_grant_revoke (bus_req_t *req, const json_t *body, json_t **result);

//  introspect.c (RFC 7662)
int token_op_introspect (bus_req_t *req, const json_t *body, json_t **result);
//  token_audit.c
int token_op_audit_list (bus_req_t *req, const json_t *body, json_t **result);
int token_op_audit_refusals (bus_req_t *req, const json_t *body, json_t **result);

#endif
