/*  log - one logfmt or JSON line per event on stderr.
 *  Each line is built whole in memory and written with a single fwrite under
 *  a mutex, so lines from the many worker threads of a process never
 *  interleave, and a message can never start a line of its own: quotes,
 *  backslashes and control bytes are escaped. */
#include "log.h"
#include "trace.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Lines longer than this are cut (and marked) rather than allocated: a log
//  call must not fail or grow without bound because of what it reports.
#define LOG_LINE_MAX 4096
#define LOG_CTX_MAX 64

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_service[LOG_CTX_MAX] = "ostiary";
static atomic_int s_threshold = OST_LOG_INFO;
static atomic_int s_format = LOG_FORMAT_LOGFMT;

static _Thread_local char s_rid[LOG_CTX_MAX];
static _Thread_local char s_op[LOG_CTX_MAX];

static const char *const s_level_names[] = {"debug", "info", "warn", "error"};
static const char *const s_format_names[] = {"logfmt", "json"};

//  Copies a context value, keeping only characters that need no quoting in
//  logfmt. A request id may come from a client header; it must not be able
//  to forge fields or lines.
static void
s_copy_token (char *dst, size_t size, const char *src)
{
    size_t o = 0;
    if (src) {
        for (; *src && o + 1 < size; src++) {
            unsigned char c = (unsigned char)*src;
            int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-' || c == ':' || c == '/';
            dst[o++] = safe ? (char)c : '_';
        }
    }
    dst[o] = '\0';
}

void
log_init (const char *service, log_level_t level)
{
    pthread_mutex_lock (&s_lock);
    s_copy_token (s_service, sizeof s_service, service ? service : "ostiary");
    pthread_mutex_unlock (&s_lock);
    atomic_store (&s_threshold, (int)level);
}

void
log_set_format (log_format_t format)
{
    atomic_store (&s_format, format == LOG_FORMAT_JSON ? LOG_FORMAT_JSON : LOG_FORMAT_LOGFMT);
}

int
log_format_parse (const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof s_format_names / sizeof s_format_names[0]; i++)
        if (strcmp (name, s_format_names[i]) == 0)
            return (int)i;
    return -1;
}

int
log_level_parse (const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof s_level_names / sizeof s_level_names[0]; i++)
        if (strcmp (name, s_level_names[i]) == 0)
            return (int)i;
    return -1;
}

void
log_set_context (const char *request_id, const char *op)
{
    s_copy_token (s_rid, sizeof s_rid, request_id);
    s_copy_token (s_op, sizeof s_op, op);
}

const char *
log_trace_id (void)
{
    const char *trace_id = trace_current ()->trace_id;
    return trace_id[0] ? trace_id : s_rid;
}

