/*  metrics - see metrics.h. */
#include "metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Status classes 1xx..5xx, and anything else.
#define CLASS_COUNT 6

typedef struct {
    atomic_uint_fast64_t by_class[CLASS_COUNT];
    atomic_uint_fast64_t micros; //  total duration, for the _sum series
} route_counters_t;

struct _metrics_t {
    size_t route_count;
    const char *(*route_name) (int route);
    route_counters_t *routes; //  route_count + 1; the last is "none"
    atomic_uint_fast64_t bus_errors[OST_ERR__COUNT];
    atomic_uint_fast64_t jwks_refresh_ok, jwks_refresh_failed;
    time_t started;
    pthread_mutex_t lock; //  guards broker
    char *broker;         //  latest broker STATS JSON
};

static const char *const s_class_names[CLASS_COUNT] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

metrics_t *
metrics_new (size_t route_count, const char *(*route_name) (int route))
{
    metrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->route_count = route_count;
    self->route_name = route_name;
    self->routes = calloc (route_count + 1, sizeof *self->routes);
    if (!self->routes) {
        free (self);
        return NULL;
    }
    self->started = time (NULL);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
metrics_destroy (metrics_t **self_p)
{
    if (self_p && *self_p) {
        metrics_t *self = *self_p;
        pthread_mutex_destroy (&self->lock);
        free (self->broker);
        free (self->routes);
        free (self);
        *self_p = NULL;
    }
}

void
metrics_request (metrics_t *self, int route, int status, double seconds)
{
    if (!self)
        return;
    size_t r = route >= 0 && (size_t)route < self->route_count ? (size_t)route : self->route_count;
    int cls = status >= 100 && status <= 599 ? status / 100 - 1 : CLASS_COUNT - 1;
    atomic_fetch_add (&self->routes[r].by_class[cls], 1);
    if (seconds > 0)
        atomic_fetch_add (&self->routes[r].micros, (uint_fast64_t)(seconds * 1e6));
}

void
metrics_bus_error (metrics_t *self, ost_err_t err)
{
    if (self && (int)err >= 0 && err < OST_ERR__COUNT)
        atomic_fetch_add (&self->bus_errors[err], 1);
}

void
metrics_jwks_refresh (metrics_t *self, int ok)
{
    if (self)
        atomic_fetch_add (ok ? &self->jwks_refresh_ok : &self->jwks_refresh_failed, 1);
}

void
metrics_set_broker_stats (metrics_t *self, const char *json)
{
    if (!self)
        return;
    char *copy = json ? strdup (json) : NULL;
    pthread_mutex_lock (&self->lock);
    free (self->broker);
    self->broker = copy;
    pthread_mutex_unlock (&self->lock);
}

//  A growing text buffer; on allocation failure it stops growing and
//  remembers that it failed.
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} s_buf_t;

static void __attribute__ ((format (printf, 2, 3))) s_printf (s_buf_t *buf, const char *fmt, ...)
{
    if (buf->failed)
        return;
    for (;;) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (buf->data + buf->len, buf->cap - buf->len, fmt, ap);
        va_end (ap);
        if (n < 0) {
            buf->failed = 1;
            return;
        }
        if ((size_t)n < buf->cap - buf->len) {
            buf->len += (size_t)n;
            return;
        }
        size_t cap = buf->cap * 2 + (size_t)n + 1;
        char *data = realloc (buf->data, cap);
        if (!data) {
            buf->failed = 1;
            return;
        }
        buf->data = data;
        buf->cap = cap;
    }
}

//  Metric names: [a-zA-Z_][a-zA-Z0-9_]*; anything else becomes '_'.
static void
s_metric_name (const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 1 < size; in++) {
        char c = *in;
        int ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (o > 0 && c >= '0' && c <= '9');
        out[o++] = ok ? c : '_';
    }
    out[o] = '\0';
}

//  Label values: backslash, double quote and newline escaped.
static void
s_label_value (const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 2 < size; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else
            out[o++] = *in;
    }
    out[o] = '\0';
}

