/*  otlp - the span exporter of a process. See otlp.h.
 *
 *  The queue is an array of spans allocated once at the start, guarded by
 *  one mutex held only to copy a span in, or for the exporter to swap it
 *  with its own array of the same size (two pointers, never a copy of
 *  spans); the encoding and the HTTP POSTs run outside it, in the exporter
 *  thread. A process-wide singleton like the
 *  log: spans are made deep inside common code (db statements, the bus
 *  worker), where passing an exporter down would touch every caller. */
#include "otlp.h"
#include "log.h"
#include "metrics.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  How long one POST may take, and how often a dropping or failing exporter
//  says so in the log.
#define OTLP_POST_TIMEOUT_MS 5000L
#define OTLP_CONNECT_TIMEOUT_MS 1000L
#define OTLP_COMPLAIN_EVERY_MS 10000
//  How long otlp_stop may take: it keeps sending what is queued until then,
//  and a POST still in flight at that time is aborted.
#define OTLP_STOP_FLUSH_MS 2000

typedef struct {
    char *endpoint;
    char shown[256]; //  the endpoint for the log (otlp_url_for_log)
    char *service;
    int interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    otlp_span_t *queue; //  the spans ended since the last swap
    otlp_span_t *spare; //  the exporter's: the spans it is sending
    size_t cap, count;
    int stop;
} s_exporter_t;

static s_exporter_t s_exp;
static atomic_int s_on;
//  When otlp_stop must be done (monotonic ms), 0 until it is called.
static atomic_llong s_stop_deadline;
static atomic_uint_fast64_t s_dropped;
static atomic_uint_fast64_t s_failures;
static atomic_uint_fast64_t s_sent;

static uint64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
otlp_enabled (void)
{
    return atomic_load_explicit (&s_on, memory_order_relaxed);
}

uint64_t
otlp_dropped (void)
{
    return atomic_load (&s_dropped);
}

uint64_t
otlp_export_failures (void)
{
    return atomic_load (&s_failures);
}

uint64_t
otlp_exported (void)
{
    return atomic_load (&s_sent);
}

//  The counts, kept twice: the atomics of otlp_dropped() & co, and the
//  metrics (ostiary_otlp_spans_total{outcome}, where the spans of a batch
//  that was not delivered are "failed" rather than "dropped").
static void
s_count_dropped (uint64_t n)
{
    if (n == 0)
        return;
    atomic_fetch_add (&s_dropped, n);
    metrics_add (METRIC_OTLP_SPANS, METRICS_L ("dropped"), (double)n);
}

static void
s_count_failed (uint64_t n)
{
    atomic_fetch_add (&s_failures, 1);
    atomic_fetch_add (&s_dropped, n);
    metrics_inc (METRIC_OTLP_EXPORT_FAILURES, NULL);
    metrics_add (METRIC_OTLP_SPANS, METRICS_L ("failed"), (double)n);
}

static void
s_count_exported (uint64_t n)
{
    atomic_fetch_add (&s_sent, n);
    metrics_add (METRIC_OTLP_SPANS, METRICS_L ("exported"), (double)n);
}

void
otlp_url_for_log (const char *url, char *out, size_t size)
{
    if (!size)
        return;
    const char *p = url ? url : "";
    size_t o = 0;
    //  The scheme, then the authority: its userinfo ends at the last '@'
    //  before the path.
    const char *auth = strstr (p, "://");
    if (auth) {
        auth += 3;
        size_t alen = strcspn (auth, "/?#");
        const char *at = NULL;
        for (const char *c = auth; c < auth + alen; c++)
            if (*c == '@')
                at = c;
        size_t slen = (size_t)(auth - p);
        for (size_t i = 0; i < slen && o + 1 < size; i++)
            out[o++] = p[i];
        p = at ? at + 1 : auth;
    }
    for (; *p && *p != '?' && *p != '#' && o + 1 < size; p++)
        out[o++] = *p;
    out[o] = '\0';
}

//  ---------------------------------------------------------------------------
//  Spans

//  Copies src, cut to size - 1 bytes, with every byte that is not printable
//  ASCII replaced by '?': a value from a request (the HTTP method) can then
//  never make a batch fail to encode as JSON (which takes UTF-8 only).
//  Eight bytes at a time (the tests of "Bit Twiddling Hacks", exact for
//  the word as a whole): whether every byte of w is printable ASCII, and
//  whether one of them is a quote or a backslash.
#define S_ONES 0x0101010101010101ull
#define S_HIGHS 0x8080808080808080ull
#define S_HAS_ZERO(w) (((w)-S_ONES) & ~(w)&S_HIGHS)

