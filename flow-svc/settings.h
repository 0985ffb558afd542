/*  settings - flow-svc's runtime settings (those of common/settings.def
 *  whose service is flow), stored in flow.settings
 *  (migrations/flow/001_settings.sql) and changed with `ostiaryctl settings
 *  set` (ops flow.settings_list, flow.settings_set). Each thread keeps a
 *  cache refreshed at most every SETTINGS_REFRESH_SECONDS (settings_table.h),
 *  so a change reaches every replica within that time without a query per
 *  login. */
#ifndef FLOW_SETTINGS_H
#define FLOW_SETTINGS_H

#include "bus_worker.h"
#include "db.h"
#include "ost.h"
#include "settings_table.h"

#include <jansson.h>

//  The value of setting id (common/settings.def) in force: the stored one,
//  else the default. Cached per thread (settings_table.h).
long settings_flow (db_t *db, int id);

//  Ops of proto/ops.md: flow.settings_list, flow.settings_set.
int flow_op_settings_list (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_settings_set (bus_req_t *req, const json_t *body, json_t **result);

#endif
