/*  migrate - applies migrations/<service>/NNN_name.sql in order, each once,
 *  each in its own transaction, under a PostgreSQL advisory lock so that
 *  replicas starting together do not race. Forward-only: a file that was
 *  applied is never applied again, and a duplicate number, or a file left
 *  unapplied below the highest applied version (a gap in what was applied),
 *  is an error. Numbers may skip (001, 002, 005): only their order matters.
 *  Files must not hold BEGIN/COMMIT: each already runs in its own transaction. */
#ifndef OST_MIGRATE_H
#define OST_MIGRATE_H

#include "db.h"
#include "ost.h"

//  Applies what is missing from dir/<service>/ into schema <service>, which the
//  service's role owns. Returns the number of files applied (>= 0), -1 on error.
OST_WUR int migrate_run (db_t *db, const char *dir, const char *service);

#endif
