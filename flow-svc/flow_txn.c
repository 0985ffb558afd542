/*  flow_txn - the end of a write op's transaction (flow_txn.h). */
#include "flow_txn.h"

#include "flow_store.h"

int
flow_txn_end (bus_req_t *req, db_t *db, db_status_t *st, const char *expired)
{
    int late = *st == DB_OK && bus_req_expired (req);
    if (*st == DB_OK && !late)
        *st = db_commit (db);
    else
        db_rollback (db);
    if (late) {
        bus_req_fail (req, OST_ERR_DEADLINE_EXCEEDED, expired);
        return -1;
    }
    return 0;
}
