/*  housekeeper - see housekeeper.h. */
#include "housekeeper.h"

#include "log.h"
#include "secure.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _housekeeper_t {
    housekeeper_cfg_t cfg;
    char *conninfo;
    char *name;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    int woken;
    long rounds;
};

//  The housekeeper whose round runs on this thread (housekeeper_pause).
static _Thread_local housekeeper_t *s_self;

static void *
s_run (void *arg)
{
    housekeeper_t *self = arg;
    db_t *db = NULL;
    pthread_mutex_lock (&self->lock);
    while (!self->stop) {
        self->woken = 0;
        pthread_mutex_unlock (&self->lock);
        if (!db) {
            db = db_new (self->conninfo);
            if (db && self->cfg.prepare && self->cfg.prepare (db) != 0)
                db_destroy (&db);
            if (!db)
                log_warn ("%s: no database connection; trying again next round", self->name);
        }
        if (db) {
            s_self = self;
            db_status_t st = self->cfg.round (db, self->cfg.arg);
            s_self = NULL;
            //  A connection that failed is dropped (with any advisory lock
            //  it held) and made again at the next round.
            if (st == DB_UNAVAILABLE || st == DB_ERROR) {
                log_warn ("%s: round failed (%s)", self->name, db_status_name (st));
                db_destroy (&db);
            }
        }
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += self->cfg.interval_s;
        pthread_mutex_lock (&self->lock);
        self->rounds++;
        pthread_cond_broadcast (&self->wake);
        while (!self->stop && !self->woken) {
            if (pthread_cond_timedwait (&self->wake, &self->lock, &until) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock (&self->lock);
    db_destroy (&db);
    return NULL;
}

static void
s_free (housekeeper_t *self)
{
    if (self->conninfo) {
        //  The connection string may hold a password.
        secure_wipe (self->conninfo, strlen (self->conninfo));
        free (self->conninfo);
    }
    free (self->name);
    free (self);
}

housekeeper_t *
housekeeper_new (const housekeeper_cfg_t *cfg)
{
    if (!cfg || !cfg->round || !cfg->conninfo || cfg->interval_s < 0)
        return NULL;
    housekeeper_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->conninfo = strdup (cfg->conninfo);
    self->name = strdup (cfg->name ? cfg->name : "housekeeper");
    if (!self->conninfo || !self->name) {
        s_free (self);
        return NULL;
    }
    self->cfg.conninfo = NULL;
    self->cfg.name = NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        pthread_cond_destroy (&self->wake);
        pthread_mutex_destroy (&self->lock);
        s_free (self);
        return NULL;
    }
    return self;
}

void
housekeeper_wake (housekeeper_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->woken = 1;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
}

int
housekeeper_pause (long ms)
{
    housekeeper_t *self = s_self;
    if (!self)
        return -1;
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    if (ms > 0) {
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock (&self->lock);
    while (!self->stop && ms > 0) {
        if (pthread_cond_timedwait (&self->wake, &self->lock, &until) == ETIMEDOUT)
            break;
    }
    int stop = self->stop;
    pthread_mutex_unlock (&self->lock);
    return stop ? -1 : 0;
}

long
housekeeper_rounds (housekeeper_t *self)
{
    pthread_mutex_lock (&self->lock);
    long n = self->rounds;
    pthread_mutex_unlock (&self->lock);
    return n;
}

void
housekeeper_destroy (housekeeper_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    housekeeper_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stop = 1;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    s_free (self);
    *self_p = NULL;
}

static long long
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

db_status_t
housekeeper_work_off (db_t *db, int kinds, housekeeper_batch_fn fn, void *arg, long batch, long duty,
                      long *done, long long *busy_us)
{
    if (kinds < 0 || kinds > HOUSEKEEPER_KINDS_MAX || !fn || !done || batch < 1 || duty < 1 || duty > 100)
        return DB_ERROR;
    int full[HOUSEKEEPER_KINDS_MAX];
    for (int k = 0; k < kinds; k++) {
        full[k] = 1;
        done[k] = 0;
    }
    long long busy = 0;
    db_status_t st = DB_OK;
    int stop = 0, any = 1;
    while (st == DB_OK && any && !stop) {
        any = 0;
        for (int k = 0; k < kinds && st == DB_OK && !stop; k++) {
            if (!full[k])
                continue;
            long long t0 = s_now_us ();
            long n = 0;
            st = fn (db, k, arg, &n);
            long long took = s_now_us () - t0;
            busy += took;
            if (st != DB_OK)
                break;
            done[k] += n;
            full[k] = n >= batch;
            any |= full[k];
            //  Rounded up to whole milliseconds.
            long pause_ms = (long)((took * (100 - duty) / duty + 999) / 1000);
            if (full[k] && housekeeper_pause (pause_ms) != 0)
                stop = 1;
        }
    }
    if (busy_us)
        *busy_us = busy;
    return st;
}
