/*  migrate - applies migrations/<service>/NNN_name.sql in order, each once,
 *  each in its own transaction, under a PostgreSQL advisory lock so that
 *  replicas starting together do not race. Forward-only: a file that was
 *  applied is never applied again, and a gap or a duplicate number is an error. */
#ifndef OST_MIGRATE_H
#define OST_MIGRATE_H

#include "db.h"
#include "ost.h"

//  Applies what is missing from dir/<service>/ into schema <service>, which the
//  service's role owns. Returns the number of files applied (>= 0), -1 on error.
OST_WUR int migrate_run (db_t *db, const char *dir, const char *service);

#endif
