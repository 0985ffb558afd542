#include "flow_store.h"

int
flow_store_prepare (db_t *db)
{
    return db_prepare (db, "flow_ping", "SELECT count(*) FROM flow.settings", 0);
}

int
flow_store_ping (db_t *db)
{
    PGresult *res = NULL;
    db_status_t st = db_exec (db, "flow_ping", 0, NULL, &res);
    PQclear (res);
    return st == DB_OK ? 0 : -1;
}
