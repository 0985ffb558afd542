/*  metrics - see metrics.h. */
#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const metric_def_t s_defs[] = {
#define METRIC(sym, name, type, labels, max, buckets, procs, help)                                           \
    {name, METRIC_##type, labels, max, buckets, procs, help},
#include "metrics.def"
#undef METRIC
};

//  One label-value combination. Counter and gauge values, and histogram
//  sums, are doubles kept as their bits in an atomic word (updated by
//  compare-and-swap); bucket counts are plain atomic counters, not
//  cumulative (rendering adds them up).
typedef struct {
    uint32_t hash; //  of the values (s_hash), compared before them
    char *values[METRICS_MAX_LABELS];
    atomic_uint_fast64_t value; //  double bits: counter, gauge, histogram sum
    atomic_uint_fast64_t count; //  histogram observations
    atomic_int cleared;         //  a gauge out of the exposition (metrics_clear)
    atomic_uint_fast64_t buckets[];
} series_t;

typedef struct {
    int nlabels;
    char *label_names[METRICS_MAX_LABELS];
    int nbounds;
    double bounds[METRICS_MAX_BUCKETS];
    //  Published series: readers load nseries (acquire) and read slots below
    //  it without a lock; writers add under lock and store nseries (release).
    pthread_mutex_t lock;
    atomic_int nseries;
    series_t **series; //  max_series slots + 1 for "_other"
    series_t *other;
} metric_t;

static metric_t s_metrics[METRIC__COUNT];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static unsigned s_process;
static double s_start_time;

const metric_def_t *
metrics_def (metric_id_t id)
{
    return (int)id >= 0 && id < METRIC__COUNT ? &s_defs[id] : NULL;
}

int
metrics_find (const char *name)
{
    for (int i = 0; i < METRIC__COUNT; i++)
        if (strcmp (s_defs[i].name, name) == 0)
            return i;
    return -1;
}

static uint_fast64_t
s_bits (double v)
{
    uint64_t bits;
    memcpy (&bits, &v, sizeof bits);
    return bits;
}

static double
s_double (uint_fast64_t bits)
{
    uint64_t b = bits;
    double v;
    memcpy (&v, &b, sizeof v);
    return v;
}

static void
s_setup (void)
{
    for (int i = 0; i < METRIC__COUNT; i++) {
        metric_t *m = &s_metrics[i];
        const metric_def_t *def = &s_defs[i];
        pthread_mutex_init (&m->lock, NULL);
        //  The table is ours: a malformed row is a programmer error, and the
        //  unit tests render every row.
        char buf[256];
        snprintf (buf, sizeof buf, "%s", def->labels);
        char *save = NULL;
        for (char *tok = strtok_r (buf, ",", &save); tok && m->nlabels < METRICS_MAX_LABELS;
             tok = strtok_r (NULL, ",", &save))
            m->label_names[m->nlabels++] = strdup (tok);
        snprintf (buf, sizeof buf, "%s", def->buckets);
        for (char *tok = strtok_r (buf, ",", &save); tok && m->nbounds < METRICS_MAX_BUCKETS;
             tok = strtok_r (NULL, ",", &save))
            m->bounds[m->nbounds++] = strtod (tok, NULL);
        m->series = calloc ((size_t)def->max_series, sizeof *m->series);
    }
}

static void
s_ensure (void)
{
    pthread_once (&s_once, s_setup);
}

//  FNV-1a of the label values as s_matches compares them (each cut at
//  METRICS_MAX_VALUE bytes, NULL as ""), so that a lookup compares one word
//  per series and strings only for the one that matches.
static uint32_t
s_hash (const metric_t *m, const char *const *labels)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < m->nlabels; i++) {
        const char *v = labels && labels[i] ? labels[i] : "";
        for (size_t n = 0; v[n] && n < METRICS_MAX_VALUE; n++)
            h = (h ^ (unsigned char)v[n]) * 16777619u;
        h = (h ^ 0xffu) * 16777619u;
    }
    return h;
}

static series_t *
s_series_new (const metric_t *m, const char *const *labels, const char *fixed)
{
    size_t nb = (size_t)m->nbounds + 1;
    series_t *s = calloc (1, sizeof *s + nb * sizeof s->buckets[0]);
    if (!s)
        return NULL;
    for (int i = 0; i < m->nlabels; i++) {
        const char *v = fixed ? fixed : labels && labels[i] ? labels[i] : "";
        s->values[i] = strndup (v, METRICS_MAX_VALUE);
        if (!s->values[i]) {
            for (int j = 0; j < i; j++)
                free (s->values[j]);
            free (s);
            return NULL;
        }
    }
    s->hash = s_hash (m, (const char *const *)s->values);
    return s;
}

