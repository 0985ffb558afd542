/*  cidr - IP addresses and sets of CIDR blocks. See cidr.h. */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct {
    cidr_addr_t net;
    unsigned prefix;
} s_block_t;

struct _cidr_set_t {
    size_t count;
    s_block_t blocks[];
};

static const unsigned char s_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

//  ::ffff:a.b.c.d becomes a.b.c.d.
static void
s_unmap (cidr_addr_t *addr)
{
    if (addr->v6 && memcmp (addr->bytes, s_mapped_prefix, sizeof s_mapped_prefix) == 0) {
        unsigned char v4[4];
        memcpy (v4, addr->bytes + 12, 4);
        memset (addr, 0, sizeof *addr);
        memcpy (addr->bytes, v4, 4);
    }
}

int
cidr_addr_parse (const char *text, size_t len, cidr_addr_t *out)
{
    char buf[CIDR_ADDR_TEXT_MAX];
    if (!text || !out || len == 0 || len >= sizeof buf)
        return -1;
    memcpy (buf, text, len);
    buf[len] = '\0';
    //  inet_pton stops at nothing but its own syntax: a NUL inside the
    //  input would cut it short.
    if (memchr (text, '\0', len))
        return -1;
    cidr_addr_t addr;
    memset (&addr, 0, sizeof addr);
    if (inet_pton (AF_INET, buf, addr.bytes) == 1)
        addr.v6 = 0;
    else if (inet_pton (AF_INET6, buf, addr.bytes) == 1) {
        addr.v6 = 1;
        s_unmap (&addr);
    } else
        return -1;
    *out = addr;
    return 0;
}

int
cidr_addr_from_sockaddr (const struct sockaddr *sa, size_t sa_len, cidr_addr_t *out)
{
    if (!sa || !out)
        return -1;
    cidr_addr_t addr;
    memset (&addr, 0, sizeof addr);
    if (sa->sa_family == AF_INET && sa_len >= sizeof (struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy (&in, sa, sizeof in);
        memcpy (addr.bytes, &in.sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && sa_len >= sizeof (struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy (&in6, sa, sizeof in6);
        memcpy (addr.bytes, &in6.sin6_addr, 16);
        addr.v6 = 1;
        s_unmap (&addr);
    } else
        return -1;
    *out = addr;
    return 0;
}

int
cidr_addr_format (const cidr_addr_t *addr, char *out, size_t size)
{
    char buf[CIDR_ADDR_TEXT_MAX];
    if (!addr || !out || !inet_ntop (addr->v6 ? AF_INET6 : AF_INET, addr->bytes, buf, sizeof buf))
        return -1;
    size_t n = strlen (buf);
    if (n >= size)
        return -1;
    memcpy (out, buf, n + 1);
    return 0;
}

int
cidr_addr_equal (const cidr_addr_t *a, const cidr_addr_t *b)
{
    return a && b && a->v6 == b->v6 && memcmp (a->bytes, b->bytes, a->v6 ? 16 : 4) == 0;
}

//  1 when the first `prefix` bits of a and b are equal.
static int
s_prefix_equal (const unsigned char *a, const unsigned char *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp (a, b, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xFFu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static int
s_is_space (char c)
{
    return c == ' ' || c == '\t';
}

//  One item "addr[/prefix]" of text[0..len) (trimmed). NULL, or why not.
static const char *
s_parse_block (const char *text, size_t len, s_block_t *out)
{
    const char *slash = memchr (text, '/', len);
    size_t addr_len = slash ? (size_t)(slash - text) : len;
    if (cidr_addr_parse (text, addr_len, &out->net) != 0)
        return "an item is not an IPv4 or IPv6 address or block";
    //  Whether the text was IPv6 decides the prefix range, even for a
    //  mapped IPv4 address (::ffff:10.0.0.0/104 is 10.0.0.0/8).
    int text_v6 = memchr (text, ':', addr_len) != NULL;
    unsigned max = text_v6 ? 128 : 32;
    unsigned prefix = max;
    if (slash) {
        const char *p = slash + 1, *end = text + len;
        if (p == end || end - p > 3)
            return "a prefix length is missing or too long";
        prefix = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return "a prefix length is not a number";
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > max)
            return "a prefix length is larger than the address";
    }
    if (text_v6 && !out->net.v6) {
        //  A mapped IPv4 block: its prefix counts within the IPv4 part.
        if (prefix < 96)
            return "a block of IPv4-mapped addresses must have a prefix of at least 96";
        prefix -= 96;
    }
    static const unsigned char zero[16] = {0};
    unsigned bytes = out->net.v6 ? 16 : 4;
    //  Bits after the prefix must be 0: "10.0.0.1/8" is most likely a typo.
    unsigned char host[16];
    memcpy (host, out->net.bytes, sizeof host);
    for (unsigned bit = 0; bit < bytes * 8; bit++)
        if (bit < prefix)
            host[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    if (memcmp (host, zero, bytes) != 0)
        return "a block has address bits set after its prefix length";
    out->prefix = prefix;
    return NULL;
}

cidr_set_t *
cidr_set_new (const char *list, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (!list)
        list = "";
    size_t n = 0;
    s_block_t blocks[CIDR_SET_MAX];
    const char *p = list;
    while (s_is_space (*p))
        p++;
    if (*p) {
        for (;;) {
            const char *comma = strchr (p, ',');
            const char *end = comma ? comma : p + strlen (p);
            const char *a = p, *b = end;
            while (a < b && s_is_space (*a))
                a++;
            while (b > a && s_is_space (b[-1]))
                b--;
            if (a == b) {
                *why = "an item of the list is empty";
                return NULL;
            }
            if (n == CIDR_SET_MAX) {
                *why = "the list has too many items";
                return NULL;
            }
            const char *bad = s_parse_block (a, (size_t)(b - a), &blocks[n]);
            if (bad) {
                *why = bad;
                return NULL;
            }
            n++;
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    cidr_set_t *self = malloc (sizeof *self + n * sizeof self->blocks[0]);
    if (!self) {
        *why = "out of memory";
        return NULL;
    }
    self->count = n;
    if (n)
        memcpy (self->blocks, blocks, n * sizeof blocks[0]);
    return self;
}

void
cidr_set_destroy (cidr_set_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

size_t
cidr_set_count (const cidr_set_t *self)
{
    return self ? self->count : 0;
}

int
cidr_set_contains (const cidr_set_t *self, const cidr_addr_t *addr)
{
    if (!self || !addr)
        return 0;
    for (size_t i = 0; i < self->count; i++) {
        const s_block_t *b = &self->blocks[i];
        if (b->net.v6 == addr->v6 && s_prefix_equal (b->net.bytes, addr->bytes, b->prefix))
            return 1;
    }
    return 0;
}
