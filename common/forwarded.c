/*  forwarded - the client behind trusted proxies. See forwarded.h. */
#include "forwarded.h"

#include <string.h>
#include <strings.h>

typedef enum { S_FOUND, S_ABSENT, S_UNUSABLE } s_walk_t;

//  Parses one hop of text[0..len) into addr: a.b.c.d, a.b.c.d:port, an IPv6
//  address, [IPv6] or [IPv6]:port. 0 or -1.
static int
s_parse_node (const char *text, size_t len, cidr_addr_t *addr)
{
    const char *end = text + len;
    const char *port = NULL;
    if (len > 0 && text[0] == '[') {
        const char *close = memchr (text, ']', len);
        if (!close)
            return -1;
        if (close + 1 < end) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
        if (!memchr (text + 1, ':', (size_t)(close - text - 1)))
            return -1; //  brackets hold IPv6 only
        if (cidr_addr_parse (text + 1, (size_t)(close - text - 1), addr) != 0)
            return -1;
    } else {
        const char *colon = memchr (text, ':', len);
        if (colon && !memchr (colon + 1, ':', (size_t)(end - colon - 1))) {
            //  One colon: IPv4 with a port.
            port = colon + 1;
            if (cidr_addr_parse (text, (size_t)(colon - text), addr) != 0 || addr->v6)
                return -1;
        } else if (cidr_addr_parse (text, len, addr) != 0)
            return -1;
    }
    if (port) {
        size_t n = (size_t)(end - port);
        if (n == 0 || n > 5)
            return -1;
        for (const char *p = port; p < end; p++)
            if (*p < '0' || *p > '9')
                return -1;
    }
    return 0;
}

static const char *
s_trim (const char **a, const char *b)
{
    while (*a < b && (**a == ' ' || **a == '\t'))
        (*a)++;
    while (b > *a && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    return b;
}

//  One X-Forwarded-For item.
static int
s_xff_hop (const char *a, const char *b, cidr_addr_t *addr)
{
    return s_parse_node (a, (size_t)(b - a), addr);
}

//  One Forwarded element: pairs separated by ';', exactly one of them
//  for=node, node a token or a quoted-string (RFC 7239 §4, §6).
static int
s_forwarded_hop (const char *a, const char *b, cidr_addr_t *addr)
{
    int have_for = 0;
    while (a < b) {
        const char *semi = memchr (a, ';', (size_t)(b - a));
        const char *pair_end = semi ? semi : b;
        const char *pa = a, *pb = s_trim (&pa, pair_end);
        const char *eq = memchr (pa, '=', (size_t)(pb - pa));
        if (!eq || eq == pa)
            return -1;
        const char *name_end = eq;
        while (name_end > pa && (name_end[-1] == ' ' || name_end[-1] == '\t'))
            name_end--;
        if ((size_t)(name_end - pa) == 3 && strncasecmp (pa, "for", 3) == 0) {
            if (have_for)
                return -1;
            have_for = 1;
            const char *va = eq + 1, *vb = s_trim (&va, pb);
            if (vb - va >= 2 && *va == '"' && vb[-1] == '"') {
                va++;
                vb--;
            }
            //  A quote or backslash left means a quoted-string we do not take
            //  (no address needs an escape).
            for (const char *p = va; p < vb; p++)
                if (*p == '"' || *p == '\\')
                    return -1;
            if (s_parse_node (va, (size_t)(vb - va), addr) != 0)
                return -1;
        }
        a = semi ? semi + 1 : b;
    }
    return have_for ? 0 : -1;
}

//  Walks the hops of values[] (one list) from the right.
static s_walk_t
s_walk (const cidr_set_t *trusted, const char *const *values, size_t count,
        int (*hop) (const char *, const char *, cidr_addr_t *), cidr_addr_t *client)
{
    size_t hops = 0;
    cidr_addr_t last = {0};
    for (size_t v = count; v-- > 0;) {
        const char *value = values[v] ? values[v] : "";
        size_t len = strnlen (value, FORWARDED_FIELD_MAX + 1);
        if (len > FORWARDED_FIELD_MAX)
            return S_UNUSABLE;
        const char *start = value, *end = value + len;
        const char *blank = start;
        if (s_trim (&blank, end) == blank)
            continue; //  an empty field line adds no hop
        for (;;) {
            const char *comma = end;
            while (comma > start && comma[-1] != ',')
                comma--;
            const char *a = comma, *b = s_trim (&a, end);
            if (a == b || (size_t)(b - a) > FORWARDED_HOP_MAX || ++hops > FORWARDED_MAX_HOPS)
                return S_UNUSABLE;
            cidr_addr_t addr;
            if (hop (a, b, &addr) != 0)
                return S_UNUSABLE;
            if (!cidr_set_contains (trusted, &addr)) {
                *client = addr;
                return S_FOUND;
            }
            last = addr;
            if (comma == start)
                break;
            end = comma - 1;
        }
    }
    if (hops == 0)
        return S_ABSENT;
    *client = last;
    return S_FOUND;
}

forwarded_source_t
forwarded_client (const cidr_set_t *trusted, const cidr_addr_t *peer, const forwarded_headers_t *headers,
                  cidr_addr_t *client)
{
    *client = *peer;
    if (!headers || !cidr_set_contains (trusted, peer))
        return FORWARDED_PEER;
    cidr_addr_t from_xff, from_fwd;
    s_walk_t x = s_walk (trusted, headers->xff, headers->xff ? headers->xff_count : 0, s_xff_hop, &from_xff);
    s_walk_t f = s_walk (trusted, headers->forwarded, headers->forwarded ? headers->forwarded_count : 0,
                         s_forwarded_hop, &from_fwd);
    if (x == S_UNUSABLE || f == S_UNUSABLE)
        return FORWARDED_PEER;
    if (x == S_FOUND && f == S_FOUND) {
        if (!cidr_addr_equal (&from_xff, &from_fwd))
            return FORWARDED_PEER;
        *client = from_fwd;
        return FORWARDED_RFC7239;
    }
    if (f == S_FOUND) {
        *client = from_fwd;
        return FORWARDED_RFC7239;
    }
    if (x == S_FOUND) {
        *client = from_xff;
        return FORWARDED_XFF;
    }
    return FORWARDED_PEER;
}
