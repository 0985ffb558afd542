/*  settings - flow-svc's runtime settings and their ops. See settings.h. */
#include "settings.h"

#include "flow_audit.h"
#include "flow_ops.h"
#include "flow_store.h"
#include "flow_txn.h"
#include "lockout_store.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

#define DESC_NAME "name must be one of the settings that flow.settings_list lists"
#define DESC_VALUE "value must be an integer within the setting's min and max, or null for the default"
#define DESC_EXPIRED "the request's deadline passed before the setting was stored"

long
settings_flow (db_t *db, int id)
{
    return settings_get (db, lockout_store_settings_load, id);
}

//  1 when id is one of flow-svc's settings.
static int
s_ours (int id)
{
    const setting_def_t *d = settings_def (id);
    return d && strcmp (d->service, "flow") == 0;
}

//  ------------------------------------------------------------------ ops

int
flow_op_settings_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    //  The database, not this thread's copy: the operator sees what is
    //  stored now.
    json_t *stored = NULL;
    db_status_t st = lockout_store_settings_load (flow_db (req), &stored);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    json_t *list = json_array ();
    for (int id = 0; list && id < SETTING_COUNT; id++)
        if (s_ours (id) &&
            json_array_append_new (list, settings_object (id, settings_value (stored, id))) != 0) {
            json_decref (list);
            list = NULL;
        }
    json_decref (stored);
    return flow_result (req, list ? json_pack ("{s:o}", "settings", list) : NULL, result);
}

int
flow_op_settings_set (bus_req_t *req, const json_t *body, json_t **result)
{
    db_t *db = flow_db (req);
    const flow_settings_set_in_t *in = BUS_IN (req, flow_settings_set);
    int id = settings_find (in->name);
    if (id < 0 || !s_ours (id)) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_NAME);
        return -1;
    }
    //  "value": null is a request (back to the default); no member at all
    //  is a mistake (the schema reads null as absent: only the body tells).
    long value = (long)in->value;
    if (!json_object_get (body, "value") ||
        (in->has_value && (value < settings_def (id)->min || value > settings_def (id)->max))) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_VALUE);
        return -1;
    }
    const long *stored = in->has_value ? &value : NULL;
    long effective = stored ? value : settings_def (id)->def;
    //  The change and its audit event commit together, after the value in
    //  force was read under the settings lock (expected, previous).
    json_t *now = NULL;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = lockout_store_settings_lock (db);
    if (st == DB_OK)
        st = lockout_store_settings_load (db, &now);
    long previous = st == DB_OK ? settings_value (now, id) : 0;
    json_decref (now);
    if (st == DB_OK && in->has_expected && previous != (long)in->expected) {
        db_rollback (db);
        bus_req_fail (req, OST_ERR_CONFLICT, "the setting changed since: read it again");
        return -1;
    }
    json_t *detail = json_pack ("{s:s, s:o, s:I, s:I}", "name", settings_def (id)->name, "value",
                                stored ? json_integer (value) : json_null (), "effective",
                                (json_int_t)effective, "previous", (json_int_t)previous);
    if (!detail)
        st = DB_ERROR;
    if (st == DB_OK)
        st = lockout_store_setting_put (db, settings_def (id)->name, stored);
    if (st == DB_OK)
        st = flow_audit_write (db, &(audit_record_t){.event = AUDIT_EV_settings_set,
                                                     .outcome = AUDIT_SUCCESS,
                                                     .actor = req->actor ? req->actor : "admin",
                                                     .subject = settings_def (id)->name,
                                                     .details = detail});
    json_decref (detail);
    if (flow_txn_end (req, db, &st, DESC_EXPIRED) != 0)
        return -1;
    if (st != DB_OK)
        return flow_fail_db (req, st);
    settings_invalidate ();
    log_info ("settings: %s set to %ld%s", settings_def (id)->name, effective,
              stored ? "" : " (the default)");
    return flow_result (req, settings_object (id, effective), result);
}
