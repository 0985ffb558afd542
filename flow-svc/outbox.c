/*  outbox - queued email and webhook deliveries (docs/flows.md "Outbox").
 *
 *  Delivery is at least once: a row is claimed, delivered and marked in one
 *  transaction, so a crash after the SMTP server took the message but before
 *  the commit sends it again. Each email carries a Message-ID made from the
 *  row id (RFC 5322 §3.6.4), the same on every attempt and every replica, so
 *  a receiver can tell the repeat apart. One row per transaction keeps that
 *  window to a single message. */
#include "outbox.h"
#include "metrics.h"

#include "bus_client.h"
#include "log.h"
#include "ops.h"
#include "outbox_store.h"
#include "seal.h"
#include "secure.h"
#include "webhook.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OUTBOX_SEAL_LABEL "outbox"
#define OUTBOX_MAX_TO 254 //  RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its brackets
#define OUTBOX_MAX_SUBJECT 200
#define OUTBOX_MAX_TEXT (64 * 1024)
#define OUTBOX_MAX_WEBHOOK (256 * 1024)
//  Rows one poll round delivers at most before it looks at the stop flag again.
#define OUTBOX_BATCH 50
//  Exponential backoff: 2 s, 4 s, 8 s, … capped at one hour.
#define OUTBOX_BACKOFF_BASE 2
#define OUTBOX_BACKOFF_MAX 3600
#define OUTBOX_JWS_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
#define SMTP_CONNECT_TIMEOUT 10L
#define SMTP_TIMEOUT 60L

struct _outbox_t {
    const config_t *cfg;
    const flow_app_t *app;
    const bus_curve_t *curve;
    db_t *db;
    //  The delivery thread's own client of the bus (made and destroyed on
    //  that thread: a socket belongs to one thread), for token.logout_tokens.
    bus_client_t *bus;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    //  Written under lock (with the condition variable), also read without it
    //  by libcurl's progress callback to cut a delivery short at shutdown.
    atomic_int stopping;
    int started;
};

//  ------------------------------------------------------------------ queueing

//  The associated data of a payload: the row it belongs to, so a payload
//  copied into another row (another recipient, another hook) does not open.
static void
s_aad (char *out, size_t size, int64_t id, const char *kind)
{
    snprintf (out, size, "outbox:%" PRId64 ":%s", id, kind);
}

static db_status_t
s_insert (db_t *db, const flow_app_t *app, const char *kind, int64_t execution_id, const char *hook,
          const char *plain)
{
    //  In the caller's transaction: a step that rolls back queues nothing.
    int64_t id = 0;
    db_status_t st = outbox_store_next_id (db, &id);
    if (st != DB_OK)
        return st;
    unsigned char key[32];
    if (seal_derive (app->flow_key, OUTBOX_SEAL_LABEL, key) != 0)
        return DB_ERROR;
    char aad[96];
    s_aad (aad, sizeof aad, id, kind);
    char *sealed = seal_encrypt (key, aad, plain, strlen (plain));
    secure_wipe (key, sizeof key);
    if (!sealed)
        return DB_ERROR;
    st = outbox_store_insert (db, id, kind, execution_id, hook, sealed);
    free (sealed);
    if (st == DB_OK)
        log_info ("outbox %" PRId64 ": %s queued (execution %" PRId64 ")", id, kind, execution_id);
    return st;
}

//  An address we can put on an RCPT TO line and a To header as is: printable
//  ASCII without the characters that would end or extend the address
//  (RFC 5321 §4.1.2 Mailbox, simplified: no quoted local parts).
int
outbox_address_ok (const char *to)
{
    if (!to)
        return 0;
    size_t n = strnlen (to, OUTBOX_MAX_TO + 1);
    if (n < 3 || n > OUTBOX_MAX_TO)
        return 0;
    const char *at = strchr (to, '@');
    if (!at || at == to || !at[1] || strchr (at + 1, '@'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)to[i];
        if (c <= 0x20 || c >= 0x7f || strchr ("<>()[]\\,;:\"", c))
            return 0;
    }
    return 1;
}

