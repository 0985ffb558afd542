/*  token-svc operations: the static op → handler table of the service. The
 *  handlers live in one file per family (see token_ops.h). */
#include "token_ops.h"
#include "service.h"
#include "token_settings.h"
#include "token_store.h"

#include <unistd.h>

//  token.health: the worker thread can reach its database.
static int
s_health (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    if (token_store_ping (thread->db)) {
        bus_req_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the token database is not reachable");
        return -1;
    }
    //  The instance lets operators and tests see which replica answered.
    char host[64] = "";
    gethostname (host, sizeof host - 1);
    *result = json_pack ("{s:s,s:s,s:i}", "status", "ok", "host", host, "pid", (int)getpid ());
    return 0;
}

const bus_route_t token_routes[] = {
    {"token.health", s_health},
    {"token.client_add", token_op_client_add},
    {"token.client_list", token_op_client_list},
    {"token.web_origins", token_op_web_origins},
    {"token.client_get", token_op_client_get},
    {"token.client_remove", token_op_client_remove},
    {"token.client_rotate_secret", token_op_client_rotate_secret},
    {"token.client_update", token_op_client_update},
    {"token.settings_list", token_op_settings_list},
    {"token.admin_check", token_op_admin_check},
    {"token.admin_call", token_op_admin_call},
    {"token.settings_set", token_op_settings_set},
    {"token.authorize", token_op_authorize},
    {"token.request_get", token_op_request_get},
    {"token.authorize_error", token_op_authorize_error},
    {"token.consent_check", token_op_consent_check},
    {"token.issue_code", token_op_issue_code},
    {"token.exchange", token_op_exchange},
    {"token.userinfo", token_op_userinfo},
    {"token.revoke", token_op_revoke},
    {"token.subject_revoke", token_op_subject_revoke},
    {"token.grant_list", token_op_grant_list},
    {"token.grant_revoke", token_op_grant_revoke},
    {"token.introspect", token_op_introspect},
    {"token.logout_check", token_op_logout_check},
    {"token.logout_tokens", token_op_logout_tokens},
    {"token.frontchannel_frames", token_op_frontchannel_frames},
    {"token.audit_list", token_op_audit_list},
    {"token.audit_refusals", token_op_audit_refusals},
};
const size_t token_nroutes = sizeof token_routes / sizeof token_routes[0];
