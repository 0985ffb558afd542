/*  settings - runtime-adjustable integer settings of flow-svc, stored in
 *  flow.settings (migrations/flow/001_settings.sql) and changed with
 *  `ostiaryctl settings set` (ops flow.settings_list, flow.settings_set).
 *  Each thread keeps a cache refreshed at most every SETTINGS_REFRESH_SECONDS,
 *  so a change reaches every replica within that time without a query per
 *  login. */
#ifndef FLOW_SETTINGS_H
#define FLOW_SETTINGS_H

#include "bus_worker.h"
#include "db.h"
#include "ost.h"

#include <jansson.h>

#define SETTINGS_REFRESH_SECONDS 5

//  The table: X (id, name, default, min, max, description).
#define SETTINGS_TABLE(X)                                                                                    \
    X (SETTING_LOCKOUT_THRESHOLD, "lockout_threshold", 5, 1, 1000,                                           \
       "failed password logins of one account that lock it")                                                 \
    X (SETTING_LOCKOUT_SECONDS, "lockout_seconds", 900, 1, 86400, "how long a locked account stays locked")  \
    X (SETTING_ADDRESS_THRESHOLD, "address_threshold", 50, 1, 1000000,                                       \
       "failed password logins and wrong codes from one client address per window above which it is "        \
       "throttled")                                                                                          \
    X (SETTING_ADDRESS_WINDOW_SECONDS, "address_window_seconds", 300, 1, 86400,                              \
       "length of the fixed window of the address counter")                                                  \
    X (SETTING_CODE_LOCKOUT_THRESHOLD, "code_lockout_threshold", 10, 1, 1000,                                \
       "wrong second-factor codes (TOTP, recovery, email) of one account, across flows, that lock its "      \
       "second factor")                                                                                      \
    X (SETTING_CODE_LOCKOUT_SECONDS, "code_lockout_seconds", 900, 1, 86400,                                  \
       "how long a locked second factor refuses every code")                                                 \
    X (SETTING_CODE_MAIL_CAP, "code_mail_cap", 5, 1, 1000,                                                   \
       "code emails to one account per window; above it none is sent and the page looks the same")           \
    X (SETTING_CODE_MAIL_WINDOW_SECONDS, "code_mail_window_seconds", 900, 1, 86400,                          \
       "length of the fixed window of the code email cap")

typedef enum {
#define SETTINGS_X_ENUM(id, name, def, min, max, desc) id,
    SETTINGS_TABLE (SETTINGS_X_ENUM)
#undef SETTINGS_X_ENUM
        SETTING_COUNT
} setting_id_t;

//  The value of setting id: the stored one, else the default (also on a
//  database error, which is logged). Cached per thread.
long settings_get (db_t *db, int id);
//  The name of setting id; NULL when id is out of range.
const char *settings_name (int id);
//  The id of a setting by name; -1 when unknown.
int settings_find (const char *name);
//  Makes every thread of this process read the database at its next
//  settings_get (other replicas follow within SETTINGS_REFRESH_SECONDS).
void settings_invalidate (void);

//  Ops of proto/ops.md: flow.settings_list, flow.settings_set.
int flow_op_settings_list (bus_req_t *req, const json_t *body, json_t **result);
int flow_op_settings_set (bus_req_t *req, const json_t *body, json_t **result);

#endif