//  Appends src to buf at *len, escaped for a logfmt quoted value. Leaves
//  `reserve` bytes free at the end of buf for what follows the message.
//  Returns 1 when the message had to be cut, 0 otherwise.
static int
s_append_escaped (char *buf, size_t size, size_t reserve, size_t *len, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = *len;
    int cut = 0;
    for (; *src; src++) {
        unsigned char c = (unsigned char)*src;
        char esc[4];
        size_t n = 0;
        if (c == '"' || c == '\\') {
            esc[n++] = '\\';
            esc[n++] = (char)c;
        } else if (c == '\n') {
            esc[n++] = '\\';
            esc[n++] = 'n';
        } else if (c == '\r') {
            esc[n++] = '\\';
            esc[n++] = 'r';
        } else if (c == '\t') {
            esc[n++] = '\\';
            esc[n++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            esc[n++] = '\\';
            esc[n++] = 'x';
            esc[n++] = hex[c >> 4];
            esc[n++] = hex[c & 0x0f];
        } else
            esc[n++] = (char)c;
        if (o + n + reserve > size) {
            cut = 1;
            break;
        }
        memcpy (buf + o, esc, n);
        o += n;
    }
    *len = o;
    return cut;
}

//  Length of the valid UTF-8 sequence at p (1 to 4 bytes), 0 when the bytes
//  there are not one (RFC 3629: no overlong forms, no surrogates, at most
//  U+10FFFF).
static size_t
s_utf8_len (const unsigned char *p)
{
    unsigned char c = p[0];
    size_t n;
    unsigned int min, cp;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

//  Appends src to buf at *len as the inside of a JSON string (RFC 8259 §7):
//  quotes, backslashes and control bytes escaped, bytes that are not valid
//  UTF-8 replaced by U+FFFD, so that every line is a valid JSON text.
//  Leaves `reserve` bytes free. Returns 1 when src had to be cut.
static int
s_append_json (char *buf, size_t size, size_t reserve, size_t *len, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = *len;
    const unsigned char *p = (const unsigned char *)src;
    while (*p) {
        unsigned char c = *p;
        char esc[8];
        size_t n = 0, used = 1;
        if (c == '"' || c == '\\') {
            esc[n++] = '\\';
            esc[n++] = (char)c;
        } else if (c == '\n') {
            esc[n++] = '\\';
            esc[n++] = 'n';
        } else if (c == '\r') {
            esc[n++] = '\\';
            esc[n++] = 'r';
        } else if (c == '\t') {
            esc[n++] = '\\';
            esc[n++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy (esc, "\\u00", 4);
            n = 4;
            esc[n++] = hex[c >> 4];
            esc[n++] = hex[c & 0x0f];
        } else if (c < 0x80)
            esc[n++] = (char)c;
        else if ((used = s_utf8_len (p)) > 0) {
            memcpy (esc, p, used);
            n = used;
        } else {
            memcpy (esc, "\\ufffd", 6);
            n = 6;
            used = 1;
        }
        if (o + n + reserve > size) {
            *len = o;
            return 1;
        }
        memcpy (buf + o, esc, n);
        o += n;
        p += used;
    }
    *len = o;
    return 0;
}

//  Room for the fields of log_fields, rendered: past it the last fields are
//  left out and the line marked truncated.
#define LOG_FIELDS_ROOM 2048

static const char *const s_reserved[] = {"ts",  "trace_id",  "span_id", "rid", "op",
                                         "msg", "truncated", "level",   "svc"};

//  Appends src to buf at *len if it fits with `reserve` bytes to spare.
static int
s_append_raw (char *buf, size_t size, size_t reserve, size_t *len, const char *src)
{
    size_t n = strlen (src);
    if (*len + n + reserve > size)
        return 1;
    memcpy (buf + *len, src, n);
    *len += n;
    return 0;
}

//  A logfmt value needs quotes when it is empty or holds a space, a quote,
//  '=', a backslash or a byte outside printable ASCII.
static int
s_needs_quotes (const char *v)
{
    if (!*v)
        return 1;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '=' || *p == '\\')
            return 1;
    return 0;
}

//  Renders fields into out (size bytes) as " key=value" (logfmt) or
//  ",\"key\":value" (JSON) each. Returns the length; *cut is set when a
//  value or a field had to be left out or shortened.
static size_t
s_render_fields (char *out, size_t size, int json, const log_field_t *fields, size_t n, int *cut)
{
    size_t len = 0;
    if (n > LOG_FIELDS_MAX) {
        n = LOG_FIELDS_MAX;
        *cut = 1;
    }
    for (size_t i = 0; i < n; i++) {
        const log_field_t *f = &fields[i];
        char key[LOG_CTX_MAX + 2];
        char name[LOG_CTX_MAX];
        s_copy_token (name, sizeof name, f->key && *f->key ? f->key : "field");
        for (char *c = name; *c; c++)
            if (*c == ':' || *c == '/')
                *c = '_';
        int reserved = 0;
        for (size_t r = 0; r < sizeof s_reserved / sizeof s_reserved[0]; r++)
            reserved |= strcmp (name, s_reserved[r]) == 0;
        snprintf (key, sizeof key, "%s%s", reserved ? "f_" : "", name);
        char value[LOG_FIELD_VALUE_MAX + 1];
        int is_string = f->type == LOG_FIELD_STR;
        if (f->type == LOG_FIELD_INT)
            snprintf (value, sizeof value, "%lld", f->i);
        else if (f->type == LOG_FIELD_NUM && isfinite (f->num))
            snprintf (value, sizeof value, "%.3f", f->num);
        else if (f->type == LOG_FIELD_NUM) {
            snprintf (value, sizeof value, "%s", json ? "null" : "-");
        } else {
            const char *src = f->str ? f->str : "-";
            size_t vlen = strnlen (src, LOG_FIELD_VALUE_MAX + 1);
            if (vlen > LOG_FIELD_VALUE_MAX) {
                vlen = LOG_FIELD_VALUE_MAX;
                *cut = 1;
            }
            memcpy (value, src, vlen);
            value[vlen] = '\0';
        }
        size_t start = len;
        int failed;
        if (json) {
            failed = s_append_raw (out, size, 1, &len, ",\"") || s_append_raw (out, size, 1, &len, key) ||
                     s_append_raw (out, size, 1, &len, is_string ? "\":\"" : "\":");
            failed = failed || (is_string ? s_append_json (out, size, 2, &len, value) : 0) ||
                     s_append_raw (out, size, 1, &len, is_string ? "\"" : value);
        } else {
            int quote = is_string && s_needs_quotes (value);
            failed = s_append_raw (out, size, 1, &len, " ") || s_append_raw (out, size, 1, &len, key) ||
                     s_append_raw (out, size, 1, &len, quote ? "=\"" : "=");
            if (!failed && quote)
                failed =
                    s_append_escaped (out, size, 2, &len, value) || s_append_raw (out, size, 1, &len, "\"");
            else if (!failed)
                failed = s_append_raw (out, size, 1, &len, value);
        }
        if (failed) {
            len = start;
            *cut = 1;
            break;
        }
    }
    out[len] = '\0';
    return len;
}

//  The JSON form of a line: the fields of the logfmt form as members.
static size_t
s_json_line (char *line, size_t size, const char *ts, log_level_t level, const trace_ctx_t *trace,
             const char *fields, const char *msg, int truncated)
{
    static const char tail_cut[] = "\",\"truncated\":true}\n";
    int n = snprintf (line, size, "{\"ts\":\"%s\",\"level\":\"%s\",\"svc\":\"%s\"", ts, s_level_names[level],
                      s_service);
    size_t len = n > 0 && (size_t)n < size ? (size_t)n : 0;
    const char *names[] = {"trace_id", "span_id", "rid", "op"};
    const char *values[] = {trace->trace_id, trace->span_id, s_rid, s_op};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (values[i][0]) {
            //  Context values are hex ids or logfmt-safe tokens (s_copy_token):
            //  nothing in them needs escaping.
            n = snprintf (line + len, size - len, ",\"%s\":\"%s\"", names[i], values[i]);
            len += n > 0 && (size_t)n < size - len ? (size_t)n : 0;
        }
    size_t flen = strlen (fields);
    memcpy (line + len, fields, flen);
    len += flen;
    memcpy (line + len, ",\"msg\":\"", 8);
    len += 8;
    int cut = s_append_json (line, size, sizeof tail_cut, &len, msg);
    if (cut || truncated) {
        memcpy (line + len, tail_cut, sizeof tail_cut - 1);
        len += sizeof tail_cut - 1;
    } else {
        memcpy (line + len, "\"}\n", 3);
        len += 3;
    }
    return len;
}

//  Writes one line: the common fields, then those of log_fields, then msg.
static void
s_write (log_level_t level, const log_field_t *fields, size_t nfields, const char *fmt, va_list ap)
{
    if ((int)level < OST_LOG_DEBUG || (int)level > OST_LOG_ERROR)
        level = OST_LOG_ERROR;
    if ((int)level < atomic_load (&s_threshold))
        return;

    char msg[LOG_LINE_MAX];
    int mlen = vsnprintf (msg, sizeof msg, fmt, ap);
    if (mlen < 0)
        snprintf (msg, sizeof msg, "(unformattable log message)");
    int json = atomic_load (&s_format) == LOG_FORMAT_JSON;
    char rendered[LOG_FIELDS_ROOM];
    int fields_cut = 0;
    s_render_fields (rendered, sizeof rendered, json, fields, nfields, &fields_cut);
    int truncated = mlen >= (int)sizeof msg || fields_cut;

    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);

    char ts_text[64];
    snprintf (ts_text, sizeof ts_text, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
    const trace_ctx_t *trace = trace_current ();

    //  The fields before msg are bounded (each context value is shorter than
    //  LOG_CTX_MAX, ids are hex of fixed length), so 384 bytes always hold
    //  them, and LOG_FIELDS_ROOM those of log_fields.
    char line[LOG_LINE_MAX + 384 + LOG_FIELDS_ROOM];
    static const char cut_mark[] = "\" truncated=1\n";
    size_t len;
    pthread_mutex_lock (&s_lock);
    if (json)
        len = s_json_line (line, sizeof line, ts_text, level, trace, rendered, msg, truncated);
    else {
        int n = snprintf (line, sizeof line, "ts=%s level=%s svc=%s%s%s%s%s%s%s%s%s%s msg=\"", ts_text,
                          s_level_names[level], s_service, trace->trace_id[0] ? " trace_id=" : "",
                          trace->trace_id, trace->span_id[0] ? " span_id=" : "", trace->span_id,
                          s_rid[0] ? " rid=" : "", s_rid, s_op[0] ? " op=" : "", s_op, rendered);
        len = n > 0 && (size_t)n < sizeof line - sizeof cut_mark ? (size_t)n : 0;
        int cut = s_append_escaped (line, sizeof line, sizeof cut_mark, &len, msg);
        if (cut || truncated) {
            memcpy (line + len, cut_mark, sizeof cut_mark - 1);
            len += sizeof cut_mark - 1;
        } else {
            line[len++] = '"';
            line[len++] = '\n';
        }
    }
    fwrite (line, 1, len, stderr);
    fflush (stderr);
    pthread_mutex_unlock (&s_lock);
}

void
log_msg (log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    s_write (level, NULL, 0, fmt, ap);
    va_end (ap);
}

void
log_fields (log_level_t level, const log_field_t *fields, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    s_write (level, fields, fields ? n : 0, fmt, ap);
    va_end (ap);
}
