/*  admin_scope - the admin scope: Ostiary's admin API accepts access tokens
 *  that carry it. It is registered only by the designated admin client
 *  (OSTIARY_ADMIN_CLIENT_ID) and issued only to a user who holds the admin
 *  role in flow-svc (flow.user_roles), asked at every issuance (code,
 *  refresh) and again at every use of such a token. */
#ifndef TOKEN_ADMIN_SCOPE_H
#define TOKEN_ADMIN_SCOPE_H

#include "bus_worker.h"
#include "token_app.h"

#include <jansson.h>

#define ADMIN_SCOPE "admin"

//  1 when client_id is the designated admin client.
int admin_scope_client (const token_app_t *app, const char *client_id);
//  1 when sub holds the admin role now (flow.user_roles over the bus); 0
//  when not, or when flow-svc could not answer (fail closed, logged).
int admin_scope_user (bus_req_t *req, const char *sub);
//  Removes the admin scope from scopes (an array of strings) unless
//  client_id is the admin client and sub holds the role. 0, or -1 when
//  memory ran out.
int admin_scope_filter (bus_req_t *req, const char *client_id, const char *sub, json_t *scopes);

#endif
