/*  authorize - GET and POST /authorize, and the shared steps of the code
 *  flow. See authorize.h. */
#include "authorize.h"

#include "form.h"
#include "log.h"
#include "routes.h"

#include <civetweb.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Limits of an authorization request (the whole request must fit in the
//  16 KiB body of token.authorize, proto/ops.def). An id_token_hint is the
//  longest value we expect (an RS256 JWT is about 1 KiB).
#define AUTHZ_MAX_PARAMS 48
#define AUTHZ_MAX_VALUE 4096
#define AUTHZ_MAX_TOTAL 12288

//  The one script of form_post; CSP allows exactly this text by its hash.
static const char s_form_post_script[] = "document.forms[0].submit();";

//  ---------------------------------------------------------------------------
//  Helpers

//  Whether the array of strings (a STRS member) holds value.
static int
s_has (const json_t *array, const char *value)
{
    size_t i;
    json_t *item;
    json_array_foreach (array, i, item)
    {
        if (strcmp (json_string_value (item), value) == 0)
            return 1;
    }
    return 0;
}

//  A call whose failure is answered with an error page; 0 or -1 (answered).
static int
s_call (gw_req_t *req, const char *op, const json_t *body, json_t **result, pages_headers_t *headers)
{
    bus_error_t error;
    if (http_bus_call (req, op, body, result, &error) == 0)
        return 0;
    pages_bus_error (req, &error, headers);
    return -1;
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

//  The response R of a result's redirect member (token.authorize_error,
//  token.issue_code).
static int
s_respond (gw_req_t *req, const char *op, const json_t *redirect, int after_post, pages_headers_t *headers)
{
    shape_redirect_t r;
    char why[SCHEMA_WHY_MAX];
    if (shape_redirect_unpack (redirect, &r, why, sizeof why) != 0)
        return s_unexpected (req, op, why, headers);
    return authz_respond (req, &r, after_post, headers);
}

void
authz_form_action (const shape_request_t *q, char *out, size_t size)
{
    if (pages_csp_origin (q->redirect_uri, out, size) != 0)
        out[0] = '\0';
}

//  ---------------------------------------------------------------------------
//  Authorization responses

//  Appends "name=value" pairs of params to out, form-encoded
//  (RFC 6749 Appendix B): prefix before the first, '&' between the others.
//  -1 when it does not fit.
static int
s_append_params (char *out, size_t size, const json_t *params, const char *prefix)
{
    const char *name;
    json_t *value;
    int first = 1;
    json_object_foreach ((json_t *)params, name, value)
    {
        if (form_append_param (out, size, first ? prefix : "&", name, json_string_value (value)) < 0)
            return -1;
        first = 0;
    }
    return 0;
}

//  base64 (RFC 4648 §4) of SHA-256(text), as a CSP hash-source wants it.
static int
s_script_hash (const char *text, char *out, size_t size)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest (text, strlen (text), digest, &len, EVP_sha256 (), NULL))
        return -1;
    char b64[64];
    EVP_EncodeBlock ((unsigned char *)b64, digest, (int)len);
    int n = snprintf (out, size, "'sha256-%s'", b64);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

//  OAuth 2.0 Form Post Response Mode §2: an HTML form that posts the
//  parameters to the redirect URI, submitted by a script allowed by its
//  hash, with a button for browsers without JavaScript.
static int
s_form_post (gw_req_t *req, const char *redirect_uri, const json_t *params, pages_headers_t *headers)
{
    char origin[512], hash[128];
    if (pages_csp_origin (redirect_uri, origin, sizeof origin) != 0 ||
        s_script_hash (s_form_post_script, hash, sizeof hash) != 0) {
        log_error ("form_post: the redirect URI has no usable origin");
        return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.response"),
                            headers);
    }
    html_t body;
    html_init (&body);
    pages_open (&body, req, NULL, pages_msg (req, "form_post.title"));
    html_raw (&body, "<form method=\"post\" action=\"");
    html_text (&body, redirect_uri);
    html_raw (&body, "\">\n");
    const char *name;
    json_t *value;
    json_object_foreach ((json_t *)params, name, value)
    {
        html_raw (&body, "<input type=\"hidden\" name=\"");
        html_text (&body, name);
        html_raw (&body, "\" value=\"");
        html_text (&body, json_string_value (value));
        html_raw (&body, "\">\n");
    }
    html_raw (&body, "<noscript><p>");
    html_text (&body, pages_msg (req, "form_post.noscript"));
    html_raw (&body, "</p></noscript>\n<button type=\"submit\">");
    html_text (&body, pages_msg (req, "flow.continue"));
    html_raw (&body, "</button>\n</form>\n</main>\n<script>");
    html_raw (&body, s_form_post_script);
    html_raw (&body, "</script>");
    pages_opts_t opts = {.form_action = origin, .script_src = hash, .headers = headers};
    int rc = pages_send (req, 200, pages_msg (req, "form_post.title"), &body, &opts);
    html_free (&body);
    return rc;
}

