/*  audit - security events of flow-svc in flow.audit_events (lockout,
 *  unlock, settings_set, ...), listed by op flow.audit_list. Events carry
 *  no secrets: detail holds names and numbers only. */
#ifndef FLOW_AUDIT_H
#define FLOW_AUDIT_H

#include "bus_worker.h"
#include "db.h"
#include "ost.h"

#include <jansson.h>

//  Writes one event now. sub, client_ip and detail (an object, borrowed) may
//  be NULL. Runs in the caller's transaction, if any.
OST_WUR db_status_t audit_write (db_t *db, const char *kind, const char *sub, const char *client_ip,
                                 json_t *detail);

//  op flow.audit_list (proto/ops.md).
int flow_op_audit_list (bus_req_t *req, const json_t *body, json_t **result);

#endif
