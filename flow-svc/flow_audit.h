/*  flow_audit - flow-svc's security events in flow.audit_events, in the one
 *  shape of common/audit.h (lockout, unlock, user and settings changes,
 *  sign-ins), listed by op flow.audit_list. */
#ifndef FLOW_AUDIT_H
#define FLOW_AUDIT_H

#include "audit.h"
#include "bus_worker.h"
#include "db.h"
#include "ost.h"

#include <jansson.h>

//  Writes one event now, in the caller's transaction if any.
OST_WUR db_status_t flow_audit_write (db_t *db, const audit_record_t *record);

//  op flow.audit_list (proto/ops.md).
int flow_op_audit_list (bus_req_t *req, const json_t *body, json_t **result);

#endif
