/*  audit - security events of flow-svc. See audit.h. */
#include "audit.h"

#include "flow_args.h"
#include "flow_ops.h"
#include "lockout_store.h"
#include "log.h"

#include <string.h>

#define AUDIT_KIND_MAX 64
#define AUDIT_SUB_MAX 64
#define AUDIT_LIMIT_MAX 500
#define AUDIT_LIMIT_DEFAULT 100
#define DESC_KIND "kind must be a string of at most 64 characters"
#define DESC_SUB "sub must be a string of at most 64 characters"
#define DESC_LIMIT "limit must be an integer from 1 to 500"

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
    const char *kind = NULL, *sub = NULL;
    long limit = AUDIT_LIMIT_DEFAULT;
    if (flow_arg_string (body, "kind", AUDIT_KIND_MAX, 0, &kind) == ARG_BAD) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_KIND);
        return -1;
    }
    if (flow_arg_string (body, "sub", AUDIT_SUB_MAX, 0, &sub) == ARG_BAD) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_SUB);
        return -1;
    }
    if (flow_arg_int (body, "limit", 1, AUDIT_LIMIT_MAX, &limit) == ARG_BAD) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_LIMIT);
        return -1;
    }
    json_t *events = NULL;
    db_status_t st = lockout_store_audit_list (flow_db (req), kind, sub, limit, &events);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    return flow_result (req, json_pack ("{s:o}", "events", events), result);
}
