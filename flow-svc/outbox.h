/*  outbox - email and webhook deliveries queued in the transaction of the
 *  flow step that needs them (so a rolled-back step sends nothing) and
 *  delivered by a background thread of each flow-svc (so a crash loses
 *  nothing). Payloads are sealed (AES-256-GCM, seal.h) under a key derived
 *  from the flow key with label "outbox", bound to the row's id and kind
 *  (AAD "outbox:<id>:<kind>"); a sent row keeps no payload. Each email has
 *  Message-ID <outbox-<id>@<domain of OSTIARY_SMTP_FROM>>, the same on every
 *  attempt and replica. See docs/flows.md "Outbox". */
#ifndef FLOW_OUTBOX_H
#define FLOW_OUTBOX_H

#include "bus_curve.h"
#include "config.h"
#include "db.h"
#include "flow_app.h"
#include "ost.h"

#include <jansson.h>
#include <stdint.h>

typedef struct _outbox_t outbox_t;

//  Queues an email to `to` (one address, ≤ 254 bytes, no CR/LF) with a
//  subject (≤ 200 bytes, one line) and a UTF-8 text body (≤ 64 KiB), in the
//  caller's open transaction. execution_id may be 0 (none). DB_ERROR on bad
//  input (logged, without the text).
OST_WUR db_status_t outbox_email (db_t *db, const flow_app_t *app, int64_t execution_id, const char *to,
                                  const char *subject, const char *text);
//  Queues a POST of payload to the hook named `hook` (of app->webhooks), in
//  the caller's open transaction. DB_ERROR on an unknown hook or bad input.
OST_WUR db_status_t outbox_webhook (db_t *db, const flow_app_t *app, int64_t execution_id, const char *hook,
                                    const json_t *payload);

//  Queues the back-channel logout (Back-Channel Logout 1.0 §2.5) of one
//  client of an ended session, in the caller's open transaction (the one
//  that ended it). At delivery the outbox asks token-svc
//  (token.logout_tokens) for a logout token signed then, for sub and sid,
//  and POSTs logout_token=<token> to the client's backchannel_logout_uri,
//  retried up to OSTIARY_OUTBOX_RETRIES under the webhooks' address rules
//  (OSTIARY_WEBHOOK_ALLOW_PRIVATE); a client without a URI has nothing to
//  deliver. reason (rp_initiated, account, password, disabled, expired) is
//  kept for the logs. DB_ERROR on bad input.
OST_WUR db_status_t outbox_backchannel (db_t *db, const flow_app_t *app, const char *sub, const char *sid,
                                        const char *client_id, const char *reason);

//  Starts the delivery thread with its own connection to cfg->db. It polls
//  every OSTIARY_OUTBOX_POLL_MS, claims due rows FOR UPDATE SKIP LOCKED (so
//  replicas share the work), delivers them, and marks each sent or schedules
//  its retry (exponential backoff, OSTIARY_OUTBOX_RETRIES) or gives it up as
//  'dead'. The thread calls token-svc over its own bus client (curve: the
//  process's CURVE key, NULL for plain). cfg, app and curve must outlive
//  the outbox. NULL on failure (logged).
outbox_t *outbox_start (const config_t *cfg, const flow_app_t *app, const bus_curve_t *curve);
//  Stops the thread (waits for the delivery under way) and frees. Idempotent.
void outbox_stop (outbox_t **self_p);

//  1 when `to` is an address the outbox can send to as is: printable ASCII
//  without the characters that would end or extend it (no SMTPUTF8, no quoted
//  local parts), 3 to OUTBOX_MAX_TO bytes. Nodes check it before queueing.
int outbox_address_ok (const char *to);

#endif
