/*  webhook - configured hooks and their signed, SSRF-checked HTTP POSTs. */
#include "webhook.h"

#include "log.h"
#include "secure.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

//  Bounds of the file and of each hook: configuration is trusted, but a typo
//  should fail at start, not at the first login.
#define WEBHOOKS_MAX_FILE (256 * 1024)
#define WEBHOOKS_MAX_HOOKS 64
#define WEBHOOK_MAX_URL 2048
#define WEBHOOK_MIN_SECRET 16
#define WEBHOOK_MAX_SECRET 256
#define WEBHOOK_MAX_BODY (1024 * 1024)

struct _webhook_t {
    char name[65];
    char *url;
    char *secret;
    size_t secretlen;
    int async;
    long timeout_ms;
    int retries;
    int allow_private;
    char host[256]; //  without the brackets of an IPv6 literal
    long port;
    int literal; //  the host is an IP address: nothing to resolve or pin
};

struct _webhooks_t {
    webhook_t *hooks;
    size_t count;
};

//  ------------------------------------------------------------------ SSRF

//  IPv4 ranges no webhook may reach unless allow_private: RFC 1122 "this
//  network", RFC 1918 private, RFC 6598 CGNAT, loopback, RFC 3927
//  link-local (cloud metadata lives at 169.254.169.254), RFC 6890 special
//  purpose and benchmarking, multicast, reserved and broadcast.
static int
s_v4_forbidden (const unsigned char b[4])
{
    uint32_t a = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    static const struct {
        uint32_t net;
        int bits;
    } ranges[] = {
        {0x00000000, 8},  {0x0A000000, 8},  {0x64400000, 10}, {0x7F000000, 8},
        {0xA9FE0000, 16}, {0xAC100000, 12}, {0xC0000000, 24}, {0xC0A80000, 16},
        {0xC6120000, 15}, {0xE0000000, 4},  {0xF0000000, 4},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        uint32_t mask = 0xFFFFFFFFu << (32 - ranges[i].bits);
        if ((a & mask) == ranges[i].net)
            return 1;
    }
    return 0;
}

//  IPv6: unspecified and loopback (RFC 4291 §2.5.2-3), IPv4-compatible and
//  IPv4-mapped addresses (judged by their IPv4 part), NAT64 (RFC 6052), unique
//  local fc00::/7 (RFC 4193), link-local fe80::/10, site-local fec0::/10 and
//  multicast ff00::/8.
static int
s_v6_forbidden (const unsigned char b[16])
{
    static const unsigned char zero[12] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp (b, zero, 12) == 0)
        return 1; //  ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
    if (memcmp (b, mapped, 12) == 0 || memcmp (b, nat64, 12) == 0)
        return s_v4_forbidden (b + 12);
    if ((b[0] & 0xfe) == 0xfc || b[0] == 0xff)
        return 1;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return 1;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return 1;
    return 0;
}

