/*  settings_table - the runtime settings of common/settings.def. See
 *  settings_table.h. */
#include "settings_table.h"

#include "log.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

static setting_def_t s_defs[SETTING_COUNT] = {
#define SETTING(id, name, service, def, min, max, desc) [id] = {name, service, def, min, max, desc},
#include "settings.def"
#undef SETTING
};

//  Bumped by settings_invalidate; a thread whose copy is of an older
//  generation reads the database again.
static atomic_ulong s_generation = 1;

static _Thread_local struct {
    long values[SETTING_COUNT];
    unsigned long generation; //  0: never loaded
    struct timespec at;       //  CLOCK_MONOTONIC of the last load
} s_cache;

const setting_def_t *
settings_def (int id)
{
    return id >= 0 && id < SETTING_COUNT ? &s_defs[id] : NULL;
}

int
settings_find (const char *name)
{
    for (int id = 0; name && id < SETTING_COUNT; id++)
        if (!strcmp (s_defs[id].name, name))
            return id;
    return -1;
}

int
settings_set_default (int id, long value)
{
    if (id < 0 || id >= SETTING_COUNT || value < s_defs[id].min || value > s_defs[id].max)
        return -1;
    s_defs[id].def = value;
    settings_invalidate ();
    return 0;
}

void
settings_invalidate (void)
{
    atomic_fetch_add (&s_generation, 1);
}

long
settings_value (const json_t *stored, int id)
{
    if (id < 0 || id >= SETTING_COUNT)
        return 0;
    const json_t *v = json_object_get (stored, s_defs[id].name);
    if (!v)
        return s_defs[id].def;
    if (json_is_integer (v) && json_integer_value (v) >= s_defs[id].min &&
        json_integer_value (v) <= s_defs[id].max)
        return (long)json_integer_value (v);
    //  A value out of bounds can only come from a hand-edited table.
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
settings_get (db_t *db, settings_load_fn load, int id)
{
    if (id < 0 || id >= SETTING_COUNT) {
        log_error ("settings: unknown setting id %d", id);
        return 0;
    }
    unsigned long generation = atomic_load (&s_generation);
    if (s_cache.generation != generation || s_age (&s_cache.at) >= SETTINGS_REFRESH_SECONDS) {
        json_t *stored = NULL;
        db_status_t st = load (db, &stored);
        if (st == DB_OK || !s_cache.generation)
            for (int k = 0; k < SETTING_COUNT; k++)
                s_cache.values[k] = settings_value (stored, k);
        if (st != DB_OK)
            //  The last values known (the defaults at first) stay in force;
            //  the database is asked again after the refresh period, not at
            //  every request while it is away.
            log_warn ("settings: cannot read the settings table (%s); keeping the values in force",
                      db_status_name (st));
        json_decref (stored);
        s_cache.generation = generation;
        clock_gettime (CLOCK_MONOTONIC, &s_cache.at);
    }
    return s_cache.values[id];
}

json_t *
settings_object (int id, long value)
{
    const setting_def_t *d = settings_def (id);
    if (!d)
        return NULL;
    return json_pack ("{s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "name", d->name, "value", (json_int_t)value,
                      "default", (json_int_t)d->def, "min", (json_int_t)d->min, "max", (json_int_t)d->max,
                      "description", d->description, "service", d->service);
}
