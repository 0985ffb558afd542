/*  forwarded - the client address of a request that came through trusted
 *  proxies: X-Forwarded-For (the de facto list of hops) and Forwarded
 *  (RFC 7239 §4, its for= parameter).
 *
 *  Each proxy appends the address it received the request from, so the
 *  right end of the list is written by the proxy nearest to us and the left
 *  by whoever the client is. The walk starts at the TCP peer and goes from
 *  right to left while the hop is a trusted proxy; the first hop that is not
 *  is the client. What lies left of it came from the client (or from
 *  proxies we do not trust) and is never read. When every hop is trusted,
 *  the left-most one is the client.
 *
 *  Nothing is believed unless the TCP peer itself is trusted. A hop the
 *  walk reaches that is not an address (garbage, "unknown", an obfuscated
 *  RFC 7239 identifier, an item longer than FORWARDED_HOP_MAX, more than
 *  FORWARDED_MAX_HOPS hops) makes the header unusable, and so does a field
 *  line longer than FORWARDED_FIELD_MAX; the answer is then the TCP peer.
 *  When both headers are present they must name the same client, since a
 *  proxy that manages one of them may pass the other on from the client
 *  untouched; if they differ, the answer is the TCP peer. */
#ifndef OST_FORWARDED_H
#define OST_FORWARDED_H

#include "cidr.h"
#include <stddef.h>

//  Longest item (one hop) we read, and most hops walked.
#define FORWARDED_HOP_MAX 128
#define FORWARDED_MAX_HOPS 32
//  Longest header field line we read.
#define FORWARDED_FIELD_MAX 8192

typedef enum {
    FORWARDED_PEER = 0, //  the TCP peer (not trusted, no usable header)
    FORWARDED_XFF,      //  from X-Forwarded-For
    FORWARDED_RFC7239,  //  from Forwarded (or both headers, agreeing)
} forwarded_source_t;

//  The field values of a request's X-Forwarded-For and Forwarded header
//  lines, each kind in the order received (repeated lines are one list,
//  RFC 9110 §5.3).
typedef struct {
    const char *const *xff;
    size_t xff_count;
    const char *const *forwarded;
    size_t forwarded_count;
} forwarded_headers_t;

//  The client of a request from TCP peer `peer` into *client, and where it
//  came from. headers may be NULL (then the peer).
forwarded_source_t forwarded_client (const cidr_set_t *trusted, const cidr_addr_t *peer,
                                     const forwarded_headers_t *headers, cidr_addr_t *client);

#endif