//  The broker's STATS: {"services":{"<svc>":{"workers":n,...}},"served":n,...}.
//  Top-level numbers are counters of the broker's life; per-service numbers
//  are current gauges.
static void
s_render_broker (s_buf_t *buf, const char *text)
{
    json_t *stats = text ? json_loads (text, 0, NULL) : NULL;
    if (!json_is_object (stats)) {
        json_decref (stats);
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach (stats, key, value)
    {
        char name[64];
        s_metric_name (key, name, sizeof name);
        if (json_is_integer (value)) {
            s_printf (buf, "# TYPE ostiary_broker_%s_total counter\n", name);
            s_printf (buf, "ostiary_broker_%s_total %" JSON_INTEGER_FORMAT "\n", name,
                      json_integer_value (value));
        }
    }
    json_t *services = json_object_get (stats, "services");
    if (json_is_object (services)) {
        //  One family per field, every service in it.
        json_t *first = NULL;
        const char *svc;
        json_object_foreach (services, svc, value)
        {
            if (json_is_object (value)) {
                first = value;
                break;
            }
        }
        const char *field;
        json_t *unused;
        json_object_foreach (first, field, unused)
        {
            char name[64];
            s_metric_name (field, name, sizeof name);
            s_printf (buf, "# TYPE ostiary_broker_%s gauge\n", name);
            json_object_foreach (services, svc, value)
            {
                json_t *n = json_object_get (value, field);
                if (!json_is_integer (n))
                    continue;
                char label[96];
                s_label_value (svc, label, sizeof label);
                s_printf (buf, "ostiary_broker_%s{service=\"%s\"} %" JSON_INTEGER_FORMAT "\n", name, label,
                          json_integer_value (n));
            }
        }
    }
    json_decref (stats);
}

char *
metrics_render (metrics_t *self, size_t *len)
{
    s_buf_t buf = {.data = malloc (8192), .cap = 8192};
    if (!buf.data)
        return NULL;
    s_printf (&buf,
              "# HELP ostiary_gateway_requests_total HTTP requests answered, by route and status class.\n");
    s_printf (&buf, "# TYPE ostiary_gateway_requests_total counter\n");
    for (size_t r = 0; r <= self->route_count; r++)
        for (int c = 0; c < CLASS_COUNT; c++) {
            uint_fast64_t n = atomic_load (&self->routes[r].by_class[c]);
            //  Every route shows its 2xx line, so a route never answered is
            //  visible as 0; other classes appear once they happen.
            if (n || c == 1)
                s_printf (&buf, "ostiary_gateway_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                          self->route_name (r < self->route_count ? (int)r : -1), s_class_names[c],
                          (unsigned long long)n);
        }
    s_printf (&buf, "# HELP ostiary_gateway_request_seconds_sum Time spent answering, by route.\n");
    s_printf (&buf, "# TYPE ostiary_gateway_request_seconds_sum counter\n");
    for (size_t r = 0; r <= self->route_count; r++)
        s_printf (&buf, "ostiary_gateway_request_seconds_sum{route=\"%s\"} %.6f\n",
                  self->route_name (r < self->route_count ? (int)r : -1),
                  (double)atomic_load (&self->routes[r].micros) / 1e6);
    s_printf (&buf, "# HELP ostiary_gateway_bus_errors_total Bus calls that ended in an error, by code.\n");
    s_printf (&buf, "# TYPE ostiary_gateway_bus_errors_total counter\n");
    for (int e = 0; e < OST_ERR__COUNT; e++) {
        uint_fast64_t n = atomic_load (&self->bus_errors[e]);
        if (n || e == OST_ERR_TEMPORARILY_UNAVAILABLE || e == OST_ERR_DEADLINE_EXCEEDED)
            s_printf (&buf, "ostiary_gateway_bus_errors_total{code=\"%s\"} %llu\n",
                      proto_err ((ost_err_t)e)->code, (unsigned long long)n);
    }
    s_printf (&buf, "# HELP ostiary_gateway_jwks_refreshes_total Fetches of the JWKS from keys-svc.\n");
    s_printf (&buf, "# TYPE ostiary_gateway_jwks_refreshes_total counter\n");
    s_printf (&buf, "ostiary_gateway_jwks_refreshes_total{result=\"ok\"} %llu\n",
              (unsigned long long)atomic_load (&self->jwks_refresh_ok));
    s_printf (&buf, "ostiary_gateway_jwks_refreshes_total{result=\"error\"} %llu\n",
              (unsigned long long)atomic_load (&self->jwks_refresh_failed));
    s_printf (&buf, "# HELP ostiary_gateway_start_time_seconds When the gateway started (Unix time).\n");
    s_printf (&buf, "# TYPE ostiary_gateway_start_time_seconds gauge\n");
    s_printf (&buf, "ostiary_gateway_start_time_seconds %lld\n", (long long)self->started);

    pthread_mutex_lock (&self->lock);
    char *broker = self->broker ? strdup (self->broker) : NULL;
    pthread_mutex_unlock (&self->lock);
    s_render_broker (&buf, broker);
    free (broker);

    if (buf.failed) {
        free (buf.data);
        return NULL;
    }
    *len = buf.len;
    return buf.data;
}
