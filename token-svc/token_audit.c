/*  token_audit - token-svc's audit trail: token.audit_list, and
 *  token.audit_refusals, through which the gateway's broker reports the bus
 *  calls it refused (proto/bus.md, "Refused calls are audited"). */
#include "audit.h"
#include "log.h"
#include "service.h"
#include "token_ops.h"
#include "token_store.h"
#include "token_util.h"

#include <stdio.h>
#include <string.h>

#define AUDIT_LIMIT_DEFAULT 100

int
token_op_audit_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    const token_audit_list_in_t *in = BUS_IN (req, token_audit_list);
    if (in->event && audit_event_find (in->event) < 0)
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "event: not an event of common/audit.def");
    if (in->has_since && in->has_until && in->until < in->since)
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "until: before since");
    audit_filter_t filter = AUDIT_FILTER_OF (in, AUDIT_LIMIT_DEFAULT);
    db_status_t st = token_store_audit_list (thread->db, &filter, result);
    return st == DB_OK ? 0 : tu_db_fail (req, st);
}

int
token_op_audit_refusals (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    const token_audit_refusals_in_t *in = BUS_IN (req, token_audit_refusals);
    if (bus_req_expired (req))
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, "the request deadline passed");
    //  One transaction: a report is written whole or not at all (the
    //  gateway does not resend it: a WRITE op).
    db_status_t st = db_begin (thread->db);
    int written = 0;
    //  The count of refusals the broker could not summarise goes on the
    //  first event written, or on an event of its own when none is.
    json_int_t dropped = in->has_dropped && in->dropped > 0 ? in->dropped : 0;
    size_t i;
    const json_t *item;
    json_array_foreach (in->refusals, i, item)
    {
        if (st != DB_OK)
            break;
        shape_bus_refusal_t r;
        if (shape_bus_refusal_unpack (item, &r, NULL, 0) != 0)
            continue;
        char actor[64];
        snprintf (actor, sizeof actor, "%s:%s", r.role ? r.role : "none", r.key);
        json_t *details = json_pack ("{s:I, s:I, s:I, s:s}", "count", (json_int_t)r.count, "first",
                                     (json_int_t)r.first, "last", (json_int_t)r.last, "broker", in->broker);
        if (details && dropped > 0)
            json_object_set_new (details, "dropped", json_integer (dropped));
        st = details ? token_store_audit (thread->db, &(audit_record_t){.event = AUDIT_EV_bus_refused,
                                                                        .outcome = AUDIT_REFUSED,
                                                                        .actor = actor,
                                                                        .subject = r.op,
                                                                        .details = details})
                     : DB_ERROR;
        json_decref (details);
        if (st == DB_OK) {
            written++;
            dropped = 0;
        }
    }
    if (st == DB_OK && dropped > 0) {
        json_t *details = json_pack ("{s:I, s:s}", "dropped", dropped, "broker", in->broker);
        st = details ? token_store_audit (thread->db, &(audit_record_t){.event = AUDIT_EV_bus_refused,
                                                                        .outcome = AUDIT_REFUSED,
                                                                        .details = details})
                     : DB_ERROR;
        json_decref (details);
        if (st == DB_OK)
            written++;
    }
    if (st == DB_OK)
        st = db_commit (thread->db);
    if (st != DB_OK) {
        db_rollback (thread->db);
        return tu_db_fail (req, st);
    }
    log_warn ("bus: %d refused-call summaries from broker %s audited", written, in->broker);
    *result = json_pack ("{s:i}", "written", written);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}