static inline int
s_printable8 (uint64_t w)
{
    uint64_t below = (w - S_ONES * 0x20) & ~w; //  a byte under 0x20
    uint64_t above = (w + S_ONES * 0x01) | w;  //  a byte over 0x7e
    return ((below | above) & S_HIGHS) == 0;
}

static inline int
s_quotes8 (uint64_t w)
{
    return S_HAS_ZERO (w ^ (S_ONES * '"')) || S_HAS_ZERO (w ^ (S_ONES * '\\'));
}

static void
s_copy_text (char *dst, size_t size, const char *src)
{
    const char *s = src ? src : "";
    size_t n = strnlen (s, size - 1), i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy (&w, s + i, 8);
        if (!s_printable8 (w))
            break;
        memcpy (dst + i, &w, 8);
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    dst[n] = '\0';
}

void
otlp_span_begin (otlp_span_t *span, const char *name, otlp_kind_t kind, const trace_ctx_t *ctx)
{
    span->ctx = *ctx;
    s_copy_text (span->name, sizeof span->name, name);
    span->kind = kind;
    span->start_ns = s_now_ns ();
    span->end_ns = 0;
    span->error = 0;
    span->status_message[0] = '\0';
    span->nattrs = 0;
}

void
otlp_span_name (otlp_span_t *span, const char *name)
{
    s_copy_text (span->name, sizeof span->name, name);
}

void
otlp_span_str (otlp_span_t *span, const char *key, const char *value)
{
    if (span->nattrs >= OTLP_ATTRS_MAX || !key)
        return;
    otlp_attr_t *a = &span->attrs[span->nattrs++];
    a->key = key;
    a->is_int = 0;
    s_copy_text (a->str_value, sizeof a->str_value, value);
}

void
otlp_span_int (otlp_span_t *span, const char *key, int64_t value)
{
    if (span->nattrs >= OTLP_ATTRS_MAX || !key)
        return;
    otlp_attr_t *a = &span->attrs[span->nattrs++];
    a->key = key;
    a->is_int = 1;
    a->int_value = value;
}

void
otlp_span_error (otlp_span_t *span, const char *message)
{
    span->error = 1;
    s_copy_text (span->status_message, sizeof span->status_message, message);
}

void
otlp_span_end (otlp_span_t *span)
{
    span->end_ns = s_now_ns ();
    if (!otlp_enabled ())
        return;
    int queued = 0, wake = 0;
    pthread_mutex_lock (&s_exp.lock);
    if (s_exp.count < s_exp.cap) {
        s_exp.queue[s_exp.count++] = *span;
        queued = 1;
        wake = s_exp.count == OTLP_BATCH_MAX;
    }
    pthread_mutex_unlock (&s_exp.lock);
    if (!queued)
        s_count_dropped (1);
    else if (wake)
        pthread_cond_signal (&s_exp.wake);
}

//  ---------------------------------------------------------------------------
//  Encoding (OTLP/HTTP JSON: opentelemetry-proto's JSON mapping, ids as hex)
//
//  Written as text, not built as a jansson tree: a tree of some twenty nodes
//  per span cost 21 us per span to build and dump on the bench machine, and
//  the exporter's CPU is taken from the requests'. Room for a whole span is
//  made once (s_reserve: its longest encoding is known from its fields'
//  sizes), then the span is written with plain stores: no capacity check
//  per piece, no snprintf for the numbers.

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} s_text_t;

//  Makes room for n more bytes and a '\0'; the write position, or NULL.
static char *
s_reserve (s_text_t *t, size_t n)
{
    if (t->failed)
        return NULL;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = realloc (t->buf, cap);
        if (!grown) {
            t->failed = 1;
            return NULL;
        }
        t->buf = grown;
        t->cap = cap;
    }
    return t->buf + t->len;
}

//  Ends a write begun with s_reserve at o.
static void
s_commit (s_text_t *t, char *o)
{
    t->len = (size_t)(o - t->buf);
    t->buf[t->len] = '\0';
}

//  A string literal, copied without strlen.
#define S_LIT(o, lit) (memcpy ((o), (lit), sizeof (lit) - 1), (o) + sizeof (lit) - 1)

//  The bytes a JSON string holds as they are (RFC 8259 §7): printable ASCII
//  but the quote and the backslash.
static const unsigned char s_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