//  One line of text without control characters (so no header injection).
static int
s_valid_subject (const char *subject)
{
    size_t n = strnlen (subject, OUTBOX_MAX_SUBJECT + 1);
    if (n == 0 || n > OUTBOX_MAX_SUBJECT)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)subject[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

db_status_t
outbox_email (db_t *db, const flow_app_t *app, int64_t execution_id, const char *to, const char *subject,
              const char *text)
{
    if (!db || !app || !to || !subject || !text)
        return DB_ERROR;
    if (!outbox_address_ok (to) || !s_valid_subject (subject) ||
        strnlen (text, OUTBOX_MAX_TEXT + 1) > OUTBOX_MAX_TEXT) {
        log_error ("outbox: an email for execution %" PRId64 " has a bad address, subject or text",
                   execution_id);
        return DB_ERROR;
    }
    //  json_string refuses text that is not UTF-8: the body is declared UTF-8.
    json_t *msg = json_object ();
    json_t *jto = json_string (to), *jsubject = json_string (subject), *jtext = json_string (text);
    char *plain = NULL;
    if (msg && jto && jsubject && jtext && json_object_set (msg, "to", jto) == 0 &&
        json_object_set (msg, "subject", jsubject) == 0 && json_object_set (msg, "text", jtext) == 0)
        plain = json_dumps (msg, JSON_COMPACT);
    json_decref (jto);
    json_decref (jsubject);
    json_decref (jtext);
    json_decref (msg);
    if (!plain) {
        log_error ("outbox: an email for execution %" PRId64 " is not UTF-8", execution_id);
        return DB_ERROR;
    }
    db_status_t st = s_insert (db, app, "email", execution_id, NULL, plain);
    secure_free_str (&plain);
    return st;
}

db_status_t
outbox_webhook (db_t *db, const flow_app_t *app, int64_t execution_id, const char *hook,
                const json_t *payload)
{
    if (!db || !app || !hook || !payload)
        return DB_ERROR;
    if (!webhooks_find (app->webhooks, hook)) {
        log_error ("outbox: unknown webhook %.64s", hook);
        return DB_ERROR;
    }
    char *plain = json_dumps (payload, JSON_COMPACT);
    if (!plain || strlen (plain) > OUTBOX_MAX_WEBHOOK) {
        log_error ("outbox: the payload for webhook %.64s does not serialise within 256 KiB", hook);
        secure_free_str (&plain);
        return DB_ERROR;
    }
    db_status_t st = s_insert (db, app, "webhook", execution_id, hook, plain);
    secure_free_str (&plain);
    return st;
}

//  A value of a logout row: 1 to max bytes. The values come from rows whose
//  constraints hold them to the same bounds (so a session never fails the
//  transaction that ends it); JSON carries any of their characters.
static int
s_sized (const char *text, size_t max)
{
    size_t n = text ? strnlen (text, max + 1) : 0;
    return n > 0 && n <= max;
}

db_status_t
outbox_backchannel (db_t *db, const flow_app_t *app, const char *sub, const char *sid, const char *client_id,
                    const char *reason)
{
    if (!db || !app || !s_sized (sub, 255) || !s_sized (sid, 64) || !s_sized (client_id, 64) ||
        !s_sized (reason, 32)) {
        log_error ("outbox: a back-channel logout has a bad sub, sid, client or reason");
        return DB_ERROR;
    }
    json_t *msg =
        json_pack ("{s:s, s:s, s:s, s:s}", "sub", sub, "sid", sid, "client_id", client_id, "reason", reason);
    char *plain = msg ? json_dumps (msg, JSON_COMPACT) : NULL;
    json_decref (msg);
    if (!plain)
        return DB_ERROR;
    db_status_t st = s_insert (db, app, "backchannel", 0, NULL, plain);
    secure_free_str (&plain);
    return st;
}

//  ------------------------------------------------------------------ email

typedef struct {
    char *data;
    size_t len, cap;
} s_buf_t;

static int
s_put (s_buf_t *b, const char *text, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024);
        while (cap < b->len + n + 1)
            cap *= 2;
        char *data = realloc (b->data, cap);
        if (!data)
            return -1;
        b->data = data;
        b->cap = cap;
    }
    memcpy (b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int
s_puts (s_buf_t *b, const char *text)
{
    return s_put (b, text, strlen (text));
}

static void
s_buf_wipe (s_buf_t *b)
{
    if (b->data) {
        secure_wipe (b->data, b->cap);
        free (b->data);
    }
    memset (b, 0, sizeof *b);
}

//  Standard base64 (RFC 4648 §4), as MIME needs it.
static int
s_put_base64 (s_buf_t *b, const unsigned char *in, size_t n)
{
    char out[4 * 57 / 3 + 4];
    while (n > 0) {
        size_t chunk = n < 57 ? n : 57;
        int len = EVP_EncodeBlock ((unsigned char *)out, in, (int)chunk);
        if (len < 0 || s_put (b, out, (size_t)len) != 0)
            return -1;
        in += chunk;
        n -= chunk;
        //  57 bytes make 76 characters, the line limit of RFC 2045 §6.8.
        if (n > 0 && s_puts (b, "\r\n") != 0)
            return -1;
    }
    return 0;
}

//  RFC 2047 §4.1: a subject that is not plain ASCII goes as encoded words
//  =?UTF-8?B?...?=, each at most 75 characters, split between UTF-8
//  characters (§5: an encoded word holds whole characters), folded.
static int
s_put_subject (s_buf_t *b, const char *subject)
{
    size_t n = strlen (subject);
    int ascii = 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)subject[i] >= 0x80)
            ascii = 0;
    //  "=?" could be read as the start of an encoded word: encode it too.
    if (ascii && !strstr (subject, "=?"))
        return s_put (b, subject, n);
    const unsigned char *p = (const unsigned char *)subject;
    int first = 1;
    while (n > 0) {
        size_t chunk = n < 45 ? n : 45;
        while (chunk < n && chunk > 0 && (p[chunk] & 0xc0) == 0x80)
            chunk--;
        if (chunk == 0)
            chunk = n < 45 ? n : 45;
        if ((!first && s_puts (b, "\r\n ") != 0) || s_puts (b, "=?UTF-8?B?") != 0 ||
            s_put_base64 (b, p, chunk) != 0 || s_puts (b, "?=") != 0)
            return -1;
        first = 0;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

//  The domain of the sender's address, for Message-ID: the same on every
//  replica, so a repeated delivery repeats the id exactly.
static void
s_id_domain (const char *from, char *out, size_t size)
{
    const char *at = from ? strrchr (from, '@') : NULL;
    size_t o = 0;
    if (at)
        for (const char *p = at + 1; *p && o + 1 < size; p++)
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '.' || *p == '-')
                out[o++] = *p;
    out[o] = '\0';
    if (o == 0)
        snprintf (out, size, "ostiary");
}

