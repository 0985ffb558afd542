/*  settings_table - the runtime settings of common/settings.def: their
 *  definitions, and the per-thread copy of the stored values a service reads
 *  on its hot paths.
 *
 *  Each worker thread keeps its own copy (no lock on a login or an
 *  authorization request) and reads its service's settings table again when
 *  its copy is older than SETTINGS_REFRESH_SECONDS, or at once after
 *  settings_invalidate (a settings_set op ran in this process). So a change
 *  reaches every replica within SETTINGS_REFRESH_SECONDS without a query per
 *  request. */
#ifndef OST_SETTINGS_TABLE_H
#define OST_SETTINGS_TABLE_H

#include "db.h"
#include "ost.h"

#include <jansson.h>

#define SETTINGS_REFRESH_SECONDS 5

typedef enum {
#define SETTING(id, name, service, def, min, max, desc) id,
#include "settings.def"
#undef SETTING
    SETTING_COUNT
} setting_id_t;

typedef struct {
    const char *name;
    const char *service; //  "flow" or "token": who stores and applies it
    long def;            //  the value when none is stored
    long min;
    long max;
    const char *description;
} setting_def_t;

//  The definition of setting id; NULL when id is out of range.
const setting_def_t *settings_def (int id);
//  The id of a setting by name; -1 when unknown.
int settings_find (const char *name);
//  Replaces the default of setting id in this process (a service whose
//  configuration names the default, at start-up, before any thread reads).
//  -1 when id is unknown or value out of its bounds.
OST_WUR int settings_set_default (int id, long value);

//  Reads a service's stored settings as one object name → value.
typedef db_status_t (*settings_load_fn) (db_t *db, json_t **stored);

//  The value of setting id in force: the stored one (through load, at most
//  every SETTINGS_REFRESH_SECONDS per thread), else the default (also on a
//  database error, which is logged; the last values read stay in force).
long settings_get (db_t *db, settings_load_fn load, int id);
//  The value of id in stored (an object as load gives it): the stored
//  integer when it is within bounds, else the default.
long settings_value (const json_t *stored, int id);
//  Makes every thread of this process read the database at its next
//  settings_get.
void settings_invalidate (void);
//  The setting object of proto/ops.md (shape setting) of id with value.
json_t *settings_object (int id, long value);

#endif
