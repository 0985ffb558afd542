/*  janitor - token-svc's housekeeping thread. See janitor.h. */
#include "janitor.h"

#include "db.h"
#include "log.h"
#include "token_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Batches per table per round at most: a backlog is worked off over a few
//  rounds rather than in one long burst.
#define ROUND_BATCHES_MAX 20

struct _token_janitor_t {
    char *conninfo;
    long interval_s;
    long batch;
    long max_s;
    long idle_s;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
};

//  One round on db: take the advisory lock or leave the round to the
//  replica that holds it, delete batch by batch, release.
static db_status_t
s_round (token_janitor_t *self, db_t *db)
{
    int got = 0;
    db_status_t st = token_store_janitor_lock (db, 1, &got);
    if (st != DB_OK || !got)
        return st;
    int total = 0;
    for (int i = 0; i < ROUND_BATCHES_MAX && st == DB_OK; i++) {
        int deleted = 0;
        st = token_store_janitor_purge (db, self->batch, self->max_s, self->idle_s, &deleted);
        total += deleted;
        //  Each statement deletes at most batch rows; fewer across all five
        //  kinds means every table is done.
        if (deleted < self->batch)
            break;
    }
    int released = 0;
    if (token_store_janitor_lock (db, 0, &released) != DB_OK || !released)
        log_warn ("janitor: the advisory lock was not released (it goes with the connection)");
    if (total > 0)
        log_info ("janitor: %d expired row(s) deleted", total);
    return st;
}

static void *
s_run (void *arg)
{
    token_janitor_t *self = arg;
    db_t *db = NULL;
    pthread_mutex_lock (&self->lock);
    while (!self->stop) {
        pthread_mutex_unlock (&self->lock);
        if (!db) {
            db = db_new (self->conninfo);
            if (db && token_store_prepare (db) != 0)
                db_destroy (&db);
        }
        if (db) {
            db_status_t st = s_round (self, db);
            //  A connection that failed is dropped (with its advisory lock)
            //  and made again at the next round.
            if (st == DB_UNAVAILABLE || st == DB_ERROR) {
                log_warn ("janitor: round failed (%s)", db_status_name (st));
                db_destroy (&db);
            }
        }
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += self->interval_s;
        pthread_mutex_lock (&self->lock);
        while (!self->stop) {
            int rc = pthread_cond_timedwait (&self->wake, &self->lock, &until);
            if (rc == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock (&self->lock);
    db_destroy (&db);
    return NULL;
}

token_janitor_t *
token_janitor_new (const config_t *cfg)
{
    token_janitor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->conninfo = strdup (cfg->db);
    self->interval_s = cfg->janitor_interval;
    self->batch = cfg->janitor_batch;
    self->max_s = cfg->refresh_max_lifetime;
    self->idle_s = cfg->refresh_idle_timeout;
    if (!self->conninfo) {
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        pthread_cond_destroy (&self->wake);
        pthread_mutex_destroy (&self->lock);
        free (self->conninfo);
        free (self);
        return NULL;
    }
    return self;
}

void
token_janitor_destroy (token_janitor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    token_janitor_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stop = 1;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    //  The connection string may hold a password.
    memset (self->conninfo, 0, strlen (self->conninfo));
    free (self->conninfo);
    free (self);
    *self_p = NULL;
}
