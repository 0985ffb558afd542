#include "token_store.h"

int
token_store_prepare (db_t *db)
{
    return db_prepare (db, "token_ping", "SELECT count(*) FROM token.settings", 0);
}

int
token_store_ping (db_t *db)
{
    PGresult *res = NULL;
    db_status_t st = db_exec (db, "token_ping", 0, NULL, &res);
    PQclear (res);
    return st == DB_OK ? 0 : -1;
}
