/*  metrics_http - see metrics_http.h. */
#include "metrics_http.h"
#include "log.h"
#include "metrics.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct _metrics_http_t {
    int fd;
    int wake[2]; //  a byte on wake[1] ends the thread
    int port;
    pthread_t thread;
};

//  Each process has a port of its own by default, so that the four of a
//  single host (make run, a systemd host) do not collide.
static const struct {
    const char *program;
    const char *address;
} s_defaults[] = {
    {"gateway", "127.0.0.1:9464"},
    {"token-svc", "127.0.0.1:9465"},
    {"flow-svc", "127.0.0.1:9466"},
    {"keys-svc", "127.0.0.1:9467"},
};

const char *
metrics_http_address (const char *listen, const char *program, int *off)
{
    *off = 0;
    if (listen && strcmp (listen, "off") == 0) {
        *off = 1;
        return NULL;
    }
    if (listen && *listen)
        return listen;
    for (size_t i = 0; i < sizeof s_defaults / sizeof s_defaults[0]; i++)
        if (strcmp (s_defaults[i].program, program) == 0)
            return s_defaults[i].address;
    *off = 1;
    return NULL;
}

static char *
s_response (int status, const char *reason, const char *extra_headers, const char *content_type,
            const char *body, size_t body_len, size_t *out_len)
{
    char head[512];
    int n =
        snprintf (head, sizeof head,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                  status, reason, content_type, body_len, extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof head)
        return NULL;
    char *out = malloc ((size_t)n + body_len + 1);
    if (!out)
        return NULL;
    memcpy (out, head, (size_t)n);
    memcpy (out + n, body, body_len);
    out[(size_t)n + body_len] = '\0';
    *out_len = (size_t)n + body_len;
    return out;
}

static char *
s_error (int status, const char *reason, const char *extra, size_t *out_len)
{
    char body[64];
    int n = snprintf (body, sizeof body, "%d %s\n", status, reason);
    return s_response (status, reason, extra, "text/plain; charset=utf-8", body, (size_t)n, out_len);
}

char *
metrics_http_answer (const char *request, size_t len, size_t *out_len)
{
    //  RFC 9112 §2.2: a server may ignore empty lines before the request line.
    const char *end = NULL;
    for (size_t i = 0; i + 3 < len; i++)
        if (memcmp (request + i, "\r\n\r\n", 4) == 0) {
            end = request + i;
            break;
        }
    if (!end) {
        for (size_t i = 0; i + 1 < len; i++)
            if (memcmp (request + i, "\n\n", 2) == 0) {
                end = request + i;
                break;
            }
    }
    if (!end)
        return len >= METRICS_HTTP_MAX_REQUEST ? s_error (400, "Bad Request", NULL, out_len) : NULL;
    //  The request line: METHOD SP TARGET SP HTTP/1.x (RFC 9112 §3).
    //  end is the first byte of the blank line's "\r\n\r\n" or "\n\n": the
    //  request line's own line break is within the next two bytes.
    size_t head_len = (size_t)(end - request) + 2 <= len ? (size_t)(end - request) + 2 : len;
    const char *line_end = memchr (request, '\n', head_len);
    size_t line_len = line_end ? (size_t)(line_end - request) : 0;
    if (line_len && request[line_len - 1] == '\r')
        line_len--;
    char line[1024];
    if (line_len == 0 || line_len >= sizeof line)
        return s_error (400, "Bad Request", NULL, out_len);
    memcpy (line, request, line_len);
    line[line_len] = '\0';
    char *sp1 = strchr (line, ' ');
    char *sp2 = sp1 ? strchr (sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strchr (sp2 + 1, ' ') ||
        strncmp (sp2 + 1, "HTTP/1.", 7) != 0)
        return s_error (400, "Bad Request", NULL, out_len);
    *sp1 = '\0';
    *sp2 = '\0';
    const char *method = line, *target = sp1 + 1;
    size_t path_len = strcspn (target, "?");
    if (path_len != strlen ("/metrics") || strncmp (target, "/metrics", path_len) != 0)
        return s_error (404, "Not Found", NULL, out_len);
    if (strcmp (method, "GET") != 0)
        return s_error (405, "Method Not Allowed", "Allow: GET\r\n", out_len);
    size_t body_len = 0;
    char *body = metrics_render (&body_len);
    if (!body)
        return s_error (500, "Internal Server Error", NULL, out_len);
    char *out =
        s_response (200, "OK", NULL, "text/plain; version=0.0.4; charset=utf-8", body, body_len, out_len);
    free (body);
    return out;
}

