/*  token_store - every SQL statement of schema token. */
#ifndef TOKEN_STORE_H
#define TOKEN_STORE_H

#include "db.h"

//  Prepares the statements on a worker thread's connection. 0 ok.
int token_store_prepare (db_t *db);
//  0 when the database answers.
int token_store_ping (db_t *db);

#endif
