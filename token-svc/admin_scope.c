/*  admin_scope - who may be issued the admin scope. See admin_scope.h. */
#include "admin_scope.h"

#include "log.h"
#include "ops.h"
#include "service.h"
#include "token_util.h"

#include <string.h>

int
admin_scope_client (const token_app_t *app, const char *client_id)
{
    return app->admin_client_id[0] && client_id && strcmp (client_id, app->admin_client_id) == 0;
}

int
admin_scope_user (bus_req_t *req, const char *sub)
{
    service_thread_t *thread = req->thread_state;
    flow_user_roles_in_t in = {.sub = sub};
    json_t *body = flow_user_roles_in_pack (&in);
    json_t *res = NULL;
    bus_error_t error;
    int rc = body ? bus_client_call (thread->bus, "flow.user_roles", body, 2000, &res, &error) : -1;
    json_decref (body);
    flow_user_roles_out_t out;
    char why[SCHEMA_WHY_MAX];
    int admin = 0;
    if (rc != 0)
        log_warn ("flow.user_roles failed (%s): the admin scope is not granted",
                  body ? error.code : "no memory");
    else if (flow_user_roles_out_unpack (res, &out, why, sizeof why) != 0)
        log_error ("flow.user_roles answered a result outside proto/ops.def: %s", why);
    else
        admin = out.admin;
    json_decref (res);
    return admin;
}

int
admin_scope_filter (bus_req_t *req, const char *client_id, const char *sub, json_t *scopes)
{
    const token_app_t *app = req->app;
    size_t i;
    json_t *v;
    json_array_foreach (scopes, i, v)
    {
        if (strcmp (json_string_value (v), ADMIN_SCOPE) != 0)
            continue;
        if (admin_scope_client (app, client_id) && admin_scope_user (req, sub))
            return 0;
        log_info ("the admin scope is not granted: %s", admin_scope_client (app, client_id)
                                                            ? "the user does not hold the admin role"
                                                            : "not the admin client");
        return json_array_remove (scopes, i);
    }
    return 0;
}
