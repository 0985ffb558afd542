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

#define log_debug(...) log_msg (OST_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg (OST_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg (OST_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg (OST_LOG_ERROR, __VA_ARGS__)

#endif
