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
//  One batch of housekeeping of one kind of rows (kind 0 .. kinds - 1):
//  deletes (or marks) at most the batch size of rows and says how many in
//  *done.
typedef db_status_t (*housekeeper_batch_fn) (db_t *db, int kind, void *arg, long *done);

//  HOUSEKEEPER_KINDS_MAX: the kinds one housekeeper_work_off may take.
#define HOUSEKEEPER_KINDS_MAX 16

//  From within a round: works a backlog off, kind by kind in turn. One batch
//  of each kind whose last batch was full (batch rows), for as long as any
//  kind's was: the pace follows the backlog (no cap on rows per round) and
//  no kind waits for another's backlog to be gone. Each full batch is
//  followed by a pause of its own time x (100 - duty) / duty
//  (housekeeper_pause), so that the work takes at most duty % of the time.
//  done[kind] (kinds entries, zeroed here) receives the rows of each kind;
//  *busy_us, when not NULL, the time spent in batches. The first failure
//  ends it and is returned; a stop of the housekeeper ends it with DB_OK.
db_status_t housekeeper_work_off (db_t *db, int kinds, housekeeper_batch_fn fn, void *arg, long batch,
                                  long duty, long *done, long long *busy_us);
//  Rounds finished so far (successful or not).
long housekeeper_rounds (housekeeper_t *self);
//  Stops the thread (waiting for a round in progress) and joins it.
//  Idempotent.
void housekeeper_destroy (housekeeper_t **self_p);

#endif
