/*  cidr - IP addresses and sets of CIDR blocks (RFC 4632, RFC 4291 §2.3),
 *  IPv4 and IPv6 alike: the gateway's trusted proxies and its per-address
 *  connection counts.
 *
 *  An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket
 *  reports for an IPv4 peer) is the IPv4 address, so that one client never
 *  has two spellings. Parsing is bounded: an address is at most
 *  CIDR_ADDR_TEXT_MAX bytes of text, a set at most CIDR_SET_MAX blocks. */
#ifndef OST_CIDR_H
#define OST_CIDR_H

#include "ost.h"
#include <stddef.h>

struct sockaddr;

//  Longest text of an address we parse or print, with its NUL
//  (INET6_ADDRSTRLEN).
#define CIDR_ADDR_TEXT_MAX 46
//  Most blocks one set holds.
#define CIDR_SET_MAX 64

typedef struct {
    int v6;                  //  0 IPv4 (bytes[0..3]), 1 IPv6 (bytes[0..15])
    unsigned char bytes[16]; //  network byte order; unused bytes are 0
} cidr_addr_t;

//  The address written in text[0..len) (no NUL needed): dotted IPv4 or
//  IPv6 as inet_pton(3) takes it, nothing around it (no brackets, no port,
//  no zone). 0, or -1 when it is not exactly an address.
OST_WUR int cidr_addr_parse (const char *text, size_t len, cidr_addr_t *out);
//  The address of an AF_INET or AF_INET6 socket address. 0, or -1 for any
//  other family or a length too short for it.
OST_WUR int cidr_addr_from_sockaddr (const struct sockaddr *sa, size_t sa_len, cidr_addr_t *out);
//  The canonical text of addr (inet_ntop(3)) into out. 0, or -1 when it does
//  not fit (size CIDR_ADDR_TEXT_MAX always does).
OST_WUR int cidr_addr_format (const cidr_addr_t *addr, char *out, size_t size);
//  1 when a and b are the same address.
int cidr_addr_equal (const cidr_addr_t *a, const cidr_addr_t *b);

typedef struct _cidr_set_t cidr_set_t;

//  Parses a comma-separated list of blocks ("10.0.0.0/8, 2001:db8::/32";
//  an address alone is a block of that one address; spaces around an item
//  are ignored). An empty or all-blank list is the empty set. NULL when the
//  list is malformed (an empty item, a bad address or prefix length, bits
//  set after the prefix, more than CIDR_SET_MAX blocks) with a fixed
//  description in *why that never quotes the input, or NULL on allocation
//  failure (*why says so).
OST_WUR cidr_set_t *cidr_set_new (const char *list, const char **why);
void cidr_set_destroy (cidr_set_t **self_p);
//  Number of blocks (0 for NULL).
size_t cidr_set_count (const cidr_set_t *self);
//  1 when addr is inside one of the blocks (IPv4 blocks hold IPv4
//  addresses only, IPv6 blocks IPv6 ones), 0 otherwise and for NULL.
int cidr_set_contains (const cidr_set_t *self, const cidr_addr_t *addr);

#endif
