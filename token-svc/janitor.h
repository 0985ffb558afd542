/*  janitor - token-svc's housekeeping thread: deletes, in small batches,
 *  the rows that can no longer matter (expired authorization requests and
 *  codes, revocations of expired tokens, dead refresh families with their
 *  tokens), so that schema token does not grow without bound. One replica
 *  works at a time: a round runs only under a PostgreSQL session advisory
 *  lock taken with pg_try_advisory_lock (the others skip that round). */
#ifndef TOKEN_JANITOR_H
#define TOKEN_JANITOR_H

#include "config.h"

typedef struct _token_janitor_t token_janitor_t;

//  Starts the thread, with its own database connection (made, and remade
//  after a failure, by the thread itself). NULL when it cannot start.
token_janitor_t *token_janitor_new (const config_t *cfg);
//  Rounds finished so far (the first one starts at once).
long token_janitor_rounds (token_janitor_t *self);
//  Stops and joins the thread. Idempotent.
void token_janitor_destroy (token_janitor_t **self_p);

#endif
