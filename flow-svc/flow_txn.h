/*  flow_txn - the end of a write op's transaction: the change and its audit
 *  event commit together, and only while the caller still waits for the
 *  answer (a change made after the deadline would be reported as failed but
 *  stay done). */
#ifndef FLOW_TXN_H
#define FLOW_TXN_H

#include "bus_worker.h"
#include "db.h"

//  Ends the transaction begun with db_begin: commits when *st is
//  DB_OK and req's deadline has not passed, rolls back otherwise. Past the
//  deadline, fails req with deadline_exceeded and the description expired
//  and returns -1; else returns 0 with *st the final status (the commit's
//  when it ran).
int flow_txn_end (bus_req_t *req, db_t *db, db_status_t *st, const char *expired);

#endif
