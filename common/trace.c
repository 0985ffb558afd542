/*  trace - W3C Trace Context ids and the thread's current context.
 *  See trace.h. */
#include "trace.h"

#include "secure.h"
#include <stdio.h>
#include <string.h>

static _Thread_local trace_ctx_t s_current;

static int
s_lower_hex (char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int
s_hex_value (char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

int
trace_id_valid (const char *id, size_t n)
{
    if (!id)
        return 0;
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!s_lower_hex (id[i]))
            return 0;
        nonzero |= id[i] != '0';
    }
    return id[n] == '\0' && nonzero;
}

//  1 when the n characters at p are lowercase hex and not all zeros.
static int
s_field_ok (const char *p, size_t n)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!s_lower_hex (p[i]))
            return 0;
        nonzero |= p[i] != '0';
    }
    return nonzero;
}

int
trace_parse (const char *value, trace_ctx_t *out)
{
    memset (out, 0, sizeof *out);
    if (!value)
        return -1;
    size_t len = strlen (value);
    //  §3.2.2.1: version is 2 lowercase hex digits; ff is forbidden.
    if (len < TRACE_PARENT_LEN || !s_lower_hex (value[0]) || !s_lower_hex (value[1]) ||
        (value[0] == 'f' && value[1] == 'f'))
        return -1;
    int v00 = value[0] == '0' && value[1] == '0';
    //  §3.2.4: version 00 is exactly 55 characters; a later version may be
    //  longer, its further fields after a dash, and is read as 00.
    if (v00 ? len != TRACE_PARENT_LEN : (len > TRACE_PARENT_LEN && value[TRACE_PARENT_LEN] != '-'))
        return -1;
    if (value[2] != '-' || value[35] != '-' || value[52] != '-')
        return -1;
    //  §3.2.2.3, §3.2.2.4: all-zero trace-id and parent-id are invalid.
    if (!s_field_ok (value + 3, TRACE_ID_HEX) || !s_field_ok (value + 36, TRACE_SPAN_HEX))
        return -1;
    //  §3.2.2.5: trace-flags, 2 lowercase hex digits (zeros allowed).
    if (!s_lower_hex (value[53]) || !s_lower_hex (value[54]))
        return -1;
    memcpy (out->trace_id, value + 3, TRACE_ID_HEX);
    memcpy (out->span_id, value + 36, TRACE_SPAN_HEX);
    //  Only the sampled flag is defined; the others MUST be passed on as 0.
    out->flags = (uint8_t)((s_hex_value (value[53]) << 4 | s_hex_value (value[54])) & TRACE_FLAG_SAMPLED);
    return 0;
}

int
trace_format (const trace_ctx_t *ctx, char *out, size_t size)
{
    if (!out || size < TRACE_PARENT_LEN + 1)
        return -1;
    out[0] = '\0';
    if (!ctx || !trace_id_valid (ctx->trace_id, TRACE_ID_HEX) ||
        !trace_id_valid (ctx->span_id, TRACE_SPAN_HEX))
        return -1;
    //  "00-" trace "-" span "-" flags, the ids known to be TRACE_ID_HEX and
    //  TRACE_SPAN_HEX hex digits long: copied, not run through snprintf
    //  (this is on every bus call).
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    memcpy (o, "00-", 3);
    o += 3;
    memcpy (o, ctx->trace_id, TRACE_ID_HEX);
    o += TRACE_ID_HEX;
    *o++ = '-';
    memcpy (o, ctx->span_id, TRACE_SPAN_HEX);
    o += TRACE_SPAN_HEX;
    *o++ = '-';
    *o++ = hex[(ctx->flags >> 4) & 0x0f];
    *o++ = hex[ctx->flags & 0x0f];
    *o = '\0';
    return 0;
}

//  Ids guard nothing (they are echoed to clients and logged): they come
//  from secure_id_random's per-thread pool.
static int
s_random (unsigned char *out, size_t n)
{
    return secure_id_random (out, n);
}

//  n random bytes as 2n hex digits, drawn again in the (2^-64 or less)
//  case of all zeros, which W3C Trace Context forbids.
static int
s_random_hex (char *out, size_t n)
{
    unsigned char buf[16];
    static const char hex[] = "0123456789abcdef";
    for (int tries = 0; tries < 4; tries++) {
        if (s_random (buf, n))
            break;
        int nonzero = 0;
        for (size_t i = 0; i < n; i++) {
            out[2 * i] = hex[buf[i] >> 4];
            out[2 * i + 1] = hex[buf[i] & 0x0f];
            nonzero |= buf[i] != 0;
        }
        out[2 * n] = '\0';
        if (nonzero)
            return 0;
    }
    out[0] = '\0';
    return -1;
}

int
trace_new_trace_id (char out[TRACE_ID_HEX + 1])
{
    return s_random_hex (out, TRACE_ID_HEX / 2);
}

int
trace_new_span_id (char out[TRACE_SPAN_HEX + 1])
{
    return s_random_hex (out, TRACE_SPAN_HEX / 2);
}

int
trace_start (trace_ctx_t *out)
{
    memset (out, 0, sizeof *out);
    out->flags = TRACE_FLAG_SAMPLED;
    if (trace_new_trace_id (out->trace_id) || trace_new_span_id (out->span_id)) {
        memset (out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int
trace_child (const trace_ctx_t *parent, trace_ctx_t *out)
{
    if (!parent || !trace_id_valid (parent->trace_id, TRACE_ID_HEX))
        return trace_start (out);
    trace_ctx_t child;
    memset (&child, 0, sizeof child);
    memcpy (child.trace_id, parent->trace_id, sizeof child.trace_id);
    if (trace_id_valid (parent->span_id, TRACE_SPAN_HEX))
        memcpy (child.parent_id, parent->span_id, sizeof child.parent_id);
    child.flags = parent->flags;
    if (trace_new_span_id (child.span_id)) {
        memset (out, 0, sizeof *out);
        return -1;
    }
    *out = child;
    return 0;
}

int
trace_request_id_ok (const char *value)
{
    if (!value || !*value)
        return 0;
    size_t n = 0;
    for (const char *p = value; *p; p++, n++) {
        char c = *p;
        int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                   c == '_' || c == '.' || c == ':';
        if (!safe || n >= TRACE_REQUEST_ID_MAX)
            return 0;
    }
    return 1;
}

void
trace_set_current (const trace_ctx_t *ctx)
{
    if (ctx)
        s_current = *ctx;
    else
        memset (&s_current, 0, sizeof s_current);
}

const trace_ctx_t *
trace_current (void)
{
    return &s_current;
}
