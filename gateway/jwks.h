/*  jwks - the gateway's cache of the public JWKS from keys-svc.
 *
 *  keys.jwks is asked at most once per OSTIARY_JWKS_MAX_AGE seconds, by one
 *  thread at a time; the answer is checked, serialized once and kept as an
 *  immutable, reference-counted snapshot that every request serves as is.
 *  When keys-svc is briefly away, the last snapshot is served stale; only
 *  when none was ever fetched do callers get an error. */
#ifndef OST_GW_JWKS_H
#define OST_GW_JWKS_H

#include "bus_client.h"
#include "http.h"
#include <jansson.h>

typedef struct _jwks_snap_t jwks_snap_t;

//  A cache whose entries are fresh for max_age seconds (0: every request asks).
jwks_cache_t *jwks_cache_new (int max_age);
void jwks_cache_destroy (jwks_cache_t **self_p);

//  The current snapshot, refreshed through req's bus client when it is older
//  than max_age. *max_age gets the seconds it stays fresh (what a client may
//  cache it for: never past the moment the gateway itself would refetch).
//  NULL with *error when there is no snapshot at all. Release with
//  jwks_snap_release.
jwks_snap_t *jwks_cache_get (jwks_cache_t *self, gw_req_t *req, int *max_age, bus_error_t *error);
void jwks_snap_release (jwks_snap_t **snap_p);

//  The JWKS as served (compact JSON).
const char *jwks_snap_bytes (const jwks_snap_t *snap, size_t *len);
//  The distinct "alg" values of the keys that can sign, in JWKS order (an
//  array of strings, owned by the snapshot).
const json_t *jwks_snap_algs (const jwks_snap_t *snap);

#endif
