/*  login - the pages between the login and the code: the consent page and
 *  the account chooser, each a GET that renders and a POST that acts (the
 *  login itself is a flow of flow-svc's engine: flow_pages.c).
 *
 *  Each page belongs to an execution of flow-svc named by the ostiary_flow
 *  cookie (HttpOnly, SameSite=Lax) and carries its CSRF token in a hidden
 *  field: flow-svc checks it on login; the gateway compares it (in constant
 *  time) for consent and account choice, which change nothing in flow-svc.
 *  What comes next is decided by token-svc and flow-svc answers
 *  (authorize.c); a failure here is an HTML page, never a redirect. */
#include "authorize.h"
#include "form.h"
#include "log.h"
#include "pages.h"
#include "routes.h"
#include "secure.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Fields of our forms: few and short; a password may be long-ish.
#define LOGIN_MAX_PARAMS 8
#define LOGIN_MAX_VALUE 1024
#define LOGIN_MAX_TOTAL 4096

//  What a page of a flow needs: the flow (flow.get) and its
//  authorization request (token.request_get).
typedef struct {
    char handle[PAGES_MAX_COOKIE + 1];
    json_t *flow;          //  flow.get reply (the state)
    json_t *request;       //  token.request_get reply
    flow_get_out_t state;  //  the flow, read from flow
    const char *bound_sid; //  the sid of the session the flow started with, or NULL
    shape_request_t q;     //  its request, read from request
    char form_action[512];
} s_ctx_t;

static void
s_ctx_free (s_ctx_t *ctx)
{
    json_decref (ctx->flow);
    json_decref (ctx->request);
    ctx->flow = ctx->request = NULL;
}

//  A result that does not fit its op's table (which the bus client has
//  checked already): logged, answered with an error page.
static int
s_unexpected (gw_req_t *req, const char *op, const char *why, pages_headers_t *headers)
{
    log_error ("%s answered something unexpected: %s", op, why);
    return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.unexpected"),
                        headers);
}

//  Loads the flow of the cookie, checks its purpose, and its request.
//  0, or -1 after answering.
static int
s_load (gw_req_t *req, s_ctx_t *ctx, const char *purpose, pages_headers_t *headers)
{
    memset (ctx, 0, sizeof *ctx);
    if (pages_get_cookie (req, COOKIE_FLOW, ctx->handle, sizeof ctx->handle) != 0) {
        pages_flow_expired (req, headers);
        return -1;
    }
    flow_get_in_t flow_in = {.flow = ctx->handle};
    json_t *body = flow_get_in_pack (&flow_in);
    int rc = pages_flow_call (req, "flow.get", body, &ctx->flow, headers);
    json_decref (body);
    if (rc != 0)
        return -1;
    char why[SCHEMA_WHY_MAX];
    shape_session_t bound;
    if (flow_get_out_unpack (ctx->flow, &ctx->state, why, sizeof why) != 0 ||
        (ctx->state.session && shape_session_unpack (ctx->state.session, &bound, why, sizeof why) != 0)) {
        s_ctx_free (ctx);
        s_unexpected (req, "flow.get", why, headers);
        return -1;
    }
    ctx->bound_sid = ctx->state.session ? bound.sid : NULL;
    const char *request_id = ctx->state.request_id;
    const char *flow_purpose = ctx->state.purpose;
    if (!request_id || !flow_purpose || strcmp (flow_purpose, purpose) != 0) {
        //  A flow of another page (the user went back, or opened another
        //  tab): this page cannot serve it.
        s_ctx_free (ctx);
        pages_flow_expired (req, headers);
        return -1;
    }
    token_request_get_in_t request_in = {.request_id = request_id};
    body = token_request_get_in_pack (&request_in);
    rc = pages_flow_call (req, "token.request_get", body, &ctx->request, headers);
    json_decref (body);
    if (rc != 0) {
        s_ctx_free (ctx);
        return -1;
    }
    token_request_get_out_t got;
    if (token_request_get_out_unpack (ctx->request, &got, why, sizeof why) != 0 ||
        shape_request_unpack (got.request, &ctx->q, why, sizeof why) != 0) {
        s_ctx_free (ctx);
        s_unexpected (req, "token.request_get", why, headers);
        return -1;
    }
    authz_form_action (&ctx->q, ctx->form_action, sizeof ctx->form_action);
    //  The language the flow started with (authz_start_flow), else the
    //  request's ui_locales.
    pages_use_lang (req, ctx->state.locale ? ctx->state.locale : ctx->q.ui_locales);
    return 0;
}

//  The POST of a page: its form, with the CSRF token compared to the
//  flow's. 0, or -1 after answering.
static int
s_check_csrf (gw_req_t *req, const s_ctx_t *ctx, const form_t *form, pages_headers_t *headers)
{
    const char *csrf = form_get (form, "csrf", 0);
    //  RFC 6749 §10.12: a form post without the token of this flow is
    //  refused; compared in constant time.
    if (!csrf || !secure_streq (csrf, ctx->state.csrf)) {
        pages_flow_expired (req, headers);
        return -1;
    }
    return 0;
}

