/*  flow_janitor - flow-svc's housekeeping thread (common/housekeeper.h):
 *  marks executions whose time ran out `expired` and deletes expired action
 *  tokens (so that no request has to), queues the back-channel logout of
 *  each login session that expired (Back-Channel Logout 1.0: the clients
 *  it served are told once, in the transaction that marks it told), and
 *  deletes, in small batches, what can
 *  no longer matter once OSTIARY_FLOW_RETENTION has passed: finished
 *  executions past their own expiry too (a login finished through a link
 *  keeps its session for the browser until then; action tokens go with
 *  them), ended login sessions, and
 *  outbox rows that were delivered or gave up (their payload was erased
 *  already). Users, TOTP secrets, recovery codes, lockout counters and audit
 *  events are never its business. One replica works at a time (a PostgreSQL
 *  advisory lock); the others skip that round. */
#ifndef FLOW_JANITOR_H
#define FLOW_JANITOR_H

#include "config.h"
#include "flow_app.h"

typedef struct _flow_janitor_t flow_janitor_t;

//  Starts the thread (OSTIARY_JANITOR_INTERVAL, OSTIARY_JANITOR_BATCH,
//  OSTIARY_FLOW_RETENTION), with its own database connection. app (its
//  flow key seals the outbox rows of expired sessions) must outlive it.
//  NULL when it cannot start.
flow_janitor_t *flow_janitor_new (const config_t *cfg, const flow_app_t *app);
//  Rounds finished so far (successful or not).
long flow_janitor_rounds (flow_janitor_t *self);
//  Stops and joins the thread. Idempotent.
void flow_janitor_destroy (flow_janitor_t **self_p);

#endif
