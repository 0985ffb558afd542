/*  bus_pool - bus clients shared by many threads. See bus_pool.h. */
#include "bus_pool.h"
#include "log.h"

#include <czmq.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bus_client_t *client;
    int64_t given_ms; //  CLOCK_MONOTONIC when it was given back
} s_idle_t;

struct _bus_pool_t {
    pthread_mutex_t lock;
    char *endpoint;
    size_t max_msg;
    const bus_curve_t *curve;
    size_t max_clients;
    long idle_ms;
    size_t made;    //  clients made and not destroyed
    s_idle_t *idle; //  a stack: idle[nidle - 1] was given back last
    size_t nidle;
};

bus_pool_t *
bus_pool_new (const char *endpoint, size_t max_msg, const bus_curve_t *curve, size_t max_clients,
              long idle_ms)
{
    if (!endpoint || !max_clients || idle_ms < 0)
        return NULL;
    bus_pool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    self->idle = calloc (max_clients, sizeof *self->idle);
    if (!self->endpoint || !self->idle || pthread_mutex_init (&self->lock, NULL) != 0) {
        free (self->endpoint);
        free (self->idle);
        free (self);
        return NULL;
    }
    self->max_msg = max_msg;
    self->curve = curve;
    self->max_clients = max_clients;
    self->idle_ms = idle_ms;
    return self;
}

void
bus_pool_destroy (bus_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bus_pool_t *self = *self_p;
    for (size_t i = 0; i < self->nidle; i++)
        bus_client_destroy (&self->idle[i].client);
    if (self->made != self->nidle)
        log_error ("bus pool: destroyed with %zu clients still taken", self->made - self->nidle);
    pthread_mutex_destroy (&self->lock);
    free (self->idle);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

bus_client_t *
bus_pool_take (bus_pool_t *self)
{
    if (!self)
        return NULL;
    pthread_mutex_lock (&self->lock);
    if (self->nidle) {
        bus_client_t *client = self->idle[--self->nidle].client;
        pthread_mutex_unlock (&self->lock);
        return client;
    }
    if (self->made == self->max_clients) {
        pthread_mutex_unlock (&self->lock);
        log_error ("bus pool: all %zu clients are in use", self->max_clients);
        return NULL;
    }
    //  Counted before it is made (outside the lock: connecting may take a
    //  while), so that max_clients holds under concurrent takes.
    self->made++;
    pthread_mutex_unlock (&self->lock);
    bus_client_t *client = bus_client_new (self->endpoint, self->max_msg, self->curve);
    if (!client) {
        pthread_mutex_lock (&self->lock);
        self->made--;
        pthread_mutex_unlock (&self->lock);
    }
    return client;
}

void
bus_pool_give (bus_pool_t *self, bus_client_t *client)
{
    if (!self || !client)
        return;
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&self->lock);
    //  The bottom of the stack is the longest idle: those past idle_ms go
    //  (destroyed below, outside the lock).
    size_t stale = 0;
    while (stale < self->nidle && now - self->idle[stale].given_ms >= self->idle_ms)
        stale++;
    bus_client_t *gone[16];
    if (stale > sizeof gone / sizeof gone[0])
        stale = sizeof gone / sizeof gone[0];
    for (size_t i = 0; i < stale; i++)
        gone[i] = self->idle[i].client;
    memmove (self->idle, self->idle + stale, (self->nidle - stale) * sizeof *self->idle);
    self->nidle -= stale;
    self->made -= stale;
    self->idle[self->nidle++] = (s_idle_t){client, now};
    pthread_mutex_unlock (&self->lock);
    for (size_t i = 0; i < stale; i++)
        bus_client_destroy (&gone[i]);
}

size_t
bus_pool_size (bus_pool_t *self)
{
    if (!self)
        return 0;
    pthread_mutex_lock (&self->lock);
    size_t made = self->made;
    pthread_mutex_unlock (&self->lock);
    return made;
}
