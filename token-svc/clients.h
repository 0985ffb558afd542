/*  clients - registered OAuth clients: what the other families need of
 *  them (the public view, PKCE policy, secret verification). The token.client_*
 *  handlers are in token_ops.h. */
#ifndef TOKEN_CLIENTS_H
#define TOKEN_CLIENTS_H

#include "bus_worker.h"
#include "token_app.h"
#include "token_store.h"

#include <jansson.h>

//  The client object (shape client of proto/ops/token.def): never the secret
//  nor its hash.
json_t *clients_view (db_t *db, const token_client_t *client);
//  RFC 7636, RFC 9700 §2.1.1: 1 when the client must send a code_challenge:
//  always for public clients, else its own choice or, when it made none, the
//  runtime setting pkce_required (common/settings.def; db reads it at most
//  every few seconds).
int clients_pkce_required (db_t *db, const token_client_t *client);
//  The JWS algorithm of the client's access tokens: its own choice,
//  else OSTIARY_ACCESS_TOKEN_ALG.
const char *clients_access_token_alg (const token_app_t *app, const token_client_t *client);
//  The lifetimes of the client's access and ID tokens in seconds: its own,
//  else OSTIARY_ACCESS_TOKEN_TTL and OSTIARY_ID_TOKEN_TTL.
long clients_access_token_ttl (const token_app_t *app, const token_client_t *client);
long clients_id_token_ttl (const token_app_t *app, const token_client_t *client);
//  1 when secret is the client's secret, or its previous one during the
//  overlap of a rotation: its HMAC-SHA256 under the server key
//  compared in constant time with the stored one. A client without a secret
//  (or secret NULL) never matches; the HMAC is computed anyway so that the
//  time taken does not tell the two cases apart.
int clients_secret_matches (const token_app_t *app, const token_client_t *client, const char *secret);

//  RFC 6749 §2.3.1, §3.2.1: authenticates the client of a request to the
//  token, revocation or introspection endpoint (the form and basic members
//  of proto/ops/token.def; basic NULL when absent) with exactly one method,
//  the one it registered. 0 with *client loaded (token_client_clear it), -1
//  after failing req (invalid_client, or invalid_request for two methods at
//  once).
int clients_authenticate (bus_req_t *req, const json_t *form, const json_t *basic, token_client_t *client);

#endif
