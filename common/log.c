/*  log - one logfmt line per event on stderr.
 *  Each line is built whole in memory and written with a single fwrite under
 *  a mutex, so lines from the many worker threads of a process never
 *  interleave, and a message can never start a line of its own: quotes,
 *  backslashes and control bytes are escaped. */
#include "log.h"

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

static _Thread_local char s_rid[LOG_CTX_MAX];
static _Thread_local char s_op[LOG_CTX_MAX];

static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

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
    return s_rid;
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

void
log_msg (log_level_t level, const char *fmt, ...)
{
    if ((int)level < OST_LOG_DEBUG || (int)level > OST_LOG_ERROR)
        level = OST_LOG_ERROR;
    if ((int)level < atomic_load (&s_threshold))
        return;

    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start (ap, fmt);
    int mlen = vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    if (mlen < 0)
        snprintf (msg, sizeof msg, "(unformattable log message)");

    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);

    //  The fields before msg are bounded (each context value is shorter than
    //  LOG_CTX_MAX), so 256 bytes always hold them.
    char line[LOG_LINE_MAX + 256];
    static const char cut_mark[] = "\" truncated=1\n";
    pthread_mutex_lock (&s_lock);
    int n = snprintf (
        line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s svc=%s%s%s%s%s msg=\"",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
        s_level_names[level], s_service, s_rid[0] ? " rid=" : "", s_rid, s_op[0] ? " op=" : "", s_op);
    size_t len = n > 0 && (size_t)n < sizeof line - sizeof cut_mark ? (size_t)n : 0;
    int cut = s_append_escaped (line, sizeof line, sizeof cut_mark, &len, msg);
    if (cut || mlen >= (int)sizeof msg) {
        memcpy (line + len, cut_mark, sizeof cut_mark - 1);
        len += sizeof cut_mark - 1;
    } else {
        line[len++] = '"';
        line[len++] = '\n';
    }
    fwrite (line, 1, len, stderr);
    fflush (stderr);
    pthread_mutex_unlock (&s_lock);
}
