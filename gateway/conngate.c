/*  conngate - per-address connection cap at accept(2). See conngate.h.
 *
 *  _GNU_SOURCE (from the Makefile) makes glibc declare accept() with a
 *  transparent union for its address argument; without it the declaration
 *  is the plain POSIX one that the definition below matches. */
#undef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "conngate.h"

#include "connlimit.h"
#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

//  glibc's, declared by <sys/socket.h> only under _GNU_SOURCE.
extern int accept4 (int fd, struct sockaddr *addr, socklen_t *addr_len, int flags);

typedef struct {
    unsigned port;
    const cidr_set_t *trusted;
    connlimit_t *conns;
    size_t max_per_addr;
    atomic_ulong refused;  //  connections refused since the last log line
    atomic_llong last_log; //  CLOCK_MONOTONIC second of that line
} s_gate_t;

static _Atomic (s_gate_t *) s_gate;

//  What a refused client reads before the close: a whole HTTP answer, sent
//  without waiting (a fresh socket's send buffer is empty).
#define S_REFUSAL_BODY                                                                                       \
    "{\"error\":\"temporarily_unavailable\",\"error_description\":\"too many connections from this "         \
    "address\"}"
static char s_refusal[512];
static size_t s_refusal_len;

int
conngate_open (unsigned port, size_t max_per_addr, const cidr_set_t *trusted)
{
    s_gate_t *gate = calloc (1, sizeof *gate);
    if (!gate)
        return -1;
    gate->port = port;
    gate->trusted = trusted;
    gate->max_per_addr = max_per_addr;
    gate->conns = connlimit_new (max_per_addr);
    int n =
        snprintf (s_refusal, sizeof s_refusal,
                  "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
                  "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
                  "Content-Length: %zu\r\n\r\n%s",
                  sizeof S_REFUSAL_BODY - 1, S_REFUSAL_BODY);
    s_refusal_len = n > 0 && (size_t)n < sizeof s_refusal ? (size_t)n : 0;
    s_gate_t *none = NULL;
    if (!gate->conns || !atomic_compare_exchange_strong (&s_gate, &none, gate)) {
        connlimit_destroy (&gate->conns);
        free (gate);
        return -1;
    }
    return 0;
}

void
conngate_close (void)
{
    s_gate_t *gate = atomic_exchange (&s_gate, NULL);
    if (gate) {
        connlimit_destroy (&gate->conns);
        free (gate);
    }
}

//  1 when listener is a TCP socket bound to the gate's port.
static int
s_is_http_listener (const s_gate_t *gate, int listener)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname (listener, (struct sockaddr *)&local, &len) != 0)
        return 0;
    if (local.ss_family == AF_INET && len >= sizeof (struct sockaddr_in))
        return ntohs (((struct sockaddr_in *)&local)->sin_port) == gate->port;
    if (local.ss_family == AF_INET6 && len >= sizeof (struct sockaddr_in6))
        return ntohs (((struct sockaddr_in6 *)&local)->sin6_port) == gate->port;
    return 0;
}

//  One log line a second at most, however many are refused.
static void
s_log_refusal (s_gate_t *gate, const cidr_addr_t *addr)
{
    atomic_fetch_add (&gate->refused, 1);
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    long long last = atomic_load (&gate->last_log);
    if (now.tv_sec > last && atomic_compare_exchange_strong (&gate->last_log, &last, (long long)now.tv_sec)) {
        char text[CIDR_ADDR_TEXT_MAX];
        if (cidr_addr_format (addr, text, sizeof text) != 0)
            strcpy (text, "?");
        unsigned long n = atomic_exchange (&gate->refused, 0);
        log_warn ("http: refused %lu connection(s) over OSTIARY_HTTP_MAX_CONN_PER_IP=%zu (the last from %s)",
                  n, gate->max_per_addr, text);
    }
}

//  civetweb's master thread calls this for every connection it accepts.
int
accept (int fd, struct sockaddr *restrict addr, socklen_t *restrict addr_len)
{
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    int s = accept4 (fd, (struct sockaddr *)&peer, &peer_len, 0);
    if (s < 0)
        return s;
    s_gate_t *gate = atomic_load (&s_gate);
    cidr_addr_t from;
    if (gate && s_is_http_listener (gate, fd) &&
        cidr_addr_from_sockaddr ((struct sockaddr *)&peer, peer_len, &from) == 0 &&
        !cidr_set_contains (gate->trusted, &from) && connlimit_acquire (gate->conns, &from) != 0) {
        (void)!send (s, s_refusal, s_refusal_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        //  Closing with unread bytes would reset the connection, and the
        //  client could lose the answer: what has arrived of its request is
        //  read and dropped first (a bounded amount, without waiting).
        shutdown (s, SHUT_WR);
        char sink[4096];
        for (int i = 0; i < 4 && recv (s, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
            ;
        close (s);
        s_log_refusal (gate, &from);
        errno = ECONNABORTED;
        return -1;
    }
    if (addr && addr_len) {
        socklen_t n = *addr_len < peer_len ? *addr_len : peer_len;
        memcpy (addr, &peer, n);
        *addr_len = peer_len;
    }
    return s;
}

void
conngate_release (const char *remote_addr)
{
    s_gate_t *gate = atomic_load (&s_gate);
    cidr_addr_t from;
    if (!gate || !remote_addr || cidr_addr_parse (remote_addr, strlen (remote_addr), &from) != 0)
        return;
    if (!cidr_set_contains (gate->trusted, &from))
        connlimit_release (gate->conns, &from);
}
