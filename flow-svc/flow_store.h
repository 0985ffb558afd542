/*  flow_store - every SQL statement of schema flow. */
#ifndef FLOW_STORE_H
#define FLOW_STORE_H

#include "db.h"

//  Prepares the statements on a worker thread's connection. 0 ok.
int flow_store_prepare (db_t *db);
//  0 when the database answers.
int flow_store_ping (db_t *db);

#endif