//  Reads one request within the time limit and answers it.
static void
s_serve (int fd)
{
    char buf[METRICS_HTTP_MAX_REQUEST];
    size_t len = 0;
    int64_t deadline = zclock_mono () + METRICS_HTTP_TIMEOUT_MS;
    char *answer = NULL;
    size_t answer_len = 0;
    while (!answer) {
        int64_t left = deadline - zclock_mono ();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll (&p, 1, (int)left) <= 0)
            return;
        ssize_t n = recv (fd, buf + len, sizeof buf - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        answer = metrics_http_answer (buf, len, &answer_len);
        if (!answer && len >= sizeof buf)
            return;
    }
    size_t sent = 0;
    while (sent < answer_len) {
        int64_t left = deadline - zclock_mono ();
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (left <= 0 || poll (&p, 1, (int)left) <= 0)
            break;
        ssize_t n = send (fd, answer + sent, answer_len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    free (answer);
}

static void *
s_thread (void *arg)
{
    metrics_http_t *self = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = self->fd, .events = POLLIN}, {.fd = self->wake[0], .events = POLLIN}};
        if (poll (p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4 (self->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        s_serve (fd);
        close (fd);
    }
    return NULL;
}

metrics_http_t *
metrics_http_new (const char *address, const char **why)
{
    *why = "OSTIARY_METRICS_LISTEN must be host:port";
    char host[256];
    const char *colon = address ? strrchr (address, ':') : NULL;
    if (!colon || colon == address || (size_t)(colon - address) >= sizeof host)
        return NULL;
    memcpy (host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    //  [::1]:9464
    char *h = host;
    size_t hl = strlen (h);
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    char *endp;
    long port = strtol (colon + 1, &endp, 10);
    if (!colon[1] || *endp || port < 0 || port > 65535)
        return NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    if (getaddrinfo (h, colon + 1, &hints, &res) != 0 || !res) {
        *why = "OSTIARY_METRICS_LISTEN: cannot resolve the host";
        return NULL;
    }
    metrics_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        freeaddrinfo (res);
        *why = "out of memory";
        return NULL;
    }
    self->fd = socket (res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (self->fd >= 0)
        setsockopt (self->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (self->fd < 0 || bind (self->fd, res->ai_addr, res->ai_addrlen) != 0 || listen (self->fd, 16) != 0) {
        *why = "cannot listen on OSTIARY_METRICS_LISTEN (in use?)";
        freeaddrinfo (res);
        if (self->fd >= 0)
            close (self->fd);
        free (self);
        return NULL;
    }
    freeaddrinfo (res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname (self->fd, (struct sockaddr *)&ss, &sl) == 0)
        self->port = ss.ss_family == AF_INET6 ? ntohs (((struct sockaddr_in6 *)&ss)->sin6_port)
                                              : ntohs (((struct sockaddr_in *)&ss)->sin_port);
    if (pipe2 (self->wake, O_CLOEXEC) != 0) {
        close (self->fd);
        free (self);
        *why = "cannot create a pipe";
        return NULL;
    }
    if (pthread_create (&self->thread, NULL, s_thread, self) != 0) {
        close (self->fd);
        close (self->wake[0]);
        close (self->wake[1]);
        free (self);
        *why = "cannot start the metrics thread";
        return NULL;
    }
    *why = NULL;
    return self;
}

metrics_http_t *
metrics_http_start (const char *listen, const char *program, unsigned process, int *failed)
{
    metrics_init (process);
    *failed = 0;
    int off = 0;
    const char *address = metrics_http_address (listen, program, &off);
    if (off) {
        log_info ("%s: no metrics listener (OSTIARY_METRICS_LISTEN=off)", program);
        return NULL;
    }
    const char *why = NULL;
    metrics_http_t *self = metrics_http_new (address, &why);
    if (!self) {
        fprintf (stderr, "%s: %s\n", program, why);
        *failed = 1;
        return NULL;
    }
    log_info ("%s: metrics on http://%s/metrics (port %d)", program, address, self->port);
    return self;
}

int
metrics_http_port (metrics_http_t *self)
{
    return self ? self->port : 0;
}

void
metrics_http_destroy (metrics_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    metrics_http_t *self = *self_p;
    char byte = 0;
    if (write (self->wake[1], &byte, 1) != 1)
        log_warn ("metrics: cannot wake the listener thread");
    pthread_join (self->thread, NULL);
    close (self->fd);
    close (self->wake[0]);
    close (self->wake[1]);
    free (self);
    *self_p = NULL;
}
