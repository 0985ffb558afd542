/*  metrics - the process-wide registry of the metrics of metrics.def
 *  (counters, gauges, histograms with bounded label sets), rendered in
 *  Prometheus' text exposition format 0.0.4 for the metrics listener
 *  (metrics_http.h).
 *
 *  The registry is one per process, unlike most classes here: a measurement
 *  is taken deep inside common/ (db.c, bus_client.c, the broker) by code that
 *  has no object to carry it, and every thread writes it. Updates are cheap
 *  on the hot path: finding a series reads an array published with atomics
 *  (a mutex is taken only to add a new series), and a series is updated with
 *  atomic adds and compare-and-swap, never a lock.
 *
 *      metrics_inc (METRIC_REFRESH_ROTATIONS, NULL);
 *      metrics_inc (METRIC_LOGINS_FAILED, METRICS_L ("login_failed"));
 *      metrics_observe (METRIC_HTTP_REQUEST, METRICS_L ("token", "2xx"), seconds);
 *
 *  Label values are copied on first use. Values beyond a metric's
 *  max_series share one series labelled "_other". */
#ifndef OST_METRICS_H
#define OST_METRICS_H

#include "ost.h"
#include <stddef.h>

//  The processes of metrics.def's processes column.
#define M_GW (1u << 0)
#define M_TOK (1u << 1)
#define M_FLOW (1u << 2)
#define M_KEYS (1u << 3)
#define M_SVC (M_TOK | M_FLOW | M_KEYS)
#define M_ALL (M_GW | M_SVC)

typedef enum {
#define METRIC(sym, name, type, labels, max, buckets, procs, help) METRIC_##sym,
#include "metrics.def"
#undef METRIC
    METRIC__COUNT
} metric_id_t;

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type_t;

//  At most this many labels per metric, and bounds per histogram.
#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 32
//  Label values longer than this are cut (they are fixed strings anyway).
#define METRICS_MAX_VALUE 64

//  One row of metrics.def.
typedef struct {
    const char *name;
    metric_type_t type;
    const char *labels; //  comma-separated, "" for none
    int max_series;
    const char *buckets; //  comma-separated upper bounds, "" unless a histogram
    unsigned processes;  //  M_x flags
    const char *help;
} metric_def_t;

//  The table (METRIC__COUNT rows, in order).
const metric_def_t *metrics_def (metric_id_t id);
//  The metric named name, or -1.
int metrics_find (const char *name);

//  The label values of one call, in the order of the metric's labels.
#define METRICS_L(...) ((const char *const[]){__VA_ARGS__})

//  Which process this is (M_x): the metrics it shows before they are first
//  updated, and the process_* basics. Records the start time. Call once at
//  start; the registry itself works without it.
void metrics_init (unsigned process);

//  A counter grows by v (v < 0 is ignored); a gauge moves by v.
void metrics_add (metric_id_t id, const char *const *labels, double v);
//  metrics_add of 1.
void metrics_inc (metric_id_t id, const char *const *labels);
//  Sets a gauge (or a counter read from elsewhere, such as CPU time).
void metrics_set (metric_id_t id, const char *const *labels, double v);
//  Takes a gauge series out of the exposition until it is next set or moved
//  (at 0 then): for a series whose subject is gone (the active key of an
//  algorithm that has none any more), so that no alert keeps reading its
//  last value. Creates nothing; counters and histograms are left alone.
void metrics_clear (metric_id_t id, const char *const *labels);
//  One observation of a histogram.
void metrics_observe (metric_id_t id, const char *const *labels, double v);
//  The current value of a counter or gauge series (a histogram: its count),
//  0 when the series does not exist. For tests and the process' own checks.
double metrics_get (metric_id_t id, const char *const *labels);
//  The sum of a histogram series (0 when it does not exist).
double metrics_get_sum (metric_id_t id, const char *const *labels);

//  Seconds on the monotonic clock, for durations: t = metrics_now (); ...;
//  metrics_observe (.., metrics_now () - t).
double metrics_now (void);

//  Every metric of this process with its series, in the text exposition
//  format 0.0.4 (# HELP, # TYPE, samples; histograms as _bucket{le=...},
//  _sum, _count): a new string of *len bytes (caller frees), NULL when out
//  of memory. Reads the process_* basics first.
OST_WUR char *metrics_render (size_t *len);

//  Forgets every series (tests only: not safe while other threads update).
void metrics_reset (void);

//  Text of a label value or HELP string escaped for the exposition format
//  into out (size bytes, always terminated): backslash, newline, and (label
//  values) double quote. Returns the length written.
size_t metrics_escape (const char *in, int quote, char *out, size_t size);
//  A number as the exposition format writes it: the shortest text that reads
//  back as the same double, +Inf, -Inf, NaN. out holds 32 bytes.
void metrics_format_number (double v, char *out, size_t size);

#endif
