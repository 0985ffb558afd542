/*  trace - W3C Trace Context (https://www.w3.org/TR/trace-context/): the
 *  traceparent header, random trace and span ids, and the trace context of
 *  the request a thread is serving now.
 *
 *  A trace id names one request end to end (the gateway's HTTP request and
 *  every bus operation and statement it causes); a span id names one piece
 *  of work in it. The gateway takes the trace id from a valid incoming
 *  traceparent or starts a trace; the bus carries the caller's trace id and
 *  span id in each REQUEST's trace field (proto/bus.md); log lines carry
 *  both (common/log.c); spans are exported with them (common/otlp.c). */
#ifndef OST_TRACE_H
#define OST_TRACE_H

#include "ost.h"
#include <stddef.h>
#include <stdint.h>

#define TRACE_ID_HEX 32         //  16 bytes as lowercase hex
#define TRACE_SPAN_HEX 16       //  8 bytes as lowercase hex
#define TRACE_PARENT_LEN 55     //  "00-" trace "-" span "-" flags
#define TRACE_FLAG_SAMPLED 0x01 //  W3C trace-flags: the caller may have recorded
#define TRACE_REQUEST_ID_MAX 64 //  longest X-Request-Id taken from a client

//  One span's place in a trace. Ids are lowercase hex, NUL-terminated;
//  parent_id is "" for a span without a parent (a trace started here).
typedef struct {
    char trace_id[TRACE_ID_HEX + 1];
    char span_id[TRACE_SPAN_HEX + 1];
    char parent_id[TRACE_SPAN_HEX + 1];
    uint8_t flags;
} trace_ctx_t;

//  Parses a traceparent header value of version 00 (W3C Trace Context §3.2):
//  exactly "00-" 32 hex "-" 16 hex "-" 2 hex, lowercase only, neither id all
//  zeros. A version other than 00 and ff is parsed as 00 when what follows
//  the first 55 characters starts with "-" (§4.3, future versions); version
//  ff is invalid. On success fills out's trace_id, span_id (the caller's
//  span: the parent of ours) and flags, clears parent_id, and returns 0;
//  -1 for anything else (out is then zeroed).
OST_WUR int trace_parse (const char *value, trace_ctx_t *out);
//  Writes "00-<trace_id>-<span_id>-<flags>" (55 characters and a NUL) into
//  out (size >= TRACE_PARENT_LEN + 1). 0 ok, -1 when ctx holds no valid ids
//  or out is too small.
OST_WUR int trace_format (const trace_ctx_t *ctx, char *out, size_t size);
//  Random ids from OpenSSL's CSPRNG (drawn 512 bytes at a time per thread),
//  never all zeros. 0 ok, -1 when the CSPRNG fails (out is then "").
OST_WUR int trace_new_trace_id (char out[TRACE_ID_HEX + 1]);
OST_WUR int trace_new_span_id (char out[TRACE_SPAN_HEX + 1]);
//  A new trace: fresh trace and span ids, no parent, flags sampled. -1 when
//  the CSPRNG fails.
OST_WUR int trace_start (trace_ctx_t *out);
//  A child of parent (a span received or one of ours): parent's trace id and
//  flags, a fresh span id, parent's span id as parent_id. With parent NULL
//  or holding no trace id, a new trace (trace_start). -1 when the CSPRNG
//  fails.
OST_WUR int trace_child (const trace_ctx_t *parent, trace_ctx_t *out);
//  1 when id is n lowercase hex digits, not all zeros; 0 otherwise.
int trace_id_valid (const char *id, size_t n);
//  1 when a client's X-Request-Id can be taken as it is: 1 to
//  TRACE_REQUEST_ID_MAX characters of A-Z a-z 0-9 - _ . : (no spaces,
//  quotes or control bytes: it is logged, echoed and exported); 0 otherwise.
int trace_request_id_ok (const char *value);

//  The trace context of the request this thread serves now, read by the log
//  lines (trace_id, span_id), by bus clients (sent on as the trace field)
//  and by child spans (db statements, signatures). NULL clears it.
void trace_set_current (const trace_ctx_t *ctx);
//  Never NULL; its ids are "" when the thread serves no request.
const trace_ctx_t *trace_current (void);

#endif
