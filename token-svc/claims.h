/*  claims - the claims request parameter (OpenID Connect Core §5.5) and
 *  the acr of an authentication (§2, §3.1.2.1 acr_values, §5.5.1.1).
 *
 *  claims_parse checks the parameter and normalises it into
 *      {"userinfo": [names], "id_token": [names],
 *       "acr": {"essential": bool, "values": [strings]}}
 *  ("acr" only when id_token asks for acr with a value or values), which
 *  is what the request, its code and its refresh family store. Claim
 *  names are kept whether Ostiary knows them or not: flow-svc releases
 *  only those of its scope table the user has (§5.5: claims that are not
 *  understood are ignored). */
#ifndef OST_TOKEN_CLAIMS_H
#define OST_TOKEN_CLAIMS_H

#include "ost.h"

#include <jansson.h>

//  Bounds on what the browser controls.
#define CLAIMS_TEXT_MAX 4096 //  the parameter, in bytes
#define CLAIMS_NAMES_MAX 32  //  names in userinfo or in id_token
#define CLAIMS_NAME_MAX 64   //  bytes of one claim name
#define CLAIMS_VALUES_MAX 8  //  entries of a values array
#define CLAIMS_VALUE_MAX 256 //  bytes of one string value

//  The normalised claims of the parameter's text, or NULL with *problem
//  set to a description for invalid_request.
OST_WUR json_t *claims_parse (const char *text, const char **problem);

//  The names a normalised claims object asks for in member ("userinfo" or
//  "id_token"); NULL when it asks none (or claims is NULL). Borrowed.
const json_t *claims_names (const json_t *claims, const char *member);

//  The user claims that normalised claims (may be NULL) ask for one by one
//  (userinfo or id_token) and that no scope of scopes requests: those of
//  common/claims.def that flow-svc can release, in its order, each once.
//  NULL when there are none (or out of memory); the caller decrefs.
json_t *claims_beyond_scopes (const json_t *claims, const json_t *scopes);

//  OpenID Connect Core §2, §3.1.2.1, §5.5.1.1: the acr of an authentication
//  with methods amr, for a request with acr_values (space-delimited, may
//  be NULL) and normalised claims (may be NULL). The first requested value
//  the session meets; without one, the strongest acr the session meets.
//  Returns the acr (static), or NULL when claims asked for an essential acr
//  the session does not meet.
const char *claims_acr (const json_t *amr, const char *acr_values, const json_t *claims);

#endif
