/*  housekeeper - a service's background thread that runs one round of
 *  housekeeping (deleting rows that can no longer matter, marking what
 *  expired) every interval, on a database connection of its own that it
 *  makes, and makes again after a failure. token-svc's janitor and
 *  flow-svc's janitor are rounds of it. A round decides for itself whether
 *  it is this replica's turn (a PostgreSQL advisory lock), so that replicas
 *  do not repeat each other's work. */
#ifndef OST_HOUSEKEEPER_H
#define OST_HOUSEKEEPER_H

#include "db.h"

typedef struct _housekeeper_t housekeeper_t;

typedef struct {
    const char *name;     //  for logs, e.g. "janitor"
    const char *conninfo; //  libpq connection string (copied; wiped when destroyed)
    long interval_s;      //  seconds from the end of a round to the start of the next
    //  Prepares the statements of a new connection; 0 on success. May be NULL.
    int (*prepare) (db_t *db);
    //  One round. DB_UNAVAILABLE or DB_ERROR drops the connection, which
    //  is made again at the next round.
    db_status_t (*round) (db_t *db, void *arg);
    void *arg;
} housekeeper_cfg_t;

//  Starts the thread; its first round runs at once. NULL when the thread
//  cannot start (or cfg lacks round or conninfo).
housekeeper_t *housekeeper_new (const housekeeper_cfg_t *cfg);
//  Runs the next round now instead of at the end of the interval.
void housekeeper_wake (housekeeper_t *self);
//  From within a round, on its thread: waits ms milliseconds, or less when
//  the housekeeper is being stopped. 0: go on; -1: end the round now (the
//  housekeeper is stopping, or this is not a round's thread).
int housekeeper_pause (long ms);
//  Rounds finished so far (successful or not).
long housekeeper_rounds (housekeeper_t *self);
//  Stops the thread (waiting for a round in progress) and joins it.
//  Idempotent.
void housekeeper_destroy (housekeeper_t **self_p);

#endif