//  The most bytes s_string writes for a string of n bytes: each as \u00XX,
//  and the quotes.
#define S_STRING_MAX(n) (6 * (size_t)(n) + 2)

//  src as a JSON string at o: quotes and backslashes escaped, control bytes
//  as \u00XX, other bytes above 0x7e as '?' (span text is printable ASCII
//  already: s_copy_text). Returns the end.
static char *
s_string (char *o, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    const char *s = src ? src : "";
    size_t n = strlen (s), i = 0;
    *o++ = '"';
    while (i < n) {
        //  Runs of plain bytes are copied a word at a time.
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy (&w, s + i, 8);
            if (!s_printable8 (w) || s_quotes8 (w))
                break;
            memcpy (o, &w, 8);
            o += 8;
        }
        size_t stop = i + 8 < n ? i + 8 : n;
        for (; i < stop; i++) {
            unsigned char c = (unsigned char)s[i];
            if (s_plain[c])
                *o++ = (char)c;
            else if (c == '"' || c == '\\') {
                *o++ = '\\';
                *o++ = (char)c;
            } else if (c < 0x20) {
                o = S_LIT (o, "\\u00");
                *o++ = hex[c >> 4];
                *o++ = hex[c & 0x0f];
            } else
                *o++ = '?';
        }
    }
    *o++ = '"';
    return o;
}

//  value in decimal at o, in quotes when quoted (int64 and fixed64 values
//  are decimal strings in the JSON mapping). At most 22 bytes.
static char *
s_number (char *o, int64_t value, int is_signed, int quoted)
{
    char digits[24];
    size_t n = 0;
    uint64_t v = (uint64_t)value;
    int negative = is_signed && value < 0;
    if (negative)
        v = 0 - v;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (quoted)
        *o++ = '"';
    if (negative)
        *o++ = '-';
    while (n)
        *o++ = digits[--n];
    if (quoted)
        *o++ = '"';
    return o;
}

#define S_NUMBER_MAX 24

static char *
s_attr_str (char *o, const char *key, const char *value)
{
    o = S_LIT (o, "{\"key\":");
    o = s_string (o, key);
    o = S_LIT (o, ",\"value\":{\"stringValue\":");
    o = s_string (o, value);
    return S_LIT (o, "}}");
}

//  The most bytes s_span writes for span, beyond what its attribute keys
//  take (S_STRING_MAX of each): the literal text (under 300 bytes), the
//  fixed-size fields at their longest, and per attribute its literal text
//  and its value.
#define S_SPAN_MAX                                                                                           \
    (512 + 3 * S_STRING_MAX (TRACE_ID_HEX) + S_STRING_MAX (OTLP_NAME_MAX) + 3 * S_NUMBER_MAX +               \
     S_STRING_MAX (OTLP_VALUE_MAX) + OTLP_ATTRS_MAX * (64 + S_STRING_MAX (OTLP_VALUE_MAX)))

static char *
s_span (char *o, const otlp_span_t *s, int first)
{
    o = first ? S_LIT (o, "{\"traceId\":") : S_LIT (o, ",{\"traceId\":");
    o = s_string (o, s->ctx.trace_id);
    o = S_LIT (o, ",\"spanId\":");
    o = s_string (o, s->ctx.span_id);
    if (s->ctx.parent_id[0]) {
        o = S_LIT (o, ",\"parentSpanId\":");
        o = s_string (o, s->ctx.parent_id);
    }
    o = S_LIT (o, ",\"name\":");
    o = s_string (o, s->name);
    o = S_LIT (o, ",\"kind\":");
    o = s_number (o, (int64_t)s->kind, 1, 0);
    o = S_LIT (o, ",\"startTimeUnixNano\":");
    o = s_number (o, (int64_t)s->start_ns, 0, 1);
    o = S_LIT (o, ",\"endTimeUnixNano\":");
    o = s_number (o, (int64_t)s->end_ns, 0, 1);
    o = S_LIT (o, ",\"attributes\":[");
    for (size_t a = 0; a < s->nattrs; a++) {
        const otlp_attr_t *at = &s->attrs[a];
        if (a)
            *o++ = ',';
        if (at->is_int) {
            o = S_LIT (o, "{\"key\":");
            o = s_string (o, at->key);
            o = S_LIT (o, ",\"value\":{\"intValue\":");
            o = s_number (o, at->int_value, 1, 1);
            o = S_LIT (o, "}}");
        } else
            o = s_attr_str (o, at->key, at->str_value);
    }
    o = S_LIT (o, "],\"status\":");
    if (s->error) {
        o = S_LIT (o, "{\"code\":2,\"message\":");
        o = s_string (o, s->status_message);
        o = S_LIT (o, "}}");
    } else
        o = S_LIT (o, "{\"code\":0}}");
    return o;
}