static int
s_sockaddr_forbidden (const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return s_v4_forbidden ((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return s_v6_forbidden (((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return 1;
}

//  Resolves the hook's host and checks every address it has (an attacker who
//  controls DNS may mix a public and a private one). On success `pin` gets a
//  CURLOPT_RESOLVE entry "host:port:addr1,addr2,…" of the addresses checked,
//  so curl connects to exactly those (no second lookup that DNS rebinding
//  could answer differently); "" for an IP literal. 0 ok, -1 refused or
//  unresolvable.
static int
s_check_target (const webhook_t *hook, char *pin, size_t pinsize)
{
    pin[0] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (hook->literal)
        hints.ai_flags = AI_NUMERICHOST;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo (hook->host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        log_warn ("webhook %s: cannot resolve its host (%s)", hook->name, gai_strerror (rc));
        if (res)
            freeaddrinfo (res);
        return -1;
    }
    int refused = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (s_sockaddr_forbidden (ai->ai_addr))
            refused = 1;
    if (refused && !hook->allow_private) {
        log_warn ("webhook %s: refused, its host resolves to a loopback, private, link-local or reserved "
                  "address (OSTIARY_WEBHOOK_ALLOW_PRIVATE=0)",
                  hook->name);
        freeaddrinfo (res);
        return -1;
    }
    //  Every checked address goes into the entry (curl tries them in turn,
    //  as it would after its own lookup), up to what the buffer holds.
    int n = hook->literal ? 0 : snprintf (pin, pinsize, "%s:%ld:", hook->host, hook->port);
    if (n < 0 || (size_t)n >= pinsize) {
        freeaddrinfo (res);
        return -1;
    }
    size_t used = (size_t)n, count = 0;
    for (struct addrinfo *ai = res; ai && !hook->literal; ai = ai->ai_next) {
        char addr[INET6_ADDRSTRLEN] = "";
        if (ai->ai_family == AF_INET)
            inet_ntop (AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, addr, sizeof addr);
        else if (ai->ai_family == AF_INET6)
            inet_ntop (AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, addr, sizeof addr);
        if (!*addr)
            continue;
        int m = snprintf (pin + used, pinsize - used, ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
                          count ? "," : "", addr);
        if (m < 0 || (size_t)m >= pinsize - used) {
            pin[used] = '\0';
            break;
        }
        used += (size_t)m;
        count++;
    }
    freeaddrinfo (res);
    if (!hook->literal && count == 0)
        return -1;
    return 0;
}

//  ------------------------------------------------------------------ loading

static void
s_hook_clear (webhook_t *hook)
{
    free (hook->url);
    if (hook->secret) {
        secure_wipe (hook->secret, hook->secretlen);
        free (hook->secret);
    }
    memset (hook, 0, sizeof *hook);
}

void
webhooks_destroy (webhooks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    webhooks_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        s_hook_clear (&self->hooks[i]);
    free (self->hooks);
    free (self);
    *self_p = NULL;
}

static int
s_valid_name (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > 64 || name[0] < 'a' || name[0] > 'z')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

//  The URL must be absolute http(s) with a host and no credentials (secrets
//  belong in "secret"); fills host, port and literal. NULL ok, else why.
static const char *
s_parse_url (webhook_t *hook, const char *url)
{
    if (strlen (url) > WEBHOOK_MAX_URL)
        return "url is longer than 2048 characters";
    if (strpbrk (url, " \t\r\n"))
        return "url holds white space";
    CURLU *u = curl_url ();
    if (!u)
        return "out of memory";
    const char *why = NULL;
    char *scheme = NULL, *host = NULL, *user = NULL, *port = NULL;
    if (curl_url_set (u, CURLUPART_URL, url, 0) != CURLUE_OK)
        why = "url does not parse";
    else if (curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
             (strcmp (scheme, "http") != 0 && strcmp (scheme, "https") != 0))
        why = "url must be http:// or https://";
    else if (curl_url_get (u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
        why = "url has no host";
    else if (curl_url_get (u, CURLUPART_USER, &user, 0) == CURLUE_OK)
        why = "url holds credentials";
    else if (curl_url_get (u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        why = "url has no port";
    if (!why) {
        size_t hlen = strlen (host);
        const char *h = host;
        if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
            h = host + 1;
            hlen -= 2;
        }
        if (hlen >= sizeof hook->host)
            why = "url host is too long";
        else {
            memcpy (hook->host, h, hlen);
            hook->host[hlen] = '\0';
            hook->port = strtol (port, NULL, 10);
            unsigned char buf[16];
            hook->literal =
                inet_pton (AF_INET, hook->host, buf) == 1 || inet_pton (AF_INET6, hook->host, buf) == 1;
            //  A literal private address is a configuration error we can see now.
            if (hook->literal && !hook->allow_private) {
                struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
                struct addrinfo *res = NULL;
                if (getaddrinfo (hook->host, NULL, &hints, &res) != 0 || !res ||
                    s_sockaddr_forbidden (res->ai_addr))
                    why = "url names a loopback, private, link-local or reserved address "
                          "(OSTIARY_WEBHOOK_ALLOW_PRIVATE=0)";
                if (res)
                    freeaddrinfo (res);
            }
        }
    }
    curl_free (scheme);
    curl_free (host);
    curl_free (user);
    curl_free (port);
    curl_url_cleanup (u);
    return why;
}

//  An optional integer member in [min, max]. NULL ok, else why.
static const char *
s_int_member (json_t *obj, const char *key, long def, long min, long max, long *out)
{
    json_t *v = json_object_get (obj, key);
    *out = def;
    if (!v)
        return NULL;
    if (!json_is_integer (v) || json_integer_value (v) < min || json_integer_value (v) > max)
        return "out of range";
    *out = (long)json_integer_value (v);
    return NULL;
}

static const char *
s_load_hook (webhook_t *hook, const char *name, json_t *def, int allow_private, const char **member)
{
    *member = "";
    if (!s_valid_name (name))
        return "a hook name is 1-64 characters of a-z, 0-9, '_' and '-', starting with a letter";
    snprintf (hook->name, sizeof hook->name, "%s", name);
    hook->allow_private = allow_private;
    if (!json_is_object (def))
        return "must be an object";
    const char *key;
    json_t *v;
    json_object_foreach (def, key, v)
    {
        if (strcmp (key, "url") && strcmp (key, "secret") && strcmp (key, "mode") &&
            strcmp (key, "timeout_ms") && strcmp (key, "retries")) {
            *member = key;
            return "unknown member";
        }
    }
    *member = "url";
    json_t *url = json_object_get (def, "url");
    if (!json_is_string (url))
        return "missing or not a string";
    const char *why = s_parse_url (hook, json_string_value (url));
    if (why)
        return why;
    if (!(hook->url = strdup (json_string_value (url))))
        return "out of memory";
    *member = "secret";
    json_t *secret = json_object_get (def, "secret");
    if (!json_is_string (secret))
        return "missing or not a string";
    size_t slen = json_string_length (secret);
    if (slen < WEBHOOK_MIN_SECRET || slen > WEBHOOK_MAX_SECRET)
        return "must be 16 to 256 bytes";
    if (!(hook->secret = malloc (slen + 1)))
        return "out of memory";
    memcpy (hook->secret, json_string_value (secret), slen + 1);
    hook->secretlen = slen;
    *member = "mode";
    json_t *mode = json_object_get (def, "mode");
    if (mode && !(json_is_string (mode) && (!strcmp (json_string_value (mode), "sync") ||
                                            !strcmp (json_string_value (mode), "async"))))
        return "must be \"sync\" or \"async\"";
    hook->async = mode && !strcmp (json_string_value (mode), "async");
    *member = "timeout_ms";
    if ((why = s_int_member (def, "timeout_ms", 5000, 100, 60000, &hook->timeout_ms)))
        return "must be an integer from 100 to 60000";
    *member = "retries";
    long retries = 0;
    if ((why = s_int_member (def, "retries", 2, 0, 10, &retries)))
        return "must be an integer from 0 to 10";
    hook->retries = (int)retries;
    *member = "";
    return NULL;
}

webhooks_t *
webhooks_load (const char *path, int allow_private, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    //  Every libcurl user in flow-svc starts here or in outbox_start, on the
    //  main thread before any other thread exists (curl_global_init(3)).
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf (err, errlen, "libcurl does not initialise");
        return NULL;
    }
    webhooks_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    if (!path || !*path)
        return self;
    struct stat st;
    if (stat (path, &st) != 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        goto fail;
    }
    if (!S_ISREG (st.st_mode) || st.st_size > WEBHOOKS_MAX_FILE) {
        snprintf (err, errlen, "%s: not a regular file of at most %d bytes", path, WEBHOOKS_MAX_FILE);
        goto fail;
    }
    json_error_t jerr;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf (err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
        goto fail;
    }
    json_t *hooks = json_object_get (root, "hooks");
    if (!json_is_object (root) || json_object_size (root) != 1 || !json_is_object (hooks)) {
        snprintf (err, errlen, "%s: must be {\"hooks\": {name: {...}}} and nothing else", path);
        json_decref (root);
        goto fail;
    }
    size_t n = json_object_size (hooks);
    if (n > WEBHOOKS_MAX_HOOKS) {
        snprintf (err, errlen, "%s: more than %d hooks", path, WEBHOOKS_MAX_HOOKS);
        json_decref (root);
        goto fail;
    }
    self->hooks = calloc (n ? n : 1, sizeof *self->hooks);
    if (!self->hooks) {
        snprintf (err, errlen, "out of memory");
        json_decref (root);
        goto fail;
    }
    const char *name;
    json_t *def;
    json_object_foreach (hooks, name, def)
    {
        const char *member = "";
        webhook_t *hook = &self->hooks[self->count++];
        const char *why = s_load_hook (hook, name, def, allow_private, &member);
        if (why) {
            if (*member)
                snprintf (err, errlen, "%s: hook \"%.64s\": \"%.32s\": %s", path, name, member, why);
            else
                snprintf (err, errlen, "%s: hook \"%.64s\": %s", path, name, why);
            json_decref (root);
            goto fail;
        }
    }
    json_decref (root);
    return self;
fail:
    webhooks_destroy (&self);
    return NULL;
}

const webhook_t *
webhooks_find (const webhooks_t *self, const char *name)
{
    if (!self || !name)
        return NULL;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->hooks[i].name, name) == 0)
            return &self->hooks[i];
    return NULL;
}

int
webhook_is_async (const webhook_t *hook)
{
    return hook && hook->async;
}

const char *
webhook_name (const webhook_t *hook)
{
    return hook ? hook->name : "";
}

int
webhook_retries (const webhook_t *hook)
{
    return hook ? hook->retries : 0;
}

//  ------------------------------------------------------------------ calls

typedef struct {
    char *data;
    size_t len;
    int overflow;
} s_answer_t;

//  Keeps at most WEBHOOK_MAX_ANSWER bytes; more aborts the transfer.
static size_t
s_on_data (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_answer_t *answer = arg;
    size_t n = size * nmemb;
    if (n > WEBHOOK_MAX_ANSWER - answer->len) {
        answer->overflow = 1;
        return 0;
    }
    if (!answer->data && !(answer->data = malloc (WEBHOOK_MAX_ANSWER + 1)))
        return 0;
    memcpy (answer->data + answer->len, ptr, n);
    answer->len += n;
    answer->data[answer->len] = '\0';
    return n;
}

//  The Ostiary-Signature header line of body under the hook's secret (mac
//  gets the raw MAC, for the caller to wipe). 0 ok, -1 failure.
static int
s_signature (const webhook_t *hook, const char *body, size_t len, unsigned char mac[32], char *sig,
             size_t sigsize)
{
    //  Ostiary-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>,
    //  the scheme Stripe made common: the receiver recomputes it over the raw
    //  body and refuses stale timestamps, so a captured call cannot be replayed
    //  later.
    long long t = (long long)time (NULL);
    char prefix[32];
    int plen = snprintf (prefix, sizeof prefix, "%lld.", t);
    EVP_MAC *evp = EVP_MAC_fetch (NULL, "HMAC", NULL);
    EVP_MAC_CTX *mctx = evp ? EVP_MAC_CTX_new (evp) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string ("digest", (char *)"SHA256", 0), OSSL_PARAM_END};
    size_t outl = 0;
    int ok = mctx && EVP_MAC_init (mctx, (const unsigned char *)hook->secret, hook->secretlen, params) == 1 &&
             EVP_MAC_update (mctx, (const unsigned char *)prefix, (size_t)plen) == 1 &&
             EVP_MAC_update (mctx, (const unsigned char *)body, len) == 1 &&
             EVP_MAC_final (mctx, mac, &outl, 32) == 1 && outl == 32;
    EVP_MAC_CTX_free (mctx);
    EVP_MAC_free (evp);
    if (!ok)
        return -1;
    char hex[65];
    secure_hex (mac, 32, hex);
    snprintf (sig, sigsize, "Ostiary-Signature: t=%lld,v1=%s", t, hex);
    secure_wipe (hex, sizeof hex);
    return 0;
}

//  One POST of content_type, signed when the hook has a secret. 0 on 2xx
//  (answer filled), 1 worth retrying, -1 not.
static int
s_attempt (const webhook_t *hook, const char *content_type, const char *body, size_t len, s_answer_t *answer)
{
    char pin[1024];
    if (s_check_target (hook, pin, sizeof pin) != 0)
        return -1;
    char type[96];
    snprintf (type, sizeof type, "Content-Type: %s", content_type);
    char sig[128] = "";
    unsigned char mac[32];
    if (hook->secret && s_signature (hook, body, len, mac, sig, sizeof sig) != 0)
        return -1;

    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = NULL, *resolve = NULL;
    int rc = -1;
    if (!curl)
        return 1;
    headers = curl_slist_append (headers, type);
    if (*sig)
        headers = curl_slist_append (headers, sig);
    //  No "Expect: 100-continue" round trip for small bodies.
    headers = curl_slist_append (headers, "Expect:");
    if (*pin)
        resolve = curl_slist_append (NULL, pin);
    if (!headers || (*pin && !resolve))
        goto done;
    curl_easy_setopt (curl, CURLOPT_URL, hook->url);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    //  Redirects are never followed: a 3xx could point anywhere, including
    //  addresses the check above refuses.
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    //  http_proxy and friends from the environment must not reroute the call
    //  around the address check.
    curl_easy_setopt (curl, CURLOPT_PROXY, "");
    curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
    if (resolve)
        curl_easy_setopt (curl, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, hook->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, hook->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "ostiary-webhook/1");
    curl_easy_setopt (curl, CURLOPT_POST, 1L);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, answer);
    CURLcode res = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    if (res != CURLE_OK) {
        log_warn ("webhook %s: %s", hook->name,
                  answer->overflow ? "answer larger than 64 KiB" : curl_easy_strerror (res));
        rc = answer->overflow ? -1 : 1;
    } else if (status >= 200 && status < 300)
        rc = 0;
    else {
        log_warn ("webhook %s: HTTP status %ld", hook->name, status);
        rc = (status >= 500 || status == 429) ? 1 : -1;
    }
done:
    curl_slist_free_all (headers);
    curl_slist_free_all (resolve);
    curl_easy_cleanup (curl);
    secure_wipe (mac, sizeof mac);
    return rc;
}

int
webhook_post (const webhook_t *hook, const char *body, size_t len)
{
    if (!hook || !body || len > WEBHOOK_MAX_BODY)
        return -1;
    s_answer_t answer = {0};
    int rc = s_attempt (hook, "application/json", body, len, &answer);
    free (answer.data);
    return rc;
}

int
webhook_post_url (const char *name, const char *url, int allow_private, long timeout_ms,
                  const char *content_type, const char *body, size_t len)
{
    if (!name || !url || !content_type || !body || len > WEBHOOK_MAX_BODY)
        return -1;
    webhook_t target;
    memset (&target, 0, sizeof target);
    snprintf (target.name, sizeof target.name, "%s", name);
    target.allow_private = allow_private;
    target.timeout_ms = timeout_ms;
    const char *why = s_parse_url (&target, url);
    if (why) {
        log_warn ("%s: refused: %s", target.name, why);
        return -1;
    }
    target.url = (char *)url;
    s_answer_t answer = {0};
    int rc = s_attempt (&target, content_type, body, len, &answer);
    free (answer.data);
    return rc;
}

int
webhook_call (const webhook_t *hook, const json_t *payload, json_t **answer)
{
    if (answer)
        *answer = NULL;
    if (!hook || !payload || !answer)
        return -1;
    char *body = json_dumps (payload, JSON_COMPACT);
    if (!body)
        return -1;
    size_t len = strlen (body);
    int rc = -1;
    for (int attempt = 0; len <= WEBHOOK_MAX_BODY && attempt <= hook->retries; attempt++) {
        if (attempt > 0) {
            //  A short exponential backoff: the caller is a user waiting for a page.
            long ms = 100L << (attempt - 1 < 4 ? attempt - 1 : 4);
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            nanosleep (&ts, NULL);
        }
        s_answer_t got = {0};
        int r = s_attempt (hook, "application/json", body, len, &got);
        if (r == 0) {
            json_error_t jerr;
            json_t *json =
                got.len == 0 ? json_object () : json_loadb (got.data, got.len, JSON_REJECT_DUPLICATES, &jerr);
            if (json_is_object (json)) {
                *answer = json;
                rc = 0;
            } else {
                log_warn ("webhook %s: the answer is not a JSON object", hook->name);
                json_decref (json);
            }
        }
        free (got.data);
        if (r <= 0)
            break;
    }
    free (body);
    return rc;
}
