/*  token_settings - token-svc's runtime settings and their ops. See
 *  token_settings.h. */
#include "token_settings.h"

#include "log.h"
#include "service.h"
#include "token_ops.h"
#include "token_store.h"
#include "token_util.h"

#include <string.h>

#define DESC_NAME "name must be one of the settings that token.settings_list lists"
#define DESC_VALUE "value must be an integer within the setting's min and max, or null for the default"
#define DESC_CONFLICT "the setting changed since: read it again"

long
token_settings_get (db_t *db, int id)
{
    return settings_get (db, token_store_settings_load, id);
}

long
token_clock_skew (const bus_req_t *req)
{
    const service_thread_t *thread = req->thread_state;
    return token_settings_get (thread->db, SETTING_CLOCK_SKEW);
}

//  1 when id is one of token-svc's settings.
static int
s_ours (int id)
{
    const setting_def_t *d = settings_def (id);
    return d && strcmp (d->service, "token") == 0;
}

int
token_op_settings_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    //  The database, not this thread's copy: the operator sees what is
    //  stored now.
    json_t *stored = NULL;
    db_status_t st = token_store_settings_load (thread->db, &stored);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    json_t *list = json_array ();
    for (int id = 0; list && id < SETTING_COUNT; id++)
        if (s_ours (id) && json_array_append_new (list, settings_object (id, settings_value (stored, id)))) {
            json_decref (list);
            list = NULL;
        }
    json_decref (stored);
    *result = list ? json_pack ("{s:o}", "settings", list) : NULL;
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}

int
token_op_settings_set (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_settings_set_in_t *in = BUS_IN (req, token_settings_set);
    service_thread_t *thread = req->thread_state;
    db_t *db = thread->db;
    int id = settings_find (in->name);
    if (id < 0 || !s_ours (id))
        return tu_fail (req, OST_ERR_INVALID_REQUEST, DESC_NAME);
    const setting_def_t *def = settings_def (id);
    //  "value": null is a request (back to the default); no member at all
    //  is a mistake (the schema reads null as absent: only the body tells).
    long value = (long)in->value;
    if (!json_object_get (body, "value") || (in->has_value && (value < def->min || value > def->max)))
        return tu_fail (req, OST_ERR_INVALID_REQUEST, DESC_VALUE);
    const long *stored = in->has_value ? &value : NULL;
    long effective = stored ? value : def->def;

    //  The change and its audit event commit together, after the value in
    //  force was read under the settings lock (expected, previous).
    json_t *now = NULL;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = token_store_settings_lock (db);
    if (st == DB_OK)
        st = token_store_settings_load (db, &now);
    long previous = st == DB_OK ? settings_value (now, id) : 0;
    json_decref (now);
    if (st == DB_OK && in->has_expected && previous != (long)in->expected) {
        db_rollback (db);
        return tu_fail (req, OST_ERR_CONFLICT, DESC_CONFLICT);
    }
    json_t *detail = json_pack ("{s:s, s:o, s:I, s:I}", "name", def->name, "value",
                                stored ? json_integer (value) : json_null (), "effective",
                                (json_int_t)effective, "previous", (json_int_t)previous);
    if (!detail)
        st = DB_ERROR;
    if (st == DB_OK)
        st = token_store_setting_put (db, def->name, stored);
    if (st == DB_OK)
        st = token_store_audit (db, &(audit_record_t){.event = AUDIT_EV_token_settings_set,
                                                      .outcome = AUDIT_SUCCESS,
                                                      .actor = req->actor ? req->actor : "admin",
                                                      .subject = def->name,
                                                      .details = detail});
    json_decref (detail);
    if (st == DB_OK && bus_req_expired (req)) {
        db_rollback (db);
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, "the request deadline passed");
    }
    if (st == DB_OK)
        st = db_commit (db);
    if (st != DB_OK) {
        db_rollback (db);
        return tu_db_fail (req, st);
    }
    settings_invalidate ();
    log_info ("settings: %s set to %ld%s", def->name, effective, stored ? "" : " (the default)");
    *result = settings_object (id, effective);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}