int
authz_respond (gw_req_t *req, const shape_redirect_t *redirect, int after_post, pages_headers_t *headers)
{
    const char *uri = redirect->redirect_uri;
    const char *mode = redirect->response_mode;
    const json_t *params = redirect->params;
    if (strcmp (mode, "form_post") == 0)
        return s_form_post (req, uri, params, headers);
    //  RFC 6749 §3.1.2: a redirection endpoint URI has no fragment; token-svc
    //  refuses one at registration, and we never build on one.
    if (strchr (uri, '#')) {
        log_error ("authorization response: the redirect URI has a fragment");
        return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.response"),
                            headers);
    }
    const char *prefix;
    if (strcmp (mode, "fragment") == 0)
        prefix = "#";
    else {
        //  RFC 6749 §3.1.2: the query component of a registered URI is kept
        //  and our parameters are added to it.
        size_t len = strlen (uri);
        prefix = !strchr (uri, '?') ? "?" : (uri[len - 1] == '?' || uri[len - 1] == '&') ? "" : "&";
    }
    char *location = malloc (PAGES_MAX_LOCATION);
    if (!location)
        return pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"),
                            headers);
    int n = snprintf (location, PAGES_MAX_LOCATION, "%s", uri);
    if (n < 0 || n >= PAGES_MAX_LOCATION ||
        s_append_params (location, PAGES_MAX_LOCATION, params, prefix) != 0) {
        free (location);
        log_error ("authorization response: the location is too long");
        return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.response"),
                            headers);
    }
    int rc = pages_redirect (req, after_post ? 303 : 302, location, headers);
    free (location);
    return rc;
}

int
authz_fail (gw_req_t *req, const shape_request_t *q, ost_err_t error, const char *description, int after_post,
            pages_headers_t *headers)
{
    token_authorize_error_in_t in = {
        .request_id = q->request_id, .error = proto_err (error)->code, .error_description = description};
    json_t *body = token_authorize_error_in_pack (&in);
    json_t *result = NULL;
    int rc = s_call (req, "token.authorize_error", body, &result, headers);
    json_decref (body);
    if (rc != 0)
        return req->status;
    token_authorize_error_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (token_authorize_error_out_unpack (result, &out, why, sizeof why) != 0)
        s_unexpected (req, "token.authorize_error", why, headers);
    else
        s_respond (req, "token.authorize_error", out.redirect, after_post, headers);
    json_decref (result);
    return req->status;
}

int
authz_start_flow (gw_req_t *req, const shape_request_t *q, const char *purpose, const char *session_handle,
                  pages_headers_t *headers)
{
    //  OpenID Connect Core §3.1.2.1 ui_locales: the flow's pages and emails
    //  keep the language chosen here (flow.start locale).
    pages_use_lang (req, q->ui_locales);
    flow_start_in_t in = {
        .locale = req->lang,
        .request_id = q->request_id,
        .purpose = purpose,
        //  OpenID Connect Core §3.1.2.1: login_hint prefills the identifier.
        .login_hint = strcmp (purpose, "login") == 0 ? q->login_hint : NULL,
        .session = session_handle && session_handle[0] ? session_handle : NULL,
        //  Lockout counts failures per client address too (docs/flows.md).
        .client_ip = http_client_ip (req),
    };
    json_t *body = flow_start_in_pack (&in);
    json_t *result = NULL;
    //  proto/ops.md flow.start: "flow" left out is OSTIARY_LOGIN_FLOW; the
    //  consent and account pages are executions of it too, told apart by
    //  their purpose.
    int rc = s_call (req, "flow.start", body, &result, headers);
    json_decref (body);
    if (rc != 0)
        return req->status;
    //  The flow handle is 43 characters (proto/ops/flow.def): a cookie value
    //  pages_get_cookie reads back.
    flow_start_out_t started;
    char why[SCHEMA_WHY_MAX];
    if (flow_start_out_unpack (result, &started, why, sizeof why) != 0) {
        json_decref (result);
        return s_unexpected (req, "flow.start", why, headers);
    }
    long max_age = (long)(started.expires_at - (int64_t)time (NULL));
    pages_set_cookie (headers, req, COOKIE_FLOW, started.flow, max_age > 0 ? max_age : 60);
    json_decref (result);
    const char *path = strcmp (purpose, "consent") == 0          ? "/consent"
                       : strcmp (purpose, "select_account") == 0 ? "/select-account"
                                                                 : "/login";
    char url[2048];
    if (pages_url (req, path, url, sizeof url) != 0)
        return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.issuer"),
                            headers);
    //  RFC 9110 §15.4.4: 303 makes the browser GET the page whatever the
    //  method of this request was.
    return pages_redirect (req, 303, url, headers);
}

