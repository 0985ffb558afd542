/*  flow_audit - security events of flow-svc. See flow_audit.h. */
#include "flow_audit.h"

#include "flow_ops.h"
#include "lockout_store.h"
#include "log.h"

#define AUDIT_LIMIT_DEFAULT 100

db_status_t
flow_audit_write (db_t *db, const audit_record_t *record)
{
    return lockout_store_audit_insert (db, record);
}

int
flow_op_audit_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_audit_list_in_t *in = BUS_IN (req, flow_audit_list);
    audit_filter_t filter = AUDIT_FILTER_OF (in, AUDIT_LIMIT_DEFAULT);
    if (in->event && audit_event_find (in->event) < 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, "event: not an event of common/audit.def");
        return -1;
    }
    if (in->has_since && in->has_until && in->until < in->since) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, "until: before since");
        return -1;
    }
    json_t *out = NULL;
    db_status_t st = lockout_store_audit_list (flow_db (req), &filter, &out);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    return flow_result (req, out, result);
}
