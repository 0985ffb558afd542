/*  token_util - small helpers the token-svc handlers share: bounded reads of
 *  members of the objects a handler reads itself, scope lists (RFC 6749 §3.3), hashing of handles, the
 *  time left before a request's deadline. */
#ifndef TOKEN_UTIL_H
#define TOKEN_UTIL_H

#include "bus_worker.h"
#include "db.h"
#include "ost.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

//  The outcome of reading an optional member.
typedef enum { TU_BAD = -1, TU_ABSENT = 0, TU_OK = 1 } tu_get_t;

//  Reads member name of obj as a string of at most max bytes. TU_ABSENT when
//  missing (or JSON null); TU_BAD when not a string, longer than max, or
//  holding a NUL byte (which would cut it short in C). For what proto/ops.def
//  leaves to the handler: the parameters and forms of browsers and HTTP
//  clients (OBJ and MAP members), and the claims of a verified JWT; the
//  members of a request body are read from its typed struct (BUS_IN).
tu_get_t tu_string (const json_t *obj, const char *name, size_t max, const char **out);

//  Records the error and returns -1, for `return tu_fail (...)` in handlers.
int tu_fail (bus_req_t *req, ost_err_t err, const char *description);

//  Fails the request for a storage status other than DB_OK: unavailable and
//  retry become temporarily_unavailable, anything else server_error.
int tu_db_fail (bus_req_t *req, db_status_t st);

//  The redirect R (shape redirect of proto/ops/token.def): {"redirect_uri", "response_mode",
//  "params"}, where params (stolen, an object holding code or error and
//  error_description) gets state (when not NULL, byte for byte) and iss
//  (RFC 9207 §2: in every authorization response, success or error).
//  NULL on allocation failure.
json_t *tu_redirect (const char *issuer, const char *redirect_uri, const char *response_mode,
                     const char *state, json_t *params);

//  SHA-256 of a NUL-terminated handle (request id, code).
void tu_sha256 (const char *text, unsigned char out[32]);

//  Milliseconds left before the request's deadline, minus a margin for our
//  own reply; 0 when none are left.
int tu_time_left_ms (const bus_req_t *req);
//  Seconds since the epoch, from CLOCK_REALTIME (never behind other
//  processes' reading of the same clock).
int64_t tu_now (void);

//  1 when every byte of s is visible ASCII (0x21-0x7e), or a space when
//  spaces is nonzero.
int tu_printable (const char *s, int spaces);

//  The scopes this provider knows (OpenID Connect Core §5.4, §11).
int tu_scope_known (const char *scope);
//  Splits a scope parameter (RFC 6749 §3.3: space-delimited scope-tokens of
//  %x21 / %x23-5B / %x5D-7E) into an array of distinct tokens, in order of
//  first appearance. NULL when the syntax is wrong or it is empty.
json_t *tu_scope_parse (const char *scope);
//  The tokens of an array joined by single spaces (free()), or NULL.
char *tu_scope_join (const json_t *scopes);
//  1 when array holds the string s.
int tu_has (const json_t *array, const char *s);
//  1 when every string of a is in b.
int tu_subset (const json_t *a, const json_t *b);
//  1 when uri is one of the registered redirect URIs: byte for byte, except
//  that for an http://127.0.0.1 or http://[::1] registration any port is
//  accepted (RFC 8252 §7.3), the rest staying exact. localhost and https
//  loopback URIs are compared exactly.
int tu_redirect_uri_registered (const json_t *registered, const char *uri);

#endif
