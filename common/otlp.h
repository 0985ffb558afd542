/*  otlp - spans exported over OTLP/HTTP (JSON encoding) to a collector.
 *
 *  One exporter per process (like the log): started by main when
 *  OSTIARY_OTLP_ENDPOINT is set, read by every thread through
 *  otlp_enabled(). A span lives on its creator's stack; otlp_span_end copies
 *  it into a bounded queue, which a background thread sends in batches with
 *  libcurl. A full queue drops the span and counts it: export never slows
 *  or fails a request. With no endpoint no span is built at all: callers
 *  test otlp_enabled() first, one branch.
 *
 *  Attributes never hold secrets: no SQL parameters, no tokens, no codes,
 *  no client secrets; only names, statuses and ids (docs/observability.md). */
#ifndef OST_OTLP_H
#define OST_OTLP_H

#include "ost.h"
#include "trace.h"
#include <stddef.h>
#include <stdint.h>

#define OTLP_NAME_MAX 64
#define OTLP_ATTRS_MAX 8
#define OTLP_VALUE_MAX 96
#define OTLP_BATCH_MAX 512

//  OTLP SpanKind values.
typedef enum { OTLP_INTERNAL = 1, OTLP_SERVER = 2, OTLP_CLIENT = 3 } otlp_kind_t;

typedef struct {
    const char *key; //  a string literal (outlives the span)
    int is_int;
    int64_t int_value;
    char str_value[OTLP_VALUE_MAX];
} otlp_attr_t;

typedef struct {
    trace_ctx_t ctx; //  trace id, span id, parent span id
    char name[OTLP_NAME_MAX];
    otlp_kind_t kind;
    uint64_t start_ns; //  Unix epoch, nanoseconds
    uint64_t end_ns;
    int error; //  1: status ERROR with status_message
    char status_message[OTLP_VALUE_MAX];
    size_t nattrs;
    otlp_attr_t attrs[OTLP_ATTRS_MAX];
} otlp_span_t;

//  Starts the exporter: spans of this process go to endpoint (an OTLP/HTTP
//  traces URL) with the resource attribute service.name = service, at most
//  queue_max wait, and a batch leaves at least every interval_ms. Call once,
//  before the threads that make spans start. 0 ok, -1 failure (logged).
OST_WUR int otlp_start (const char *endpoint, const char *service, size_t queue_max, int interval_ms);
//  Sends what is queued (for at most about two seconds) and stops the
//  exporter; otlp_enabled() is 0 afterwards. Call after the threads that
//  make spans have ended. Idempotent.
void otlp_stop (void);
//  1 while the exporter runs: build spans only then.
int otlp_enabled (void);
//  Spans dropped because the queue was full, and batches that could not be
//  delivered, since the start (for the metrics).
uint64_t otlp_dropped (void);
uint64_t otlp_export_failures (void);
//  Spans delivered to the collector (accepted with a 2xx answer).
uint64_t otlp_exported (void);

//  The endpoint URL as the log shows it: without userinfo (user:password@)
//  and without query and fragment, which may hold credentials. Writes into
//  out (size bytes, always terminated, cut when it does not fit).
void otlp_url_for_log (const char *url, char *out, size_t size);

//  Starts span: name, kind, its place in the trace (ctx copied: trace id,
//  span id and parent id), the start time now.
void otlp_span_begin (otlp_span_t *span, const char *name, otlp_kind_t kind, const trace_ctx_t *ctx);
//  Renames span (a name known only at its end, such as the HTTP route).
void otlp_span_name (otlp_span_t *span, const char *name);
//  Adds an attribute (ignored past OTLP_ATTRS_MAX; the value is cut to
//  OTLP_VALUE_MAX - 1 bytes). key must outlive the span (a literal). Names,
//  values and status messages keep printable ASCII only (others become '?').
void otlp_span_str (otlp_span_t *span, const char *key, const char *value);
void otlp_span_int (otlp_span_t *span, const char *key, int64_t value);
//  Marks the span failed (OTLP status ERROR) with a fixed message.
void otlp_span_error (otlp_span_t *span, const char *message);
//  Ends span now and queues it for export (or counts it dropped).
void otlp_span_end (otlp_span_t *span);

//  The OTLP/HTTP JSON request body (ExportTraceServiceRequest) of n spans of
//  service, as text: ids as hex, times and integer attributes as decimal
//  strings, kinds and status codes as numbers. A new NUL-terminated string
//  (free()) and its length in *len (when len is not NULL); NULL on
//  allocation failure.
OST_WUR char *otlp_encode (const otlp_span_t *spans, size_t n, const char *service, size_t *len);

#endif