//  token.consent_check for Q and the user sub: 1 needed, 0 not, -1 after
//  answering.
static int
s_consent_needed (gw_req_t *req, const shape_request_t *q, const char *sub, pages_headers_t *headers)
{
    token_consent_check_in_t in = {.request_id = q->request_id, .sub = sub};
    json_t *body = token_consent_check_in_pack (&in);
    json_t *result = NULL;
    int rc = s_call (req, "token.consent_check", body, &result, headers);
    json_decref (body);
    if (rc != 0)
        return -1;
    token_consent_check_out_t out;
    char why[SCHEMA_WHY_MAX];
    int needed = -1;
    if (token_consent_check_out_unpack (result, &out, why, sizeof why) != 0)
        s_unexpected (req, "token.consent_check", why, headers);
    else
        needed = out.needed ? 1 : 0;
    json_decref (result);
    return needed;
}

int
authz_continue (gw_req_t *req, const shape_request_t *q, const shape_session_t *session,
                const char *session_handle, int after_post, pages_headers_t *headers)
{
    //  OpenID Connect Core §3.1.2.1: prompt=consent asks again even when
    //  consent was given before.
    int needed = s_has (q->prompt, "consent");
    if (!needed) {
        needed = s_consent_needed (req, q, session->sub, headers);
        if (needed < 0)
            return req->status;
    }
    if (needed)
        return authz_start_flow (req, q, "consent", session_handle, headers);

    return authz_issue_code (req, q, session, 0, after_post, headers);
}

//  The browser's User-Agent as the sessions page shows it: printable ASCII
//  (anything else becomes '?'), at most 256 bytes. NULL when absent.
static const char *
s_user_agent (gw_req_t *req, char out[257])
{
    const char *ua = mg_get_header (req->conn, "User-Agent");
    if (!ua || !*ua)
        return NULL;
    size_t n = 0;
    for (; ua[n] && n < 256; n++)
        out[n] = ua[n] >= 0x20 && ua[n] < 0x7f ? ua[n] : '?';
    out[n] = '\0';
    return out;
}

//  flow.session_touch before a code is issued in session for q's client:
//  the session remembers the client (whom its logout must tell) and its
//  last use. 1 live, 0 the session ended meanwhile, -1 after answering.
static int
s_touch (gw_req_t *req, const shape_request_t *q, const shape_session_t *session, pages_headers_t *headers)
{
    char ua[257];
    flow_session_touch_in_t in = {.sid = session->sid,
                                  .client_id = q->client_id,
                                  .client_name = q->client_name,
                                  .client_ip = http_client_ip (req),
                                  .user_agent = s_user_agent (req, ua)};
    json_t *body = flow_session_touch_in_pack (&in);
    json_t *result = NULL;
    int rc = body ? s_call (req, "flow.session_touch", body, &result, headers) : -1;
    json_decref (body);
    if (!body) {
        pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"), headers);
        return -1;
    }
    if (rc != 0)
        return -1;
    flow_session_touch_out_t out;
    char why[SCHEMA_WHY_MAX];
    int live = -1;
    if (flow_session_touch_out_unpack (result, &out, why, sizeof why) != 0)
        s_unexpected (req, "flow.session_touch", why, headers);
    else
        live = out.live ? 1 : 0;
    json_decref (result);
    return live;
}

