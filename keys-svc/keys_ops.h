/*  keys_ops - the handlers of the keys.* bus operations (proto/ops.def).
 *  req->app is the keys_app_t of the process. */
#ifndef OST_KEYS_OPS_H
#define OST_KEYS_OPS_H

#include "bus_worker.h"

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

#endif
