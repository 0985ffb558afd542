/*  log - one structured line per event on stderr, logfmt (the default)
 *    ts=2026-11-23T10:00:00.123Z level=info svc=token trace_id=... span_id=... rid=... op=token.health
 * msg="..." or JSON (OSTIARY_LOG_FORMAT=json), one object per line with the same fields
 *    {"ts":"...","level":"info","svc":"token","trace_id":"...","span_id":"...","rid":"...","op":"...","msg":"..."}
 *  The request id and op are per-thread context set by the bus worker and the
 *  gateway; trace_id and span_id come from the thread's trace context
 *  (trace.h); so every line of a request carries them. Secrets are never
 *  passed here: log the request id instead. */
#ifndef OST_LOG_H
#define OST_LOG_H

#include <stddef.h>

//  Prefixed: czmq pulls in <syslog.h>, which defines LOG_DEBUG and friends.
typedef enum { OST_LOG_DEBUG, OST_LOG_INFO, OST_LOG_WARN, OST_LOG_ERROR } log_level_t;

typedef enum { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON } log_format_t;

//  Sets the process-wide service name and threshold. Thread-safe to call once at start.
void log_init (const char *service, log_level_t level);
//  Sets the line format (logfmt until called). Call once at start.
void log_set_format (log_format_t format);
//  Parses "logfmt" or "json"; -1 for anything else.
int log_format_parse (const char *name);
//  Parses "debug", "info", "warn", "error"; -1 for anything else.
int log_level_parse (const char *name);
//  Per-thread context: request id and op (either may be NULL to clear).
void log_set_context (const char *request_id, const char *op);
//  The trace id of the thread's current request ("" when none), for records
//  that must be joined with the logs of the same request (audit events): the
//  W3C trace id of its trace context (trace.h), or, in a thread that has
//  none, the request id of log_set_context.
const char *log_trace_id (void);
//  Writes one line. The message is escaped (quotes, backslashes, control bytes).
void log_msg (log_level_t level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  One field of log_fields: a key (a fixed name of the code: letters, digits,
//  '_', '.', '-'; anything else becomes '_') and a string, an integer or a
//  number. Build them with LOG_STR, LOG_INT and LOG_NUM.
typedef enum { LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_NUM } log_field_type_t;
typedef struct {
    const char *key;
    log_field_type_t type;
    const char *str; //  NULL is written as "-"
    long long i;
    double num; //  written with 3 decimals; NaN and infinities as "-" (JSON: null)
} log_field_t;

#define LOG_STR(k, v) ((log_field_t){.key = (k), .type = LOG_FIELD_STR, .str = (v)})
#define LOG_INT(k, v) ((log_field_t){.key = (k), .type = LOG_FIELD_INT, .i = (long long)(v)})
#define LOG_NUM(k, v) ((log_field_t){.key = (k), .type = LOG_FIELD_NUM, .num = (double)(v)})

//  Fields beyond this many are ignored; a string value is cut at
//  LOG_FIELD_VALUE_MAX bytes (before escaping), and the line is marked
//  truncated when that happens.
#define LOG_FIELDS_MAX 16
#define LOG_FIELD_VALUE_MAX 256

//  Writes one line with fields of its own after the context fields and
//  before msg: key=value in logfmt (quoted and escaped when the value has
//  spaces, quotes, '=' or control bytes), members in JSON (numbers as
//  numbers). Keys that would repeat a field of the line (ts, level, svc,
//  trace_id, span_id, rid, op, msg, truncated) get a "f_" prefix.
void log_fields (log_level_t level, const log_field_t *fields, size_t n, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

#define log_debug(...) log_msg (OST_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg (OST_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg (OST_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg (OST_LOG_ERROR, __VA_ARGS__)

#endif