int
authz_issue_code (gw_req_t *req, const shape_request_t *q, const shape_session_t *session, int granted,
                  int after_post, pages_headers_t *headers)
{
    //  Recorded before the code exists, so that no client ever holds a code
    //  of a session whose logout would not tell it.
    int live = s_touch (req, q, session, headers);
    if (live < 0)
        return req->status;
    if (!live)
        return pages_error (req, 400, pages_msg (req, "session_ended.title"),
                            pages_msg (req, "session_ended.text"), headers);
    //  granted: the user pressed Allow on the consent page just now, and
    //  token-svc remembers it per user and client. Otherwise no consent is
    //  sent: none was needed (first-party client, or a consent given
    //  before, which token-svc checks again).
    shape_consent_t answer = {
        .granted = granted > 0, .has_granted = true, .remember = granted > 0, .has_remember = true};
    json_t *consent = granted ? schema_pack (&schema_shape_consent, &answer) : NULL;
    token_issue_code_in_t in = {.request_id = q->request_id,
                                .sub = session->sub,
                                .sid = session->sid,
                                .auth_time = session->auth_time,
                                .has_auth_time = true,
                                .amr = session->amr,
                                .consent = consent,
                                .client_ip = http_client_ip (req)};
    json_t *body = !granted || consent ? token_issue_code_in_pack (&in) : NULL;
    json_decref (consent);
    if (!body)
        return pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"),
                            headers);
    json_t *result = NULL;
    int rc = s_call (req, "token.issue_code", body, &result, headers);
    json_decref (body);
    if (rc != 0)
        return req->status;
    token_issue_code_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (token_issue_code_out_unpack (result, &out, why, sizeof why) != 0)
        s_unexpected (req, "token.issue_code", why, headers);
    else
        s_respond (req, "token.issue_code", out.redirect, after_post, headers);
    json_decref (result);
    return req->status;
}

int
authz_session (gw_req_t *req, char *handle, size_t size, json_t **reply, shape_session_t *session,
               pages_headers_t *headers)
{
    *reply = NULL;
    if (pages_get_cookie (req, COOKIE_SESSION, handle, size) != 0)
        return 0;
    flow_session_get_in_t in = {.session = handle};
    json_t *body = flow_session_get_in_pack (&in);
    int rc = s_call (req, "flow.session_get", body, reply, headers);
    json_decref (body);
    if (rc != 0)
        return -1;
    flow_session_get_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (flow_session_get_out_unpack (*reply, &out, why, sizeof why) != 0 ||
        (out.session && shape_session_unpack (out.session, session, why, sizeof why) != 0)) {
        json_decref (*reply);
        *reply = NULL;
        s_unexpected (req, "flow.session_get", why, headers);
        return -1;
    }
    if (!out.session) {
        json_decref (*reply);
        *reply = NULL;
        return 0;
    }
    return 1;
}

//  A valid request Q: who is the user, and what must happen before a code.
static int
s_decide (gw_req_t *req, const shape_request_t *q, int after_post)
{
    pages_headers_t headers = {.count = 0};
    char handle[PAGES_MAX_COOKIE + 1];
    json_t *reply = NULL;
    shape_session_t session;
    int has = authz_session (req, handle, sizeof handle, &reply, &session, &headers);
    if (has < 0)
        return req->status;
    if (!has && handle[0]) {
        //  Unknown, expired or revoked: the cookie is dropped.
        handle[0] = '\0';
        pages_set_cookie (&headers, req, COOKIE_SESSION, "", 0);
    }

    int none = s_has (q->prompt, "none");
    int login = s_has (q->prompt, "login");
    int select = s_has (q->prompt, "select_account");
    //  OpenID Connect Core §3.1.2.1 max_age: an authentication older than
    //  max_age seconds must be done again (max_age=0: every time).
    int stale = 0;
    if (has && q->has_max_age) {
        int64_t age = (int64_t)time (NULL) - session.auth_time;
        stale = q->max_age == 0 || age > q->max_age;
    }
    //  §3.1.2.1 id_token_hint: the user the client expects; another user in
    //  session must not be signed in silently.
    int other_user = has && q->id_token_hint_sub && strcmp (q->id_token_hint_sub, session.sub) != 0;

    if (none) {
        //  §3.1.2.1 prompt=none: no page at all; an answer or an error.
        if (!has)
            authz_fail (req, q, OST_ERR_LOGIN_REQUIRED, "The user is not logged in", after_post, &headers);
        else if (stale)
            authz_fail (req, q, OST_ERR_LOGIN_REQUIRED, "The authentication is older than max_age",
                        after_post, &headers);
        else if (other_user)
            authz_fail (req, q, OST_ERR_LOGIN_REQUIRED, "The logged-in user is not the one of id_token_hint",
                        after_post, &headers);
        else {
            int needed = s_consent_needed (req, q, session.sub, &headers);
            if (needed == 1)
                authz_fail (req, q, OST_ERR_CONSENT_REQUIRED, "The user has not consented to this client",
                            after_post, &headers);
            else if (needed == 0)
                authz_issue_code (req, q, &session, 0, after_post, &headers);
        }
    } else if (!has || login || stale || other_user)
        //  §3.1.2.3: authenticate; prompt=login forces it even with a session.
        authz_start_flow (req, q, "login", handle, &headers);
    else if (select)
        authz_start_flow (req, q, "select_account", handle, &headers);
    else
        authz_continue (req, q, &session, handle, after_post, &headers);
    json_decref (reply);
    return req->status;
}

