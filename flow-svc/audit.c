/*  audit - security events of flow-svc. See audit.h. */
#include "audit.h"

#include "flow_ops.h"
#include "lockout_store.h"
#include "log.h"

#include <string.h>

#define AUDIT_LIMIT_DEFAULT 100

db_status_t
audit_write (db_t *db, const char *kind, const char *sub, const char *client_ip, json_t *detail)
{
    if (!kind || (detail && !json_is_object (detail))) {
        log_error ("audit: an event needs a kind and an object as detail");
        return DB_ERROR;
    }
    db_status_t st = lockout_store_audit_insert (db, kind, sub, client_ip, detail);
    if (st == DB_OK)
        log_info ("audit: %s", kind);
    return st;
}

int
flow_op_audit_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_audit_list_in_t *in = BUS_IN (req, flow_audit_list);
    long limit = in->has_limit ? (long)in->limit : AUDIT_LIMIT_DEFAULT;
    json_t *events = NULL;
    db_status_t st = lockout_store_audit_list (flow_db (req), in->kind, in->sub, limit, &events);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    return flow_result (req, json_pack ("{s:o}", "events", events), result);
}
