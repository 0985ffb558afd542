/*  settings - runtime-adjustable integer settings of flow-svc. See
 *  settings.h.
 *
 *  Every thread keeps its own copy of the values (no lock on the login
 *  path) and reads flow.settings again when its copy is older than
 *  SETTINGS_REFRESH_SECONDS, or at once when flow.settings_set ran in this
 *  process (a generation counter all threads compare against). */
#include "settings.h"

#include "flow_audit.h"
#include "flow_ops.h"
#include "flow_store.h"
#include "flow_txn.h"
#include "lockout_store.h"
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DESC_NAME "name must be one of the settings that flow.settings_list lists"
#define DESC_VALUE "value must be an integer within the setting's min and max, or null for the default"
#define DESC_EXPIRED "the request's deadline passed before the setting was stored"

typedef struct {
    const char *name;
    long def;
    long min;
    long max;
    const char *description;
} s_def_t;

static const s_def_t s_defs[SETTING_COUNT] = {
#define SETTINGS_X_DEF(id, name, def, min, max, desc) [id] = {name, def, min, max, desc},
    SETTINGS_TABLE (SETTINGS_X_DEF)
#undef SETTINGS_X_DEF
};

//  Bumped by settings_invalidate; a thread whose copy is of an older
//  generation reads the database again.
static atomic_ulong s_generation = 1;

static _Thread_local struct {
    long values[SETTING_COUNT];
    unsigned long generation; //  0: never loaded
    struct timespec at;       //  CLOCK_MONOTONIC of the last load
} s_cache;

const char *
settings_name (int id)
{
    return id >= 0 && id < SETTING_COUNT ? s_defs[id].name : NULL;
}

int
settings_find (const char *name)
{
    for (int id = 0; name && id < SETTING_COUNT; id++)
        if (!strcmp (s_defs[id].name, name))
            return id;
    return -1;
}

void
settings_invalidate (void)
{
    atomic_fetch_add (&s_generation, 1);
}

//  The value of id in stored (flow.settings as an object): the stored
//  integer when it is within bounds, else the default. A value out of
//  bounds can only come from a hand-edited table: it is logged and ignored.
static long
s_value (const json_t *stored, int id)
{
    const json_t *v = json_object_get (stored, s_defs[id].name);
    if (!v)
        return s_defs[id].def;
    if (json_is_integer (v) && json_integer_value (v) >= s_defs[id].min &&
        json_integer_value (v) <= s_defs[id].max)
        return (long)json_integer_value (v);
    log_warn ("settings: the stored value of %s is not an integer in [%ld, %ld]; using the default %ld",
              s_defs[id].name, s_defs[id].min, s_defs[id].max, s_defs[id].def);
    return s_defs[id].def;
}

static double
s_age (const struct timespec *since)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

long
settings_get (db_t *db, int id)
{
    if (id < 0 || id >= SETTING_COUNT) {
        log_error ("settings: unknown setting id %d", id);
        return 0;
    }
    unsigned long generation = atomic_load (&s_generation);
    if (s_cache.generation != generation || s_age (&s_cache.at) >= SETTINGS_REFRESH_SECONDS) {
        json_t *stored = NULL;
        db_status_t st = lockout_store_settings_load (db, &stored);
        if (st == DB_OK || !s_cache.generation)
            for (int k = 0; k < SETTING_COUNT; k++)
                s_cache.values[k] = s_value (stored, k);
        if (st != DB_OK)
            //  The last values known (the defaults at first) stay in force;
            //  the database is asked again after the refresh period, not at
            //  every login while it is away.
            log_warn ("settings: cannot read flow.settings (%s); keeping the values in force",
                      db_status_name (st));
        json_decref (stored);
        s_cache.generation = generation;
        clock_gettime (CLOCK_MONOTONIC, &s_cache.at);
    }
    return s_cache.values[id];
}

//  The setting object of proto/ops.md.
static json_t *
s_object (int id, long value)
{
    const s_def_t *d = &s_defs[id];
    return json_pack ("{s:s, s:I, s:I, s:I, s:I, s:s}", "name", d->name, "value", (json_int_t)value,
                      "default", (json_int_t)d->def, "min", (json_int_t)d->min, "max", (json_int_t)d->max,
                      "description", d->description);
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
        if (json_array_append_new (list, s_object (id, s_value (stored, id))) != 0) {
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
    if (id < 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_NAME);
        return -1;
    }
    //  "value": null is a request (back to the default); no member at all
    //  is a mistake (the schema reads null as absent: only the body tells).
    long value = (long)in->value;
    if (!json_object_get (body, "value") ||
        (in->has_value && (value < s_defs[id].min || value > s_defs[id].max))) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_VALUE);
        return -1;
    }
    const long *stored = in->has_value ? &value : NULL;
    long effective = stored ? value : s_defs[id].def;
    json_t *detail =
        json_pack ("{s:s, s:o, s:I}", "name", s_defs[id].name, "value",
                   stored ? json_integer (value) : json_null (), "effective", (json_int_t)effective);
    if (!detail)
        return flow_fail_internal (req);
    //  The change and its audit event commit together.
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = lockout_store_setting_put (db, s_defs[id].name, stored);
    if (st == DB_OK)
        st = flow_audit_write (db, &(audit_record_t){.event = AUDIT_EV_settings_set,
                                                     .outcome = AUDIT_SUCCESS,
                                                     .actor = "admin",
                                                     .subject = s_defs[id].name,
                                                     .details = detail});
    json_decref (detail);
    if (flow_txn_end (req, db, &st, DESC_EXPIRED) != 0)
        return -1;
    if (st != DB_OK)
        return flow_fail_db (req, st);
    settings_invalidate ();
    log_info ("settings: %s set to %ld%s", s_defs[id].name, effective, stored ? "" : " (the default)");
    return flow_result (req, s_object (id, effective), result);
}
