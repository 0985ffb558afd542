/*  metrics_http - the metrics listener of a process (OSTIARY_METRICS_LISTEN):
 *  a tiny HTTP/1.1 responder on its own thread, apart from the public HTTP
 *  port, that answers GET /metrics with metrics_render () and nothing else
 *  (404 for another path, 405 for another method, 400 for a request that
 *  does not parse or does not fit in METRICS_HTTP_MAX_REQUEST bytes). One
 *  connection at a time, each closed after its answer; a client gets
 *  METRICS_HTTP_TIMEOUT_MS to send its request. */
#ifndef OST_METRICS_HTTP_H
#define OST_METRICS_HTTP_H

#include "metrics.h"
#include "ost.h"
#include <stddef.h>

#define METRICS_HTTP_MAX_REQUEST 8192
#define METRICS_HTTP_TIMEOUT_MS 2000

typedef struct _metrics_http_t metrics_http_t;

//  The address a process listens on: listen as configured ("" = the
//  process's default, "off" = none: returns NULL with *off set).
//  program is "gateway", "token-svc", "flow-svc" or "keys-svc".
const char *metrics_http_address (const char *listen, const char *program, int *off);

//  Binds HOST:PORT ([v6]:port too; port 0 picks a free one) and starts the
//  thread. NULL on a bad address or a failed bind, with the reason in *why
//  (a fixed string).
OST_WUR metrics_http_t *metrics_http_new (const char *address, const char **why);
//  What a process's main calls: metrics_init (process), then the listener
//  of OSTIARY_METRICS_LISTEN (listen) for program, logged. NULL with *failed
//  0 when it is off; NULL with *failed 1 (after a message on stderr) when it
//  cannot listen, which is a configuration error.
metrics_http_t *metrics_http_start (const char *listen, const char *program, unsigned process, int *failed);
//  The port bound.
int metrics_http_port (metrics_http_t *self);
//  Stops the thread and closes the socket. Idempotent.
void metrics_http_destroy (metrics_http_t **self_p);

//  The answer to one request (the bytes received so far, len of them): a new
//  string holding the whole HTTP response (caller frees, *out_len bytes), or
//  NULL while the request head is incomplete and may still fit. Exposed for
//  the unit tests.
OST_WUR char *metrics_http_answer (const char *request, size_t len, size_t *out_len);

#endif
