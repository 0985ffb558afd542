/*  outbox_store - the SQL of outbox.c (flow.outbox, migrations/flow/
 *  006_outbox.sql). It stands beside flow_store.c, with the same rules:
 *  status set of db.h, DB_NOT_FOUND when a single-row lookup matched
 *  nothing, times are the database's now(). Each connection prepares these
 *  statements on first use: the engine's worker connections queue rows
 *  inside their transactions, the delivery thread's connection claims and
 *  marks them. */
#ifndef FLOW_OUTBOX_STORE_H
#define FLOW_OUTBOX_STORE_H

#include "db.h"
#include "ost.h"

#include <stdint.h>

//  A claimed row: kind "email" or "webhook", the hook's name ("" for an
//  email), the sealed payload (free()) and the attempts made before.
typedef struct {
    int64_t id;
    char kind[16];
    char hook[72];
    char *payload;
    long attempts;
} outbox_row_t;

void outbox_row_clear (outbox_row_t *row);

//  The id the next row will have (the row's id is in its payload's sealed
//  associated data, so it is taken before the row is written).
OST_WUR db_status_t outbox_store_next_id (db_t *db, int64_t *id);
//  Queues row id in the caller's transaction: kind, the execution it belongs
//  to (0: none), the hook (NULL for an email) and the sealed payload.
OST_WUR db_status_t outbox_store_insert (db_t *db, int64_t id, const char *kind, int64_t execution_id,
                                         const char *hook, const char *sealed);
//  Claims the next due pending row (FOR UPDATE SKIP LOCKED, so replicas
//  never take the same one) in the caller's transaction. DB_NOT_FOUND when
//  none is due.
OST_WUR db_status_t outbox_store_claim (db_t *db, outbox_row_t *row);
//  The claimed row was delivered: sent, its payload dropped.
OST_WUR db_status_t outbox_store_sent (db_t *db, int64_t id);
//  The claimed row failed this attempt: tried again in delay_s seconds,
//  reason recorded.
OST_WUR db_status_t outbox_store_retry (db_t *db, int64_t id, long delay_s, const char *reason);
//  The claimed row is given up: dead, its payload dropped, reason recorded.
OST_WUR db_status_t outbox_store_dead (db_t *db, int64_t id, const char *reason);

#endif
