/*  token_util - shared helpers of token-svc. See token_util.h. */
#include "token_util.h"

#include "bus_msg.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  What a reply and the broker's forwarding need after a handler finishes.
#define REPLY_MARGIN_MS 50

tu_get_t
tu_string (const json_t *obj, const char *name, size_t max, const char **out)
{
    *out = NULL;
    const json_t *v = json_object_get (obj, name);
    if (!v || json_is_null (v))
        return TU_ABSENT;
    if (!json_is_string (v))
        return TU_BAD;
    size_t len = json_string_length (v);
    const char *s = json_string_value (v);
    if (len > max || strlen (s) != len)
        return TU_BAD;
    *out = s;
    return TU_OK;
}

int
tu_fail (bus_req_t *req, ost_err_t err, const char *description)
{
    bus_req_fail (req, err, description);
    return -1;
}

int
tu_db_fail (bus_req_t *req, db_status_t st)
{
    if (st == DB_UNAVAILABLE || st == DB_RETRY)
        return tu_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the token database is not reachable");
    return tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}

json_t *
tu_redirect (const char *issuer, const char *redirect_uri, const char *response_mode, const char *state,
             json_t *params)
{
    if (!params)
        return NULL;
    //  RFC 6749 §4.1.2, §4.1.2.1: state exactly as the client sent it.
    if ((state && json_object_set_new (params, "state", json_string (state))) ||
        json_object_set_new (params, "iss", json_string (issuer))) {
        json_decref (params);
        return NULL;
    }
    return json_pack ("{s:s, s:s, s:o}", "redirect_uri", redirect_uri, "response_mode", response_mode,
                      "params", params);
}

void
tu_sha256 (const char *text, unsigned char out[32])
{
    SHA256 ((const unsigned char *)text, strlen (text), out);
}

int
tu_time_left_ms (const bus_req_t *req)
{
    return bus_req_time_left_ms (req, REPLY_MARGIN_MS);
}

int64_t
tu_now (void)
{
    //  Not time (): on Linux it reads the clock as of the last tick and lags
    //  CLOCK_REALTIME by up to a tick (measured here: 4.9 ms into a new
    //  second), so a client that saw a token's exp pass could still have it
    //  accepted.
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int
tu_printable (const char *s, int spaces)
{
    for (; *s; s++)
        if (!((*s >= 0x21 && *s <= 0x7e) || (spaces && *s == ' ')))
            return 0;
    return 1;
}

static const char *const s_known_scopes[] = {
    //  OpenID Connect Core §3.1.2.1, §5.4.
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    //  OpenID Connect Core §11: asks for a refresh token.
    "offline_access",
    //  Ostiary's admin API (docs/admin): only the designated admin client
    //  registers it, and only users with the admin role are issued it
    //  (admin_scope.h).
    "admin",
};

int
tu_scope_known (const char *scope)
{
    for (size_t i = 0; i < sizeof s_known_scopes / sizeof s_known_scopes[0]; i++)
        if (strcmp (scope, s_known_scopes[i]) == 0)
            return 1;
    return 0;
}

//  RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
static int
s_scope_char (char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

json_t *
tu_scope_parse (const char *scope)
{
    json_t *list = json_array ();
    if (!list)
        return NULL;
    const char *p = scope;
    while (*p) {
        //  §3.3: tokens are separated by single spaces; leading, trailing
        //  and doubled spaces are tolerated (many clients send them).
        if (*p == ' ') {
            p++;
            continue;
        }
        const char *start = p;
        while (*p && *p != ' ') {
            if (!s_scope_char (*p)) {
                json_decref (list);
                return NULL;
            }
            p++;
        }
        json_t *token = json_stringn (start, (size_t)(p - start));
        if (!token) {
            json_decref (list);
            return NULL;
        }
        if (tu_has (list, json_string_value (token)))
            json_decref (token);
        else
            json_array_append_new (list, token);
    }
    if (json_array_size (list) == 0) {
        json_decref (list);
        return NULL;
    }
    return list;
}

char *
tu_scope_join (const json_t *scopes)
{
    size_t len = 1;
    size_t i;
    const json_t *v;
    json_array_foreach (scopes, i, v)
    {
        if (!json_is_string (v))
            return NULL;
        len += json_string_length (v) + 1;
    }
    char *out = malloc (len);
    if (!out)
        return NULL;
    size_t used = 0;
    json_array_foreach (scopes, i, v)
    {
        if (used)
            out[used++] = ' ';
        memcpy (out + used, json_string_value (v), json_string_length (v));
        used += json_string_length (v);
    }
    out[used] = '\0';
    return out;
}

int
tu_has (const json_t *array, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach (array, i, v)
    {
        if (json_is_string (v) && strcmp (json_string_value (v), s) == 0)
            return 1;
    }
    return 0;
}

int
tu_subset (const json_t *a, const json_t *b)
{
    size_t i;
    const json_t *v;
    json_array_foreach (a, i, v)
    {
        if (!json_is_string (v) || !tu_has (b, json_string_value (v)))
            return 0;
    }
    return 1;
}

//  The length of the loopback IP literal prefix of an http URI
//  ("http://127.0.0.1" or "http://[::1]") when uri starts with one followed
//  by a port, a path, a query or its end; else 0.
static size_t
s_loopback_prefix (const char *uri)
{
    static const char *const prefixes[] = {"http://127.0.0.1", "http://[::1]"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen (prefixes[i]);
        if (strncmp (uri, prefixes[i], n) == 0 && strchr (":/?", uri[n]))
            return n;
    }
    return 0;
}

//  After the host: skips ":port" (1 to 5 digits, 1 to 65535) when present.
//  The rest of the URI, or NULL when the port is malformed.
static const char *
s_skip_port (const char *after_host)
{
    if (*after_host != ':')
        return after_host;
    size_t digits = strspn (after_host + 1, "0123456789");
    if (digits == 0 || digits > 5)
        return NULL;
    long port = strtol (after_host + 1, NULL, 10);
    if (port < 1 || port > 65535)
        return NULL;
    return after_host + 1 + digits;
}

int
tu_redirect_uri_registered (const json_t *registered, const char *uri)
{
    if (tu_has (registered, uri))
        return 1;
    //  RFC 8252 §7.3: "The authorization server MUST allow any port to be
    //  specified at the time of the request for loopback IP redirect URIs,
    //  to accommodate clients that obtain an available ephemeral port from
    //  the operating system at the time of the request." Only IP literals:
    //  localhost may resolve elsewhere (§8.3) and stays exact.
    size_t n = s_loopback_prefix (uri);
    const char *rest = n ? s_skip_port (uri + n) : NULL;
    if (!rest)
        return 0;
    size_t i;
    const json_t *v;
    json_array_foreach (registered, i, v)
    {
        const char *r = json_string_value (v);
        if (!r || s_loopback_prefix (r) != n || strncmp (r, uri, n) != 0)
            continue;
        const char *r_rest = s_skip_port (r + n);
        if (r_rest && strcmp (r_rest, rest) == 0)
            return 1;
    }
    return 0;
}