static int
s_authorize (gw_req_t *req, form_t *form, int after_post)
{
    json_t *params = form_to_json (form, 1);
    json_t *repeated = form_repeated_json (form, 1);
    //  RFC 6749 §3.1: empty parameters are as if omitted; repeated ones are
    //  an error token-svc reports (it knows the redirect URI by then).
    token_authorize_in_t in = {.params = params, .repeated = repeated, .method = after_post ? "POST" : "GET"};
    json_t *body = params && repeated ? token_authorize_in_pack (&in) : NULL;
    json_decref (params);
    json_decref (repeated);
    if (!body)
        return pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"), NULL);
    json_t *result = NULL;
    int rc = s_call (req, "token.authorize", body, &result, NULL);
    json_decref (body);
    if (rc != 0)
        return req->status;
    //  Exactly one of page_error, redirect and request (proto/ops/token.def).
    token_authorize_out_t out;
    shape_page_error_t page_error;
    shape_redirect_t redirect;
    shape_request_t q;
    char why[SCHEMA_WHY_MAX];
    if (token_authorize_out_unpack (result, &out, why, sizeof why) != 0)
        s_unexpected (req, "token.authorize", why, NULL);
    else if (out.page_error) {
        //  RFC 6749 §4.1.2.1: with no valid client or redirect URI the user
        //  is told, and never sent anywhere.
        if (shape_page_error_unpack (out.page_error, &page_error, why, sizeof why) != 0)
            s_unexpected (req, "token.authorize", why, NULL);
        else {
            log_info ("authorize: refused on a page: %s", page_error.error_description);
            pages_refused (req, pages_msg (req, "error.invalid_request.title"), page_error.reason, NULL);
        }
    } else if (out.redirect) {
        if (shape_redirect_unpack (out.redirect, &redirect, why, sizeof why) != 0)
            s_unexpected (req, "token.authorize", why, NULL);
        else
            authz_respond (req, &redirect, after_post, NULL);
    } else if (out.request) {
        if (shape_request_unpack (out.request, &q, why, sizeof why) != 0)
            s_unexpected (req, "token.authorize", why, NULL);
        else
            s_decide (req, &q, after_post);
    } else
        s_unexpected (req, "token.authorize", "none of page_error, redirect, request", NULL);
    json_decref (result);
    return req->status;
}

int
authorize_get (gw_req_t *req)
{
    const char *query = req->query ? req->query : "";
    form_limits_t limits = {.max_total = AUTHZ_MAX_TOTAL,
                            .max_params = AUTHZ_MAX_PARAMS,
                            .max_name = 64,
                            .max_value = AUTHZ_MAX_VALUE};
    form_status_t status;
    form_t *form = form_parse (query, strlen (query), &limits, &status);
    if (!form)
        return pages_form_error (req, pages_msg (req, "error.invalid_request.title"), status, NULL);
    s_authorize (req, form, 0);
    form_destroy (&form);
    return req->status;
}

int
authorize_post (gw_req_t *req)
{
    //  OpenID Connect Core §3.1.2.1: POST uses form serialization.
    if (!pages_is_form (req))
        return pages_error (req, 400, pages_msg (req, "error.invalid_request.title"),
                            pages_msg (req, "error.form_type"), NULL);
    form_limits_t limits = {.max_total = AUTHZ_MAX_TOTAL,
                            .max_params = AUTHZ_MAX_PARAMS,
                            .max_name = 64,
                            .max_value = AUTHZ_MAX_VALUE};
    form_t *form = pages_read_form (req, &limits, 1);
    if (!form)
        return req->status;
    s_authorize (req, form, 1);
    form_destroy (&form);
    return req->status;
}