static void
s_series_free (series_t *s)
{
    if (s) {
        for (int i = 0; i < METRICS_MAX_LABELS; i++)
            free (s->values[i]);
        free (s);
    }
}

static int
s_matches (const metric_t *m, const series_t *s, const char *const *labels)
{
    for (int i = 0; i < m->nlabels; i++) {
        const char *v = labels && labels[i] ? labels[i] : "";
        if (strncmp (s->values[i], v, METRICS_MAX_VALUE) != 0)
            return 0;
    }
    return 1;
}

//  The series of these label values: found without a lock, added under it;
//  past max_series, the shared "_other" series. NULL when out of memory.
static series_t *
s_lookup (metric_id_t id, const char *const *labels)
{
    if ((int)id < 0 || id >= METRIC__COUNT)
        return NULL;
    s_ensure ();
    metric_t *m = &s_metrics[id];
    if (!m->series)
        return NULL;
    uint32_t hash = s_hash (m, labels);
    int n = atomic_load_explicit (&m->nseries, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (m->series[i]->hash == hash && s_matches (m, m->series[i], labels))
            return m->series[i];
    pthread_mutex_lock (&m->lock);
    series_t *found = NULL;
    n = atomic_load_explicit (&m->nseries, memory_order_relaxed);
    for (int i = 0; i < n && !found; i++)
        if (m->series[i]->hash == hash && s_matches (m, m->series[i], labels))
            found = m->series[i];
    if (!found && n < s_defs[id].max_series) {
        found = s_series_new (m, labels, NULL);
        if (found) {
            m->series[n] = found;
            atomic_store_explicit (&m->nseries, n + 1, memory_order_release);
        }
    } else if (!found) {
        if (!m->other)
            m->other = s_series_new (m, NULL, "_other");
        found = m->other;
    }
    pthread_mutex_unlock (&m->lock);
    return found;
}

static void
s_add_double (atomic_uint_fast64_t *word, double v)
{
    uint_fast64_t old = atomic_load_explicit (word, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit (word, &old, s_bits (s_double (old) + v),
                                                   memory_order_relaxed, memory_order_relaxed))
        ;
}

//  A cleared series is back in the exposition once it is updated.
static void
s_unclear (series_t *s)
{
    if (atomic_load_explicit (&s->cleared, memory_order_relaxed))
        atomic_store_explicit (&s->cleared, 0, memory_order_relaxed);
}

void
metrics_add (metric_id_t id, const char *const *labels, double v)
{
    if ((int)id < 0 || id >= METRIC__COUNT || s_defs[id].type == METRIC_HISTOGRAM || isnan (v))
        return;
    if (s_defs[id].type == METRIC_COUNTER && v < 0)
        return;
    series_t *s = s_lookup (id, labels);
    if (s) {
        s_add_double (&s->value, v);
        s_unclear (s);
    }
}

void
metrics_inc (metric_id_t id, const char *const *labels)
{
    metrics_add (id, labels, 1.0);
}

void
metrics_set (metric_id_t id, const char *const *labels, double v)
{
    if ((int)id < 0 || id >= METRIC__COUNT || s_defs[id].type == METRIC_HISTOGRAM)
        return;
    series_t *s = s_lookup (id, labels);
    if (s) {
        atomic_store_explicit (&s->value, s_bits (v), memory_order_relaxed);
        s_unclear (s);
    }
}

void
metrics_observe (metric_id_t id, const char *const *labels, double v)
{
    if ((int)id < 0 || id >= METRIC__COUNT || s_defs[id].type != METRIC_HISTOGRAM || isnan (v))
        return;
    series_t *s = s_lookup (id, labels);
    if (!s)
        return;
    const metric_t *m = &s_metrics[id];
    int b = 0;
    while (b < m->nbounds && v > m->bounds[b])
        b++;
    atomic_fetch_add_explicit (&s->buckets[b], 1, memory_order_relaxed);
    s_add_double (&s->value, v);
    atomic_fetch_add_explicit (&s->count, 1, memory_order_relaxed);
}

//  The series of these labels if it exists (never creates one).
static series_t *
s_existing (metric_id_t id, const char *const *labels)
{
    if ((int)id < 0 || id >= METRIC__COUNT)
        return NULL;
    s_ensure ();
    metric_t *m = &s_metrics[id];
    uint32_t hash = s_hash (m, labels);
    int n = atomic_load_explicit (&m->nseries, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (m->series[i]->hash == hash && s_matches (m, m->series[i], labels))
            return m->series[i];
    return NULL;
}

void
metrics_clear (metric_id_t id, const char *const *labels)
{
    if ((int)id < 0 || id >= METRIC__COUNT || s_defs[id].type != METRIC_GAUGE)
        return;
    series_t *s = s_existing (id, labels);
    if (s) {
        atomic_store_explicit (&s->cleared, 1, memory_order_relaxed);
        atomic_store_explicit (&s->value, s_bits (0), memory_order_relaxed);
    }
}

double
metrics_get (metric_id_t id, const char *const *labels)
{
    series_t *s = s_existing (id, labels);
    if (!s)
        return 0;
    if (s_defs[id].type == METRIC_HISTOGRAM)
        return (double)atomic_load (&s->count);
    return s_double (atomic_load (&s->value));
}

double
metrics_get_sum (metric_id_t id, const char *const *labels)
{
    series_t *s = s_existing (id, labels);
    return s && s_defs[id].type == METRIC_HISTOGRAM ? s_double (atomic_load (&s->value)) : 0;
}

double
metrics_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
metrics_init (unsigned process)
{
    s_ensure ();
    s_process = process;
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    s_start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    //  Metrics without labels exist from the start, so that a counter that
    //  has not moved yet reads 0 rather than nothing.
    for (int i = 0; i < METRIC__COUNT; i++)
        if ((s_defs[i].processes & process) && s_metrics[i].nlabels == 0)
            (void)s_lookup ((metric_id_t)i, NULL);
}

void
metrics_reset (void)
{
    s_ensure ();
    for (int i = 0; i < METRIC__COUNT; i++) {
        metric_t *m = &s_metrics[i];
        pthread_mutex_lock (&m->lock);
        int n = atomic_load (&m->nseries);
        for (int j = 0; j < n; j++) {
            s_series_free (m->series[j]);
            m->series[j] = NULL;
        }
        atomic_store (&m->nseries, 0);
        s_series_free (m->other);
        m->other = NULL;
        pthread_mutex_unlock (&m->lock);
    }
    s_process = 0;
}

size_t
metrics_escape (const char *in, int quote, char *out, size_t size)
{
    size_t o = 0;
    if (!size)
        return 0;
    for (; in && *in; in++) {
        const char *rep = NULL;
        char one[2] = {*in, '\0'};
        if (*in == '\\')
            rep = "\\\\";
        else if (*in == '\n')
            rep = "\\n";
        else if (quote && *in == '"')
            rep = "\\\"";
        else
            rep = one;
        size_t n = strlen (rep);
        if (o + n >= size)
            break;
        memcpy (out + o, rep, n);
        o += n;
    }
    out[o] = '\0';
    return o;
}

void
metrics_format_number (double v, char *out, size_t size)
{
    if (isnan (v))
        snprintf (out, size, "NaN");
    else if (isinf (v))
        snprintf (out, size, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor (v) && fabs (v) < 1e15)
        snprintf (out, size, "%.0f", v);
    else {
        //  The shortest precision that reads back exactly.
        for (int p = 1; p <= 17; p++) {
            snprintf (out, size, "%.*g", p, v);
            if (strtod (out, NULL) == v)
                return;
        }
    }
}

//  ------------------------------------------------------------ process basics

static void
s_collect_process (void)
{
    metrics_set (METRIC_PROCESS_START_TIME, NULL, s_start_time);
    struct rusage ru;
    if (getrusage (RUSAGE_SELF, &ru) == 0)
        metrics_set (METRIC_PROCESS_CPU, NULL,
                     (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    FILE *f = fopen ("/proc/self/statm", "r");
    if (f) {
        unsigned long size, resident;
        if (fscanf (f, "%lu %lu", &size, &resident) == 2) {
            double page = (double)sysconf (_SC_PAGESIZE);
            metrics_set (METRIC_PROCESS_VSZ, NULL, (double)size * page);
            metrics_set (METRIC_PROCESS_RSS, NULL, (double)resident * page);
        }
        fclose (f);
    }
    DIR *dir = opendir ("/proc/self/fd");
    if (dir) {
        int n = 0;
        for (struct dirent *e = readdir (dir); e; e = readdir (dir))
            if (e->d_name[0] != '.')
                n++;
        closedir (dir);
        metrics_set (METRIC_PROCESS_OPEN_FDS, NULL, (double)(n > 0 ? n - 1 : 0)); //  less the one reading
    }
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
        metrics_set (METRIC_PROCESS_MAX_FDS, NULL,
                     rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
}

//  ------------------------------------------------------------ rendering

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

//  {a="x",b="y"} with an extra label (le) at the end when given; "" when
//  there is nothing to write.
static void
s_labels (s_buf_t *buf, const metric_t *m, const series_t *s, const char *extra_name, const char *extra_value)
{
    if (m->nlabels == 0 && !extra_name)
        return;
    s_printf (buf, "{");
    for (int i = 0; i < m->nlabels; i++) {
        char value[METRICS_MAX_VALUE * 2 + 1];
        metrics_escape (s->values[i], 1, value, sizeof value);
        s_printf (buf, "%s%s=\"%s\"", i ? "," : "", m->label_names[i], value);
    }
    if (extra_name)
        s_printf (buf, "%s%s=\"%s\"", m->nlabels ? "," : "", extra_name, extra_value);
    s_printf (buf, "}");
}

static void
s_render_series (s_buf_t *buf, const metric_def_t *def, const metric_t *m, const series_t *s)
{
    char num[32];
    if (def->type != METRIC_HISTOGRAM) {
        metrics_format_number (s_double (atomic_load (&s->value)), num, sizeof num);
        s_printf (buf, "%s", def->name);
        s_labels (buf, m, s, NULL, NULL);
        s_printf (buf, " %s\n", num);
        return;
    }
    //  Read the buckets first and make the count their total, so that the
    //  +Inf bucket and _count agree even while observations arrive.
    uint_fast64_t cumulative = 0;
    for (int b = 0; b <= m->nbounds; b++) {
        cumulative += atomic_load (&s->buckets[b]);
        char le[32];
        metrics_format_number (b < m->nbounds ? m->bounds[b] : INFINITY, le, sizeof le);
        s_printf (buf, "%s_bucket", def->name);
        s_labels (buf, m, s, "le", le);
        s_printf (buf, " %llu\n", (unsigned long long)cumulative);
    }
    metrics_format_number (s_double (atomic_load (&s->value)), num, sizeof num);
    s_printf (buf, "%s_sum", def->name);
    s_labels (buf, m, s, NULL, NULL);
    s_printf (buf, " %s\n", num);
    s_printf (buf, "%s_count", def->name);
    s_labels (buf, m, s, NULL, NULL);
    s_printf (buf, " %llu\n", (unsigned long long)cumulative);
}

static const char *const s_type_names[] = {"counter", "gauge", "histogram"};

char *
metrics_render (size_t *len)
{
    s_ensure ();
    s_collect_process ();
    s_buf_t buf = {.data = malloc (16384), .cap = 16384};
    if (!buf.data)
        return NULL;
    for (int i = 0; i < METRIC__COUNT; i++) {
        const metric_def_t *def = &s_defs[i];
        metric_t *m = &s_metrics[i];
        int n = atomic_load_explicit (&m->nseries, memory_order_acquire);
        pthread_mutex_lock (&m->lock);
        series_t *other = m->other;
        pthread_mutex_unlock (&m->lock);
        int shown = other != NULL;
        for (int j = 0; j < n && !shown; j++)
            shown = !atomic_load_explicit (&m->series[j]->cleared, memory_order_relaxed);
        if (!shown)
            continue;
        char help[512];
        metrics_escape (def->help, 0, help, sizeof help);
        s_printf (&buf, "# HELP %s %s\n# TYPE %s %s\n", def->name, help, def->name, s_type_names[def->type]);
        for (int j = 0; j < n; j++)
            if (!atomic_load_explicit (&m->series[j]->cleared, memory_order_relaxed))
                s_render_series (&buf, def, m, m->series[j]);
        if (other)
            s_render_series (&buf, def, m, other);
    }
    if (buf.failed) {
        free (buf.data);
        return NULL;
    }
    *len = buf.len;
    return buf.data;
}