static form_t *
s_read_form (gw_req_t *req)
{
    form_limits_t limits = {.max_total = LOGIN_MAX_TOTAL,
                            .max_params = LOGIN_MAX_PARAMS,
                            .max_name = 64,
                            .max_value = LOGIN_MAX_VALUE};
    return pages_read_html_form (req, &limits);
}

//  One line naming the client: LEAD <strong>name</strong> TAIL, either of
//  which may be empty.
static void
s_client_line (html_t *body, const gw_req_t *req, const shape_request_t *q, const char *key)
{
    html_raw (body, "<p class=\"client\">");
    html_text_with (body, pages_msg (req, key), "client", q->client_name, "strong");
    html_raw (body, "</p>\n");
}

//  For consent and account choice: the browser's session, which must be
//  the one the flow started with (when flow-svc says which). 1 with *reply
//  and *session (which lives in *reply), or -1 after answering.
static int
s_flow_session (gw_req_t *req, const s_ctx_t *ctx, char *handle, size_t size, json_t **reply,
                shape_session_t *session, pages_headers_t *headers)
{
    int has = authz_session (req, handle, size, reply, session, headers);
    if (has < 0)
        return -1;
    if (!has || (ctx->bound_sid && strcmp (ctx->bound_sid, session->sid) != 0)) {
        //  Logged out, or another login happened in another tab meanwhile.
        json_decref (*reply);
        *reply = NULL;
        pages_flow_expired (req, headers);
        return -1;
    }
    return 1;
}

//  ---------------------------------------------------------------------------
//  Consent

//  What each scope means to the user (OpenID Connect Core §5.4).
static const struct {
    const char *scope;
    const char *text; //  its message key
} s_scopes[] = {
    {"openid", "scope.openid"},   {"profile", "scope.profile"}, {"email", "scope.email"},
    {"address", "scope.address"}, {"phone", "scope.phone"},     {"offline_access", "scope.offline_access"},
};