//  The whole RFC 5322 message: header fields, then the text with CRLF line
//  ends (§2.3), 8bit when every line fits in 998 characters (§2.1.1), base64
//  otherwise.
static int
s_compose (s_buf_t *b, int64_t id, const char *from, const char *to, const char *subject, const char *text)
{
    char date[64], line[512], domain[200];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    //  RFC 5322 §3.3 date-time, in English whatever the locale.
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf (date, sizeof date, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
              months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    s_id_domain (from, domain, sizeof domain);
    int longline = 0;
    size_t run = 0;
    for (const char *p = text; *p; p++) {
        run = (*p == '\n') ? 0 : run + 1;
        if (run > 998)
            longline = 1;
    }
    int rc = 0;
    snprintf (line, sizeof line, "Date: %s\r\n", date);
    rc |= s_puts (b, line);
    rc |= s_puts (b, "From: ") | s_puts (b, from) | s_puts (b, "\r\n");
    rc |= s_puts (b, "To: ") | s_puts (b, to) | s_puts (b, "\r\n");
    rc |= s_puts (b, "Subject: ") | s_put_subject (b, subject) | s_puts (b, "\r\n");
    snprintf (line, sizeof line, "Message-ID: <outbox-%" PRId64 "@%s>\r\n", id, domain);
    rc |= s_puts (b, line);
    rc |= s_puts (b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n");
    //  RFC 3834 §5: machine-made mail; auto-responders should not answer it.
    rc |= s_puts (b, "Auto-Submitted: auto-generated\r\n");
    rc |= s_puts (b, longline ? "Content-Transfer-Encoding: base64\r\n\r\n"
                              : "Content-Transfer-Encoding: 8bit\r\n\r\n");
    if (rc != 0)
        return -1;
    if (longline)
        return s_put_base64 (b, (const unsigned char *)text, strlen (text)) | s_puts (b, "\r\n");
    for (const char *p = text; *p; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n' ? s_puts (b, "\r\n") : s_put (b, p, 1))
            return -1;
    }
    //  The message ends with a line end (RFC 5321 §4.1.1.4 ends DATA with CRLF.CRLF).
    size_t n = strlen (text);
    return (n > 0 && text[n - 1] == '\n') ? 0 : s_puts (b, "\r\n");
}

typedef struct {
    const char *data;
    size_t len, pos;
} s_reader_t;

static size_t
s_on_read (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_reader_t *r = arg;
    size_t n = size * nmemb;
    if (n > r->len - r->pos)
        n = r->len - r->pos;
    memcpy (ptr, r->data + r->pos, n);
    r->pos += n;
    return n;
}

//  Sends one email. 0 sent, 1 worth retrying, -1 permanent (RFC 5321 §4.2.1:
//  a 5yz reply is a permanent failure).
//  libcurl's progress callback: non-zero aborts the transfer. A stopping
//  flow-svc does not wait for a slow SMTP server; the row stays pending and
//  goes out later with the same Message-ID.
static int
s_on_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    OST_UNUSED (dltotal);
    OST_UNUSED (dlnow);
    OST_UNUSED (ultotal);
    OST_UNUSED (ulnow);
    const atomic_int *stopping = arg;
    return atomic_load (stopping) ? 1 : 0;
}

static int
s_send_email (outbox_t *self, int64_t id, const char *to, const char *subject, const char *text,
              const char **why)
{
    const config_t *cfg = self->cfg;
    s_buf_t msg = {0};
    if (s_compose (&msg, id, cfg->smtp_from, to, subject, text) != 0) {
        s_buf_wipe (&msg);
        *why = "out of memory";
        return 1;
    }
    char from_path[300], to_path[300];
    snprintf (from_path, sizeof from_path, "<%s>", cfg->smtp_from);
    snprintf (to_path, sizeof to_path, "<%s>", to);
    CURL *curl = curl_easy_init ();
    struct curl_slist *rcpt = curl_slist_append (NULL, to_path);
    s_reader_t reader = {msg.data, msg.len, 0};
    int rc = 1;
    *why = "out of memory";
    if (curl && rcpt) {
        curl_easy_setopt (curl, CURLOPT_URL, cfg->smtp_url);
        curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt (curl, CURLOPT_PROXY, "");
        curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, SMTP_CONNECT_TIMEOUT);
        curl_easy_setopt (curl, CURLOPT_TIMEOUT, SMTP_TIMEOUT);
        curl_easy_setopt (curl, CURLOPT_MAIL_FROM, from_path);
        curl_easy_setopt (curl, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt (curl, CURLOPT_READFUNCTION, s_on_read);
        curl_easy_setopt (curl, CURLOPT_READDATA, &reader);
        curl_easy_setopt (curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
        curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_on_progress);
        curl_easy_setopt (curl, CURLOPT_XFERINFODATA, &self->stopping);
        if (cfg->smtp_user && *cfg->smtp_user) {
            curl_easy_setopt (curl, CURLOPT_USERNAME, cfg->smtp_user);
            curl_easy_setopt (curl, CURLOPT_PASSWORD, cfg->smtp_password ? cfg->smtp_password : "");
            //  A password never crosses the network in clear: with
            //  credentials, smtp:// must upgrade with STARTTLS (RFC 3207).
            curl_easy_setopt (curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        }
        CURLcode res = curl_easy_perform (curl);
        long code = 0;
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
        if (res == CURLE_OK)
            rc = 0;
        else {
            *why = curl_easy_strerror (res);
            rc = (code >= 500 && code < 600) ? -1 : 1;
        }
    }
    curl_slist_free_all (rcpt);
    curl_easy_cleanup (curl);
    s_buf_wipe (&msg);
    return rc;
}

//  ------------------------------------------------------------------ delivery

static void
s_rollback (db_t *db)
{
    if (db_exec_sql (db, "ROLLBACK") != DB_OK)
        log_warn ("outbox: rollback failed");
}

//  Back-Channel Logout 1.0 §2.5: POST logout_token=<token> as a form to
//  uri, a client's backchannel_logout_uri, through webhook_post_url (the
//  webhooks' address rules). A token past its exp is given up: the client
//  would refuse it (§2.6). 0 sent, 1 retry, -1 give up.
static int
s_post_logout_token (outbox_t *self, const char *client_id, const char *uri, const char *token, int64_t exp,
                     const char **why)
{
    int rc = -1;
    if (strspn (token, OUTBOX_JWS_CHARS) != strlen (token))
        *why = "the payload is not a logout token";
    else if ((int64_t)time (NULL) >= exp)
        *why = "the logout token expired before it could be delivered";
    else {
        s_buf_t body = {0};
        char name[80];
        snprintf (name, sizeof name, "backchannel logout of %.40s", client_id);
        if (s_puts (&body, "logout_token=") != 0 || s_puts (&body, token) != 0) {
            *why = "out of memory";
            rc = 1;
        } else {
            rc = webhook_post_url (name, uri, self->cfg->webhook_allow_private,
                                   self->cfg->backchannel_logout_timeout_ms,
                                   "application/x-www-form-urlencoded", body.data, body.len);
            *why = rc == 0 ? "" : "the client's backchannel_logout_uri failed";
        }
        s_buf_wipe (&body);
    }
    metrics_inc (METRIC_BACKCHANNEL_LOGOUTS, METRICS_L (rc == 0 ? "delivered" : "failed"));
    return rc;
}

//  The logout of one client of an ended session: token-svc revokes the
//  session's bound refresh families and signs a logout token now (a fresh
//  iat and exp on every attempt), or answers none when the client is gone
//  or registered no backchannel_logout_uri (nothing to deliver: sent).
//  0 sent, 1 retry, -1 give up.
static int
s_logout_client (outbox_t *self, const char *sub, const char *sid, const char *client_id, const char **why)
{
    if (!self->bus) {
        *why = "no bus client to ask token-svc for the logout token";
        return 1;
    }
    json_t *clients = json_pack ("[s]", client_id);
    token_logout_tokens_in_t in = {.sub = sub, .sid = sid, .clients = clients};
    json_t *body = clients ? token_logout_tokens_in_pack (&in) : NULL;
    json_decref (clients);
    json_t *res = NULL;
    bus_error_t error;
    int asked = body != NULL;
    int called = asked ? bus_client_call (self->bus, "token.logout_tokens", body, 0, &res, &error) : -1;
    json_decref (body);
    token_logout_tokens_out_t out;
    char unpack_why[SCHEMA_WHY_MAX];
    if (called != 0 || token_logout_tokens_out_unpack (res, &out, unpack_why, sizeof unpack_why) != 0) {
        if (called != 0 && asked)
            log_warn ("outbox: token.logout_tokens failed (%s)", error.code);
        json_decref (res);
        *why = "token-svc did not sign the logout token";
        return 1;
    }
    int rc = 0;
    *why = "";
    shape_logout_delivery_t d;
    if (json_array_size (out.tokens) == 0)
        metrics_inc (METRIC_BACKCHANNEL_LOGOUTS, METRICS_L ("no_uri"));
    else if (shape_logout_delivery_unpack (json_array_get (out.tokens, 0), &d, unpack_why,
                                           sizeof unpack_why) != 0 ||
             strcmp (d.client_id, client_id) != 0) {
        *why = "token-svc answered another logout token";
        rc = 1;
    } else
        rc = s_post_logout_token (self, client_id, d.uri, d.logout_token, d.exp, why);
    json_decref (res);
    return rc;
}

//  A back-channel row: {sub, sid, client_id, reason}, signed now; or, as
//  rows queued by earlier versions hold, {client_id, uri, logout_token,
//  exp}, a token signed when the session ended. 0 sent, 1 retry, -1 give up.
static int
s_send_backchannel (outbox_t *self, const char *plain, size_t len, const char **why)
{
    json_error_t jerr;
    json_t *msg = json_loadb (plain, len, 0, &jerr);
    const char *client_id = json_string_value (json_object_get (msg, "client_id"));
    const char *sub = json_string_value (json_object_get (msg, "sub"));
    const char *sid = json_string_value (json_object_get (msg, "sid"));
    const char *uri = json_string_value (json_object_get (msg, "uri"));
    const char *token = json_string_value (json_object_get (msg, "logout_token"));
    json_t *exp = json_object_get (msg, "exp");
    int rc = -1;
    if (client_id && sub && sid)
        rc = s_logout_client (self, sub, sid, client_id, why);
    else if (client_id && uri && token && json_is_integer (exp))
        rc = s_post_logout_token (self, client_id, uri, token, (int64_t)json_integer_value (exp), why);
    else
        *why = "the payload is not a back-channel logout";
    json_decref (msg);
    return rc;
}

//  Delivers the payload of one claimed row. 0 sent, 1 retry, -1 give up.
static int
s_deliver (outbox_t *self, int64_t id, const char *kind, const char *hook, const char *sealed,
           const char **why)
{
    unsigned char key[32];
    if (seal_derive (self->app->flow_key, OUTBOX_SEAL_LABEL, key) != 0) {
        *why = "key derivation failed";
        return 1;
    }
    char aad[96];
    s_aad (aad, sizeof aad, id, kind);
    unsigned char *plain = NULL;
    size_t len = 0;
    int open = seal_decrypt (key, aad, sealed, &plain, &len);
    secure_wipe (key, sizeof key);
    if (open != 0) {
        *why = "the payload does not open (was OSTIARY_FLOW_SECRET_KEY changed?)";
        return -1;
    }
    int rc = -1;
    if (strcmp (kind, "backchannel") == 0)
        rc = s_send_backchannel (self, (const char *)plain, len, why);
    else if (strcmp (kind, "email") == 0) {
        json_error_t jerr;
        json_t *msg = json_loadb ((const char *)plain, len, 0, &jerr);
        const char *to = json_string_value (json_object_get (msg, "to"));
        const char *subject = json_string_value (json_object_get (msg, "subject"));
        const char *text = json_string_value (json_object_get (msg, "text"));
        if (to && subject && text && outbox_address_ok (to) && s_valid_subject (subject))
            rc = s_send_email (self, id, to, subject, text, why);
        else
            *why = "the payload is not an email";
        json_decref (msg);
    } else {
        const webhook_t *h = webhooks_find (self->app->webhooks, hook);
        if (!h)
            *why = "the hook is no longer in OSTIARY_WEBHOOKS_FILE";
        else {
            rc = webhook_post (h, (const char *)plain, len);
            *why = rc == 0 ? "" : "the hook failed";
        }
    }
    secure_wipe (plain, len);
    free (plain);
    return rc;
}

//  Claims, delivers and marks one due row. 1 one was handled, 0 none due, -1 database trouble.
static int
s_round (outbox_t *self)
{
    db_t *db = self->db;
    if (db_exec_sql (db, "BEGIN") != DB_OK) {
        s_rollback (db);
        return -1;
    }
    outbox_row_t row;
    db_status_t claimed = outbox_store_claim (db, &row);
    if (claimed != DB_OK) {
        s_rollback (db);
        return claimed == DB_NOT_FOUND ? 0 : -1;
    }
    int64_t id = row.id;
    const char *kind = row.kind;
    long attempts = row.attempts;
    const char *why = "";
    int rc = s_deliver (self, id, kind, row.hook, row.payload, &why);

    char reason[201];
    snprintf (reason, sizeof reason, "%s", why);
    db_status_t st;
    //  attempts counts this one too: the row had 1 + retries chances.
    if (rc == 1 && attempts + 1 > self->cfg->outbox_retries)
        rc = -1;
    int email = strcmp (kind, "email") == 0;
    //  Logout tokens are counted by s_send_backchannel.
    if (strcmp (kind, "backchannel") != 0)
        metrics_inc (rc == 0 ? (email ? METRIC_EMAILS_SENT : METRIC_WEBHOOKS_DELIVERED)
                             : (email ? METRIC_EMAILS_FAILED : METRIC_WEBHOOKS_FAILED),
                     NULL);
    if (rc == -1)
        metrics_inc (METRIC_OUTBOX_DEAD, METRICS_L (kind));
    if (rc == 0) {
        st = outbox_store_sent (db, id);
        log_info ("outbox %" PRId64 ": %s delivered (attempt %ld)", id, kind, attempts + 1);
    } else if (rc == 1) {
        long delay = OUTBOX_BACKOFF_BASE;
        for (long i = 0; i < attempts && delay < OUTBOX_BACKOFF_MAX; i++)
            delay *= 2;
        if (delay > OUTBOX_BACKOFF_MAX)
            delay = OUTBOX_BACKOFF_MAX;
        st = outbox_store_retry (db, id, delay, reason);
        log_warn ("outbox %" PRId64 ": %s attempt %ld failed (%s); next in %ld s", id, kind, attempts + 1,
                  reason, delay);
    } else {
        st = outbox_store_dead (db, id, reason);
        log_error ("outbox %" PRId64 ": %s given up after %ld attempts (%s)", id, kind, attempts + 1, reason);
    }
    if (st != DB_OK || db_exec_sql (db, "COMMIT") != DB_OK) {
        //  The message may have gone out; the row stays pending and is sent
        //  again later, with the same Message-ID.
        log_error ("outbox %" PRId64 ": could not record the delivery (%s)", id, db_status_name (st));
        s_rollback (db);
        outbox_row_clear (&row);
        return -1;
    }
    outbox_row_clear (&row);
    return 1;
}

static void *
s_thread (void *arg)
{
    outbox_t *self = arg;
    log_set_context (NULL, "outbox");
    self->bus = bus_client_new (self->cfg->bus_endpoint, (size_t)self->cfg->bus_max_msg, self->curve);
    if (!self->bus)
        log_error ("outbox: no bus client; back-channel logouts wait for a restart");
    pthread_mutex_lock (&self->lock);
    while (!self->stopping) {
        pthread_mutex_unlock (&self->lock);
        for (int i = 0; i < OUTBOX_BATCH; i++) {
            if (s_round (self) <= 0)
                break;
            pthread_mutex_lock (&self->lock);
            int stop = self->stopping;
            pthread_mutex_unlock (&self->lock);
            if (stop)
                break;
        }
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        long ms = self->cfg->outbox_poll_ms;
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock (&self->lock);
        while (!self->stopping)
            if (pthread_cond_timedwait (&self->wake, &self->lock, &until) != 0)
                break;
    }
    pthread_mutex_unlock (&self->lock);
    bus_client_destroy (&self->bus);
    return NULL;
}

outbox_t *
outbox_start (const config_t *cfg, const flow_app_t *app, const bus_curve_t *curve)
{
    if (!cfg || !app)
        return NULL;
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error ("outbox: libcurl does not initialise");
        return NULL;
    }
    outbox_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->app = app;
    self->curve = curve;
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, &attr);
    pthread_condattr_destroy (&attr);
    self->db = db_new (cfg->db);
    //  The statements are prepared at first use (outbox_store.h).
    if (!self->db) {
        log_error ("outbox: cannot connect to the database");
        outbox_stop (&self);
        return NULL;
    }
    if (pthread_create (&self->thread, NULL, s_thread, self) != 0) {
        log_error ("outbox: cannot start the delivery thread");
        outbox_stop (&self);
        return NULL;
    }
    self->started = 1;
    return self;
}

void
outbox_stop (outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    outbox_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock (&self->lock);
        self->stopping = 1;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
    }
    db_destroy (&self->db);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}
