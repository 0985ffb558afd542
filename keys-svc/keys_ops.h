/*  keys_ops - the handlers of the keys.* bus operations (proto/ops.def).
 *  req->app is the keys_app_t of the process. */
#ifndef OST_KEYS_OPS_H
#define OST_KEYS_OPS_H

#include "bus_worker.h"
#include "db.h"

//  keys.health → {"status": "ok", "keys": N published keys, "generation": G
//  of the keyring this replica serves, "pid": this process}
int keys_op_health (bus_req_t *req, const json_t *body, json_t **result);
//  keys.jwks → {"keys": [public JWKs of every next, active, retiring key],
//  "signing_algs": [algorithms that have an active key]}; the gateway
//  serves "keys" as /jwks and "signing_algs" in discovery.
int keys_op_jwks (bus_req_t *req, const json_t *body, json_t **result);
//  keys.sign {"claims": {...}, "alg": "RS256"|"ES256"|"EdDSA", "typ": "JWT"}
//  → {"jws": compact JWS, "kid": kid, "alg": alg}
int keys_op_sign (bus_req_t *req, const json_t *body, json_t **result);
//  keys.audit_list: keys-svc's audit events (docs/audit.md). The only op
//  that reads the database: the thread opens its connection at its first
//  call, so the workers of a replica nobody audits hold none.
int keys_op_audit_list (bus_req_t *req, const json_t *body, json_t **result);

//  keys_admin_ops.c: the admin commands on the bus (keys_admin_run), and
//  keys.admin_call, which runs them for an admin of the admin API.
int keys_op_key_status (bus_req_t *req, const json_t *body, json_t **result);
int keys_op_key_list (bus_req_t *req, const json_t *body, json_t **result);
int keys_op_key_rotate (bus_req_t *req, const json_t *body, json_t **result);
int keys_op_key_retire (bus_req_t *req, const json_t *body, json_t **result);
int keys_op_admin_call (bus_req_t *req, const json_t *body, json_t **result);

//  The calling worker thread's database connection, opened at its first
//  use and then kept (service.c closes it with the thread); NULL after
//  failing req with temporarily_unavailable.
db_t *keys_thread_db (bus_req_t *req);

//  keys-svc's op table (keys_service.c).
extern const bus_route_t keys_routes[];
extern const size_t keys_nroutes;

#endif
