/*  webhook - the outside systems flows may call, loaded once from the JSON
 *  file OSTIARY_WEBHOOKS_FILE (webhook URLs come from configuration only,
 *  never from requests), and the signed HTTP POST that calls them.
 *
 *  File: {"hooks": {"<name>": {"url": "https://…", "secret": "…",
 *          "mode": "sync"|"async", "timeout_ms": 5000, "retries": 2}}}
 *
 *  Every POST carries `Ostiary-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
 *  "<t>.<body>")>` so the receiver can check origin and freshness. Redirects
 *  are never followed, proxies from the environment are ignored, and the host
 *  is resolved before each call: loopback, private (RFC 1918), link-local,
 *  CGNAT (RFC 6598), unique-local (RFC 4193) and unspecified addresses are
 *  refused unless allow_private; the checked address is pinned for the
 *  connection so that DNS cannot change between check and connect. */
#ifndef FLOW_WEBHOOK_H
#define FLOW_WEBHOOK_H

#include "ost.h"
#include <jansson.h>
#include <stddef.h>

typedef struct _webhooks_t webhooks_t;
typedef struct _webhook_t webhook_t;

//  Largest answer body a hook may send (64 KiB).
#define WEBHOOK_MAX_ANSWER (64 * 1024)

//  Loads the hooks of path ("" or NULL → an empty set). NULL on error, with
//  the reason (file, hook, member) written into err.
webhooks_t *webhooks_load (const char *path, int allow_private, char *err, size_t errlen);
void webhooks_destroy (webhooks_t **self_p);
//  The hook called name, or NULL.
const webhook_t *webhooks_find (const webhooks_t *self, const char *name);
//  1 when the hook is "async" (the flow waits for a callback), 0 for "sync".
int webhook_is_async (const webhook_t *hook);
const char *webhook_name (const webhook_t *hook);
//  Attempts after the first that the hook allows.
int webhook_retries (const webhook_t *hook);

//  The synchronous call the engine makes: POSTs payload as JSON, signed,
//  retrying (up to the hook's retries, short backoff) on connection errors
//  and 5xx. 0 on a 2xx answer: *answer gets the answer's JSON (an empty body
//  gives an empty object; at most WEBHOOK_MAX_ANSWER bytes); -1 otherwise
//  (refused address, timeout, non-2xx, bad JSON), with *answer NULL.
int webhook_call (const webhook_t *hook, const json_t *payload, json_t **answer);

//  One attempt, for the outbox's asynchronous deliveries: POSTs body (len
//  bytes of JSON), signed; the answer is read (bounded) and dropped. 0 on a
//  2xx answer, 1 on a failure worth retrying (connection error, timeout,
//  5xx, 429), -1 on a permanent one (refused address, other status).
int webhook_post (const webhook_t *hook, const char *body, size_t len);

//  One attempt to POST body (len bytes of content_type) to url, a URL that
//  is not a configured hook (a client's backchannel_logout_uri), under the
//  same rules as the hooks: http or https only, no credentials in the URL,
//  the address checked (loopback, private, link-local, … refused unless
//  allow_private) and pinned, no redirect followed, no proxy, timeout_ms
//  for the whole call; no Ostiary-Signature (there is no shared secret).
//  name labels the log lines. 0 on 2xx, 1 worth retrying (connection error,
//  timeout, 5xx, 429), -1 permanent (a URL or address refused, another status).
int webhook_post_url (const char *name, const char *url, int allow_private, long timeout_ms,
                      const char *content_type, const char *body, size_t len);

#endif