char *
otlp_encode (const otlp_span_t *spans, size_t n, const char *service, size_t *len)
{
    s_text_t t = {0};
    const char *svc = service ? service : "";
    char *o = s_reserve (&t, 512 + S_STRING_MAX (strlen (svc)));
    if (o) {
        o = S_LIT (o, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
        o = s_attr_str (o, "service.name", svc);
        *o++ = ',';
        o = s_attr_str (o, "service.namespace", "ostiary");
        o = S_LIT (o, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"ostiary\"},\"spans\":[");
        s_commit (&t, o);
    }
    for (size_t i = 0; i < n && !t.failed; i++) {
        const otlp_span_t *s = &spans[i];
        size_t keys = 0;
        for (size_t a = 0; a < s->nattrs && a < OTLP_ATTRS_MAX; a++)
            keys += S_STRING_MAX (strlen (s->attrs[a].key));
        o = s_reserve (&t, S_SPAN_MAX + keys);
        if (o)
            s_commit (&t, s_span (o, s, i == 0));
    }
    o = s_reserve (&t, 16);
    if (o)
        s_commit (&t, S_LIT (o, "]}]}]}"));
    if (t.failed) {
        free (t.buf);
        return NULL;
    }
    if (len)
        *len = t.len;
    return t.buf;
}

//  ---------------------------------------------------------------------------
//  The exporter thread

static size_t
s_discard (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    OST_UNUSED (ptr);
    OST_UNUSED (userdata);
    return size * nmemb;
}

//  libcurl's progress callback, called during a transfer (at least once a
//  second, more often while bytes move): non-zero aborts it, once the
//  stop's deadline has passed.
static int
s_progress (void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    OST_UNUSED (userdata);
    OST_UNUSED (dltotal);
    OST_UNUSED (dlnow);
    OST_UNUSED (ultotal);
    OST_UNUSED (ulnow);
    long long deadline = atomic_load (&s_stop_deadline);
    return deadline && s_mono_ms () >= deadline;
}

//  POSTs one batch. 0 when the collector accepted it (2xx). While stopping,
//  the POST gets what is left until the stop's deadline, not more.
static int
s_post (CURL *curl, struct curl_slist *headers, const otlp_span_t *batch, size_t n)
{
    long timeout_ms = OTLP_POST_TIMEOUT_MS;
    long long deadline = atomic_load (&s_stop_deadline);
    if (deadline) {
        long long left = deadline - s_mono_ms ();
        if (left <= 0)
            return -1;
        if (left < timeout_ms)
            timeout_ms = (long)left;
    }
    size_t len = 0;
    char *text = otlp_encode (batch, n, s_exp.service, &len);
    if (!text)
        return -1;
    curl_easy_setopt (curl, CURLOPT_URL, s_exp.endpoint);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_PROXY, "");
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS,
                      timeout_ms < OTLP_CONNECT_TIMEOUT_MS ? timeout_ms : OTLP_CONNECT_TIMEOUT_MS);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    free (text);
    return rc == CURLE_OK && status >= 200 && status < 300 ? 0 : -1;
}

