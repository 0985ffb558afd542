/*  user_grants - an operator's view of what a user granted: token.grant_list
 *  (per client, the consent and the refresh-token families) and
 *  token.grant_revoke (a client's families, the access tokens they issued
 *  and the consent, so that the client must ask the user again). */
#include "log.h"
#include "service.h"
#include "token_ops.h"
#include "token_store.h"
#include "token_util.h"

int
token_op_grant_list (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_grant_list_in_t *in = BUS_IN (req, token_grant_list);
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    json_t *grants = NULL;
    db_status_t st = token_store_grant_list (thread->db, in->sub, &grants);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    *result = json_pack ("{s:o}", "grants", grants);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}

int
token_op_grant_revoke (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_grant_revoke_in_t *in = BUS_IN (req, token_grant_revoke);
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    if (bus_req_expired (req))
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, "the request's deadline passed before the change");
    int families = 0, tokens = 0, consent = 0;
    db_status_t st = token_store_grant_revoke (
        thread->db, in->sub, in->client_id, req->actor ? req->actor : "admin", &families, &tokens, &consent);
    if (st == DB_NOT_FOUND)
        return tu_fail (req, OST_ERR_NOT_FOUND, "the user holds no grant to this client");
    if (st != DB_OK)
        return tu_db_fail (req, st);
    log_info ("grant revoked: %d refresh families and %d access tokens, consent %s", families, tokens,
              consent ? "withdrawn" : "none kept");
    *result =
        json_pack ("{s:i, s:i, s:b}", "families", families, "access_tokens", tokens, "consent", consent);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}
