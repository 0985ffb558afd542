/*  token_settings - token-svc's runtime settings (those of
 *  common/settings.def whose service is token), stored in token.settings
 *  and changed with token.settings_set (`ostiaryctl settings set`, the admin
 *  API). Each thread keeps a copy refreshed at most every
 *  SETTINGS_REFRESH_SECONDS (settings_table.h): a change reaches every
 *  replica within that time without a query per request. */
#ifndef TOKEN_SETTINGS_H
#define TOKEN_SETTINGS_H

#include "bus_worker.h"
#include "db.h"
#include "settings_table.h"

#include <jansson.h>

//  The value of setting id in force (the stored one, else the default).
long token_settings_get (db_t *db, int id);
//  The clock_skew setting in force for a request's thread.
long token_clock_skew (const bus_req_t *req);

//  Ops of proto/ops.md: token.settings_list, token.settings_set.
int token_op_settings_list (bus_req_t *req, const json_t *body, json_t **result);
int token_op_settings_set (bus_req_t *req, const json_t *body, json_t **result);

#endif
