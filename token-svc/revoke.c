/*  revoke - token.revoke: token revocation (RFC 7009).
 *
 *  A refresh token revokes its family: every refresh token of it and every
 *  access token it issued (RFC 7009 §2.1: "If the token passed to the
 *  request is a refresh token and the authorization server supports the
 *  revocation of access tokens, then the authorization server SHOULD also
 *  invalidate all access tokens based on the same authorization grant").
 *  An access token's jti is listed in revoked_jtis until it expires. Both
 *  live in the database, which /userinfo and /introspect read on every
 *  replica: revocation is visible at once everywhere (no cache can hide it:
 *  there is none). An unknown token, or another client's, changes nothing
 *  and still answers 200 (§2.2); database or signing-key trouble fails the
 *  request (503), so a 200 always means it happened.
 *
 *  token.subject_revoke ends everything a user was issued (flow-svc calls it
 *  when it disables the user): their families and the access tokens those
 *  and their code exchanges issued, in one transaction, and a marker that
 *  refuses every code and family authenticated before it
 *  (migrations/token/005). */
#include "clients.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "service.h"
#include "token_app.h"
#include "token_jwks.h"
#include "token_ops.h"
#include "token_util.h"

#include <string.h>

#define DESC_DEADLINE "the request deadline passed"

//  The token_revoked audit event of a revocation by client of a token of
//  sub (RFC 7009); kind says which kind of token it was.
static db_status_t
s_audit (bus_req_t *req, db_t *db, const token_client_t *client, const char *sub, const char *kind)
{
    const token_revoke_in_t *in = BUS_IN (req, token_revoke);
    json_t *details = json_pack ("{s:s}", "kind", kind);
    db_status_t st = details ? token_store_audit (db, &(audit_record_t){.event = AUDIT_EV_token_revoked,
                                                                        .outcome = AUDIT_SUCCESS,
                                                                        .actor = "client",
                                                                        .subject = sub,
                                                                        .client_id = client->client_id,
                                                                        .address = in->client_ip,
                                                                        .details = details})
                             : DB_ERROR;
    json_decref (details);
    return st;
}

//  The refresh kind. 1 revoked, 0 not ours or not this client's, -1 failed.
static int
s_refresh (bus_req_t *req, const token_client_t *client, const char *token)
{
    service_thread_t *thread = req->thread_state;
    token_refresh_t r;
    int found = lifecycle_refresh_token (req, token, &r);
    if (found <= 0)
        return found;
    //  RFC 7009 §2.1: "the authorization server ... verifies whether the
    //  token was issued to the client making the revocation request. If
    //  this validation fails, the request is refused" — and §2.2 answers
    //  200 all the same, so nothing tells the caller the token exists.
    int rc = 0;
    if (strcmp (r.client_id, client->client_id) == 0) {
        if (bus_req_expired (req)) {
            token_refresh_clear (&r);
            return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
        }
        int n = 0;
        db_status_t st = db_begin (thread->db);
        if (st == DB_OK)
            st = token_store_family_revoke (thread->db, r.family_id, "revoked", &n);
        if (st == DB_OK)
            st = s_audit (req, thread->db, client, r.sub, "refresh_token");
        if (st == DB_OK)
            st = db_commit (thread->db);
        if (st != DB_OK) {
            db_rollback (thread->db);
            rc = tu_db_fail (req, st);
        } else {
            rc = 1;
            log_info ("revoke: family %lld of client %s revoked", (long long)r.family_id, client->client_id);
        }
    }
    token_refresh_clear (&r);
    return rc;
}

//  The access kind. 1 revoked, 0 not ours or not this client's, -1 failed.
static int
s_access (bus_req_t *req, const token_client_t *client, const char *token)
{
    service_thread_t *thread = req->thread_state;
    jws_parts_t *parts = NULL;
    int found = lifecycle_access_token (req, token, &parts);
    if (found <= 0)
        return found;
    const json_t *claims = parts->claims;
    const char *jti = json_string_value (json_object_get (claims, "jti"));
    const char *owner = json_string_value (json_object_get (claims, "client_id"));
    json_int_t exp = json_integer_value (json_object_get (claims, "exp"));
    int rc = 0;
    //  An expired token needs no listing; another client's is left alone.
    if (strcmp (owner, client->client_id) == 0 && exp > tu_now ()) {
        int added = 0;
        db_status_t st;
        if (bus_req_expired (req))
            rc = tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
        else if ((st = token_store_jti_revoke (thread->db, jti, exp, "revoked", &added)) != DB_OK)
            rc = tu_db_fail (req, st);
        else {
            rc = 1;
            const char *sub = json_string_value (json_object_get (claims, "sub"));
            if (added && s_audit (req, thread->db, client, sub, "access_token") != DB_OK)
                log_error ("revoke: the token_revoked audit event was not written");
        }
    }
    jws_parts_destroy (&parts);
    return rc;
}

int
token_op_revoke (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_revoke_in_t *in = BUS_IN (req, token_revoke);
    OST_UNUSED (body);
    const json_t *form = in->form;
    //  RFC 7009 §2.1: the client authenticates as at the token endpoint
    //  (a public client names itself).
    token_client_t client;
    if (clients_authenticate (req, form, in->basic, &client))
        return -1;
    const char *token = NULL;
    int refresh_first = 1;
    int rc = lifecycle_token (req, form, &token, &refresh_first);
    int revoked = 0;
    //  The hint picks the order; the other kind is tried too (§2.1: "If
    //  the server is unable to locate the token using the given hint, it
    //  MUST extend its search across all of its supported token types").
    for (int k = 0; rc == 0 && token && k < 2 && !revoked; k++) {
        int is_refresh = (k == 0) == refresh_first;
        int r = is_refresh ? s_refresh (req, &client, token) : s_access (req, &client, token);
        if (r < 0)
            rc = -1;
        else
            revoked = r;
        if (r > 0)
            metrics_inc (METRIC_REVOCATIONS, METRICS_L (is_refresh ? "refresh_token" : "access_token"));
    }
    token_client_clear (&client);
    if (rc)
        return -1;
    *result = json_pack ("{s:b}", "revoked", revoked);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}

static int
s_reason_valid (const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return 0;
    return 1;
}

int
token_op_subject_revoke (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_subject_revoke_in_t *in = BUS_IN (req, token_subject_revoke);
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    const char *sub = in->sub;
    const char *reason = in->reason ? in->reason : "user_disabled";
    if (!s_reason_valid (reason))
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "reason must be 1 to 32 of a-z and _");
    //  Only ever takes access away, but a caller past its deadline has its
    //  answer already: it will ask again (the op is idempotent).
    if (bus_req_expired (req))
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
    int families = 0, tokens = 0;
    db_status_t st = token_store_subject_revoke (thread->db, sub, reason, &families, &tokens);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    log_info ("subject revoked (%s): %d refresh families and %d access tokens", reason, families, tokens);
    *result = json_pack ("{s:i, s:i}", "families", families, "access_tokens", tokens);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}