static int
s_render_consent (gw_req_t *req, const s_ctx_t *ctx, const shape_session_t *session, pages_headers_t *headers)
{
    html_t body;
    html_init (&body);
    pages_open (&body, req, NULL, pages_msg (req, "consent.title"));
    s_client_line (&body, req, &ctx->q, "consent.wants");
    html_raw (&body, "<ul class=\"scopes\">\n");
    size_t i;
    json_t *scope;
    json_array_foreach (ctx->q.scopes, i, scope)
    {
        const char *name = json_string_value (scope);
        const char *text = NULL;
        for (size_t k = 0; k < sizeof s_scopes / sizeof s_scopes[0]; k++)
            if (strcmp (s_scopes[k].scope, name) == 0)
                text = s_scopes[k].text;
        html_raw (&body, "<li>");
        html_text (&body, pages_msg (req, text ? text : "scope.other"));
        html_raw (&body, " <small>(<code>");
        html_text (&body, name);
        html_raw (&body, "</code>)</small></li>\n");
    }
    html_raw (&body, "</ul>\n");
    //  OpenID Connect Core §5.5: claims the client asks for one by one,
    //  which no scope above covers, are released too: the user sees them.
    if (json_array_size (ctx->q.claims) > 0) {
        html_raw (&body, "<p>");
        html_text (&body, pages_msg (req, "consent.claims"));
        html_raw (&body, "</p>\n<ul class=\"claims\">\n");
        json_t *claim;
        json_array_foreach (ctx->q.claims, i, claim)
        {
            const char *name = json_string_value (claim);
            char key[80];
            snprintf (key, sizeof key, "claim.%s", name);
            html_raw (&body, "<li>");
            html_text (&body, pages_msg (req, key));
            html_raw (&body, " <small>(<code>");
            html_text (&body, name);
            html_raw (&body, "</code>)</small></li>\n");
        }
        html_raw (&body, "</ul>\n");
    }
    html_raw (&body, "<p>");
    html_text_with (&body, pages_msg (req, "consent.signed_in_as"), "user", session->username, "strong");
    html_raw (&body, "</p>\n");
    pages_form_open (&body, req, "/consent", ctx->state.csrf);
    html_raw (&body, "<button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">");
    html_text (&body, pages_msg (req, "consent.allow"));
    html_raw (&body, "</button>\n<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\" "
                     "class=\"secondary\">");
    html_text (&body, pages_msg (req, "consent.deny"));
    html_raw (&body, "</button>\n</form>\n</main>");
    pages_opts_t opts = {.form_action = ctx->form_action[0] ? ctx->form_action : NULL, .headers = headers};
    int rc = pages_send (req, 200, pages_msg (req, "consent.title"), &body, &opts);
    html_free (&body);
    return rc;
}

int
consent_get (gw_req_t *req)
{
    pages_headers_t headers = {.count = 0};
    s_ctx_t ctx;
    if (s_load (req, &ctx, "consent", &headers) != 0)
        return req->status;
    char handle[PAGES_MAX_COOKIE + 1];
    json_t *reply = NULL;
    shape_session_t session;
    if (s_flow_session (req, &ctx, handle, sizeof handle, &reply, &session, &headers) == 1)
        s_render_consent (req, &ctx, &session, &headers);
    json_decref (reply);
    s_ctx_free (&ctx);
    return req->status;
}

int
consent_post (gw_req_t *req)
{
    pages_headers_t headers = {.count = 0};
    form_t *form = s_read_form (req);
    if (!form)
        return req->status;
    s_ctx_t ctx;
    if (s_load (req, &ctx, "consent", &headers) != 0) {
        form_destroy (&form);
        return req->status;
    }
    char handle[PAGES_MAX_COOKIE + 1];
    json_t *reply = NULL;
    shape_session_t session;
    if (s_check_csrf (req, &ctx, form, &headers) == 0 &&
        s_flow_session (req, &ctx, handle, sizeof handle, &reply, &session, &headers) == 1) {
        const char *decision = form_get (form, "decision", 0);
        pages_set_cookie (&headers, req, COOKIE_FLOW, "", 0);
        //  RFC 6749 §4.1.2.1: a denial is answered access_denied by
        //  token-svc, which records who refused which client.
        authz_issue_code (req, &ctx.q, &session, decision && strcmp (decision, "allow") == 0 ? 1 : -1, 1,
                          &headers);
    }
    json_decref (reply);
    s_ctx_free (&ctx);
    form_destroy (&form);
    return req->status;
}

//  ---------------------------------------------------------------------------
//  Account chooser (prompt=select_account)

int
select_account_get (gw_req_t *req)
{
    pages_headers_t headers = {.count = 0};
    s_ctx_t ctx;
    if (s_load (req, &ctx, "select_account", &headers) != 0)
        return req->status;
    char handle[PAGES_MAX_COOKIE + 1];
    json_t *reply = NULL;
    shape_session_t session;
    if (s_flow_session (req, &ctx, handle, sizeof handle, &reply, &session, &headers) == 1) {
        const char *who = session.username;
        html_t body;
        html_init (&body);
        pages_open (&body, req, NULL, pages_msg (req, "chooser.title"));
        s_client_line (&body, req, &ctx.q, "client.continue_to");
        html_raw (&body, "<p class=\"account\">");
        html_text (&body, who);
        html_raw (&body, "</p>\n");
        pages_form_open (&body, req, "/select-account", ctx.state.csrf);
        html_raw (&body, "<button type=\"submit\" name=\"choice\" value=\"continue\" id=\"continue\">");
        html_text_with (&body, pages_msg (req, "chooser.continue_as"), "user", who, NULL);
        html_raw (&body, "</button>\n<button type=\"submit\" name=\"choice\" value=\"switch\" id=\"switch\" "
                         "class=\"secondary\">");
        html_text (&body, pages_msg (req, "chooser.switch"));
        html_raw (&body, "</button>\n</form>\n</main>");
        pages_opts_t opts = {.form_action = ctx.form_action[0] ? ctx.form_action : NULL, .headers = &headers};
        pages_send (req, 200, pages_msg (req, "chooser.title"), &body, &opts);
        html_free (&body);
    }
    json_decref (reply);
    s_ctx_free (&ctx);
    return req->status;
}

int
select_account_post (gw_req_t *req)
{
    pages_headers_t headers = {.count = 0};
    form_t *form = s_read_form (req);
    if (!form)
        return req->status;
    s_ctx_t ctx;
    if (s_load (req, &ctx, "select_account", &headers) != 0) {
        form_destroy (&form);
        return req->status;
    }
    char handle[PAGES_MAX_COOKIE + 1];
    json_t *reply = NULL;
    shape_session_t session;
    if (s_check_csrf (req, &ctx, form, &headers) == 0 &&
        s_flow_session (req, &ctx, handle, sizeof handle, &reply, &session, &headers) == 1) {
        const char *choice = form_get (form, "choice", 0);
        if (choice && strcmp (choice, "continue") == 0) {
            pages_set_cookie (&headers, req, COOKIE_FLOW, "", 0);
            authz_continue (req, &ctx.q, &session, handle, 1, &headers);
        } else
            //  "Use another account": a fresh login for the same request.
            authz_start_flow (req, &ctx.q, "login", handle, &headers);
    }
    json_decref (reply);
    s_ctx_free (&ctx);
    form_destroy (&form);
    return req->status;
}