static void *
s_exporter_main (void *arg)
{
    OST_UNUSED (arg);
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    if (!curl || !headers)
        log_error ("otlp: the exporter cannot start (out of memory); spans are dropped");
    uint64_t dropped_told = 0, failures_told = 0;
    int64_t last_complaint = 0, stop_deadline = 0;
    pthread_mutex_lock (&s_exp.lock);
    while (true) {
        if (!s_exp.stop && s_exp.count < OTLP_BATCH_MAX) {
            struct timespec until;
            clock_gettime (CLOCK_REALTIME, &until);
            until.tv_sec += s_exp.interval_ms / 1000;
            until.tv_nsec += (long)(s_exp.interval_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait (&s_exp.wake, &s_exp.lock, &until);
        }
        if (s_exp.stop && !stop_deadline)
            stop_deadline = atomic_load (&s_stop_deadline);
        //  Everything queued is taken at once, by swapping the arrays: the
        //  lock is held for that only, whatever the queue holds.
        otlp_span_t *taken = s_exp.queue;
        size_t n = s_exp.count;
        s_exp.queue = s_exp.spare;
        s_exp.spare = taken;
        s_exp.count = 0;
        int stopping = s_exp.stop;
        pthread_mutex_unlock (&s_exp.lock);
        for (size_t off = 0; off < n; off += OTLP_BATCH_MAX) {
            size_t size = n - off < OTLP_BATCH_MAX ? n - off : OTLP_BATCH_MAX;
            if (stop_deadline && s_mono_ms () >= stop_deadline) {
                //  Past the stop's deadline: what is left is not sent.
                s_count_dropped (n - off);
                break;
            }
            if (curl && headers && s_post (curl, headers, taken + off, size) == 0)
                s_count_exported (size);
            else
                s_count_failed (size);
        }
        //  Rate-limited: at most one line per OTLP_COMPLAIN_EVERY_MS.
        uint64_t dropped = atomic_load (&s_dropped), failures = atomic_load (&s_failures);
        int64_t now = s_mono_ms ();
        if ((dropped != dropped_told || failures != failures_told) &&
            (now - last_complaint >= OTLP_COMPLAIN_EVERY_MS || stopping)) {
            log_warn ("otlp: %llu spans dropped and %llu batches not delivered to %s since the start",
                      (unsigned long long)dropped, (unsigned long long)failures, s_exp.shown);
            dropped_told = dropped;
            failures_told = failures;
            last_complaint = now;
        }
        pthread_mutex_lock (&s_exp.lock);
        if (stopping && (s_exp.count == 0 || s_mono_ms () >= stop_deadline))
            break;
    }
    s_count_dropped (s_exp.count);
    s_exp.count = 0;
    pthread_mutex_unlock (&s_exp.lock);
    curl_slist_free_all (headers);
    if (curl)
        curl_easy_cleanup (curl);
    return NULL;
}

int
otlp_start (const char *endpoint, const char *service, size_t queue_max, int interval_ms)
{
    if (otlp_enabled () || !endpoint || !*endpoint || queue_max == 0)
        return -1;
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error ("otlp: libcurl cannot start; no spans are exported");
        return -1;
    }
    memset (&s_exp, 0, sizeof s_exp);
    s_exp.endpoint = strdup (endpoint);
    s_exp.service = strdup (service ? service : "ostiary");
    otlp_url_for_log (endpoint, s_exp.shown, sizeof s_exp.shown);
    s_exp.queue = calloc (queue_max, sizeof *s_exp.queue);
    s_exp.spare = calloc (queue_max, sizeof *s_exp.spare);
    s_exp.cap = queue_max;
    s_exp.interval_ms = interval_ms > 0 ? interval_ms : 1000;
    pthread_mutex_init (&s_exp.lock, NULL);
    pthread_cond_init (&s_exp.wake, NULL);
    if (!s_exp.endpoint || !s_exp.service || !s_exp.queue || !s_exp.spare ||
        pthread_create (&s_exp.thread, NULL, s_exporter_main, NULL) != 0) {
        log_error ("otlp: the exporter cannot start; no spans are exported");
        free (s_exp.endpoint);
        free (s_exp.service);
        free (s_exp.queue);
        free (s_exp.spare);
        pthread_mutex_destroy (&s_exp.lock);
        pthread_cond_destroy (&s_exp.wake);
        memset (&s_exp, 0, sizeof s_exp);
        return -1;
    }
    //  The series exist from the start, at 0.
    static const char *const outcomes[] = {"exported", "dropped", "failed"};
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
        metrics_add (METRIC_OTLP_SPANS, &outcomes[i], 0);
    atomic_store (&s_on, 1);
    log_info ("otlp: exporting spans to %s (queue %zu, every %d ms)", s_exp.shown, queue_max,
              s_exp.interval_ms);
    return 0;
}

void
otlp_stop (void)
{
    if (!atomic_exchange (&s_on, 0))
        return;
    atomic_store (&s_stop_deadline, (long long)s_mono_ms () + OTLP_STOP_FLUSH_MS);
    pthread_mutex_lock (&s_exp.lock);
    s_exp.stop = 1;
    pthread_mutex_unlock (&s_exp.lock);
    pthread_cond_signal (&s_exp.wake);
    pthread_join (s_exp.thread, NULL);
    free (s_exp.endpoint);
    free (s_exp.service);
    free (s_exp.queue);
    free (s_exp.spare);
    pthread_mutex_destroy (&s_exp.lock);
    pthread_cond_destroy (&s_exp.wake);
    memset (&s_exp, 0, sizeof s_exp);
    atomic_store (&s_stop_deadline, 0);
    curl_global_cleanup ();
}
