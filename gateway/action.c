/*  action - the endpoints that resume a paused flow execution with an
 *  action token (docs/flows.md "Action tokens"):
 *
 *    GET /action?token=T   the magic link of an email: flow.action_get, then
 *                          a confirm page whose POST carries T. The GET
 *                          changes nothing, because mail scanners open links.
 *    POST /action          flow.action (purpose magic_link): consumes T once
 *    POST /flows/callback  an outside system answers an asynchronous webhook
 *                          with Authorization: Bearer T and a JSON body
 *                          {"outcome": "success"|"failure", "data": {…}};
 *                          flow.action (purpose webhook_callback)
 *
 *  T is a secret: it never appears in logs (http.c logs the path without
 *  the query) and is wiped after use; flow-svc compares its hash. */
#include "form.h"
#include "log.h"
#include "ops.h"
#include "pages.h"
#include "routes.h"
#include "secure.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  An action token is base64url of 32 random bytes (43 characters); we
//  accept a little more and let flow-svc refuse what it does not know.
#define ACTION_MAX_TOKEN 128
//  proto/ops.md flow.action: the callback's data is at most 8 KiB, and so
//  is the whole body we read.
#define CALLBACK_MAX_BODY 8192

#define INVALID_ACTION_TITLE pages_msg (req, "action.invalid.title")
#define INVALID_ACTION_MESSAGE pages_msg (req, "action.invalid.text")

static const char *
s_str (const json_t *object, const char *key)
{
    return json_string_value (json_object_get (object, key));
}

//  A result that does not fit its op's table (which the bus client has
//  checked already): logged, answered as a server error.
static int
s_unexpected (gw_req_t *req, const char *op, const char *why)
{
    log_error ("%s answered something unexpected: %s", op, why);
    return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.unexpected"), NULL);
}

static void
s_wipe_member (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    if (json_is_string (value))
        secure_wipe ((char *)json_string_value (value), json_string_length (value));
}

//  The error page of a failed call: invalid_action has its own clear page.
static int
s_page_error (gw_req_t *req, const bus_error_t *error)
{
    if (error->err == OST_ERR_INVALID_ACTION)
        return pages_error (req, 400, INVALID_ACTION_TITLE, INVALID_ACTION_MESSAGE, NULL);
    return pages_bus_error (req, error, NULL);
}

//  What the link does, by the flow's kind: a message key.
static const char *
s_confirm_title (const char *kind)
{
    if (kind && strcmp (kind, "login") == 0)
        return "action.confirm.login";
    if (kind && strcmp (kind, "verify_email") == 0)
        return "action.confirm.verify_email";
    return "action.confirm";
}

static void
s_head (html_t *body, const gw_req_t *req, const char *title)
{
    pages_open (body, req, NULL, title);
}

int
action_get (gw_req_t *req)
{
    const char *query = req->query ? req->query : "";
    form_limits_t limits = {.max_total = 512, .max_params = 4, .max_name = 16, .max_value = ACTION_MAX_TOKEN};
    form_status_t status;
    form_t *form = form_parse (query, strlen (query), &limits, &status);
    const char *token = form ? form_get (form, "token", 1) : NULL;
    if (!token) {
        form_destroy (&form);
        return pages_error (req, 400, INVALID_ACTION_TITLE, INVALID_ACTION_MESSAGE, NULL);
    }
    flow_action_get_in_t in = {.token = token, .purpose = "magic_link"};
    json_t *body = flow_action_get_in_pack (&in);
    json_t *result = NULL;
    bus_error_t error;
    //  A READ: it shows what the link is for and consumes nothing, so a
    //  mail scanner fetching the link does not use it up.
    int rc = body ? http_bus_call (req, "flow.action_get", body, &result, &error) : -1;
    s_wipe_member (body, "token");
    json_decref (body);
    if (rc != 0) {
        if (!body)
            pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"), NULL);
        else
            s_page_error (req, &error);
        form_destroy (&form);
        return req->status;
    }
    flow_action_get_out_t link;
    char why[SCHEMA_WHY_MAX];
    if (flow_action_get_out_unpack (result, &link, why, sizeof why) != 0) {
        s_unexpected (req, "flow.action_get", why);
        json_decref (result);
        form_destroy (&form);
        return req->status;
    }
    //  The link opens in the language of the flow that sent it, which may be
    //  another browser than the one that started it.
    pages_use_lang (req, link.locale);
    const char *title = pages_msg (req, s_confirm_title (link.kind));
    html_t page;
    html_init (&page);
    s_head (&page, req, title);
    const char *hint = link.email_hint;
    if (hint) {
        html_raw (&page, "<p>");
        html_text_with (&page, pages_msg (req, "action.for"), "email", hint, "strong id=\"email-hint\"");
        html_raw (&page, "</p>\n");
    }
    html_raw (&page, "<p>");
    html_text (&page, pages_msg (req, "action.press"));
    html_raw (&page, "</p>\n<form method=\"post\" action=\"");
    char url[2048];
    if (pages_url (req, "/action", url, sizeof url) == 0)
        html_text (&page, url);
    html_raw (&page, "\">\n<input type=\"hidden\" name=\"ui_locales\" value=\"");
    html_text (&page, req->lang);
    html_raw (&page, "\">\n<input type=\"hidden\" name=\"token\" value=\"");
    html_text (&page, token);
    html_raw (&page, "\">\n<button type=\"submit\" id=\"confirm\">");
    html_text (&page, pages_msg (req, "action.confirm"));
    html_raw (&page, "</button>\n</form>\n</main>");
    pages_opts_t opts = {.headers = NULL};
    pages_send (req, 200, title, &page, &opts);
    html_free (&page);
    json_decref (result);
    form_destroy (&form);
    return req->status;
}

int
action_post (gw_req_t *req)
{
    form_limits_t limits = {.max_total = 512, .max_params = 4, .max_name = 16, .max_value = ACTION_MAX_TOKEN};
    form_t *form = pages_read_html_form (req, &limits);
    if (!form)
        return req->status;
    const char *token = form_get (form, "token", 1);
    //  The confirm page's language (action_get), for the page that answers.
    pages_use_lang (req, form_get (form, "ui_locales", 1));
    if (!token || form_occurrences (form, "token", 1) != 1) {
        form_destroy (&form);
        return pages_error (req, 400, INVALID_ACTION_TITLE, INVALID_ACTION_MESSAGE, NULL);
    }
    flow_action_in_t in = {.token = token, .purpose = "magic_link", .client_ip = http_client_ip (req)};
    json_t *body = flow_action_in_pack (&in);
    json_t *result = NULL;
    bus_error_t error;
    //  docs/flows.md: consuming is one conditional UPDATE in flow-svc; of two
    //  racing posts exactly one gets here with a result.
    int rc = body ? http_bus_call (req, "flow.action", body, &result, &error) : -1;
    s_wipe_member (body, "token");
    json_decref (body);
    form_destroy (&form);
    if (rc != 0) {
        if (!body)
            return pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"),
                                NULL);
        return s_page_error (req, &error);
    }
    flow_action_out_t done;
    char why[SCHEMA_WHY_MAX];
    if (flow_action_out_unpack (result, &done, why, sizeof why) != 0) {
        json_decref (result);
        return s_unexpected (req, "flow.action", why);
    }
    const char *kind = done.kind;
    int failed = strcmp (done.status, "failed") == 0;
    html_t page;
    html_init (&page);
    const char *title = pages_msg (req, failed ? "flow.failed.title" : "action.confirmed");
    s_head (&page, req, title);
    html_raw (&page, "<p id=\"result\">");
    if (failed)
        html_text (&page, pages_msg (req, "action.refused"));
    else if (strcmp (kind, "login") == 0)
        html_text (&page, pages_msg (req, "action.login_done"));
    else if (strcmp (kind, "verify_email") == 0)
        html_text (&page, pages_msg (req, "done.verify_email"));
    else
        html_text (&page, pages_msg (req, "action.other_done"));
    html_raw (&page, "</p>\n</main>");
    pages_opts_t opts = {.headers = NULL};
    pages_send (req, 200, title, &page, &opts);
    html_free (&page);
    json_decref (result);
    return req->status;
}

//  ---------------------------------------------------------------------------
//  POST /flows/callback

//  RFC 6750 §3: no credentials at all → 401 with a challenge without an
//  error code (§3.1).
static int
s_no_bearer (gw_req_t *req)
{
    char realm[512], challenge[600];
    http_clean_header_value (req->gw->cfg->issuer, realm, sizeof realm);
    snprintf (challenge, sizeof challenge, "Bearer realm=\"%s\"", realm);
    http_header_t extra[] = {{"WWW-Authenticate", challenge}, {"Pragma", "no-cache"}};
    return http_send_error_status (req, 401, OST_ERR_INVALID_REQUEST,
                                   "The action token must be sent as a Bearer credential", extra, 2);
}

static int
s_is_json (gw_req_t *req)
{
    const char *type = mg_get_header (req->conn, "Content-Type");
    static const char want[] = "application/json";
    if (!type || strncasecmp (type, want, sizeof want - 1) != 0)
        return 0;
    const char *rest = type + sizeof want - 1;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

json_t *
flows_callback_parse (const char *raw, size_t len)
{
    json_error_t jerr;
    //  Duplicate members are refused: which one counts would be a guess.
    json_t *in = raw ? json_loadb (raw, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    const char *outcome = s_str (in, "outcome");
    json_t *data = json_object_get (in, "data");
    if (!json_is_object (in) || !outcome ||
        (strcmp (outcome, "success") != 0 && strcmp (outcome, "failure") != 0) ||
        (data && !json_is_object (data))) {
        json_decref (in);
        return NULL;
    }
    return in;
}

int
flows_callback_post (gw_req_t *req)
{
    char token[ACTION_MAX_TOKEN + 1];
    int has = http_bearer_token (req, token, sizeof token);
    if (has == 0)
        return s_no_bearer (req);
    if (has < 0)
        return http_send_error (req, OST_ERR_INVALID_ACTION, "The action token is malformed");
    int rc;
    if (!s_is_json (req)) {
        rc = http_send_error (req, OST_ERR_INVALID_REQUEST, "The body must be application/json");
        secure_wipe (token, sizeof token);
        return rc;
    }
    char *raw = NULL;
    size_t len = 0;
    if (http_read_body (req, CALLBACK_MAX_BODY, &raw, &len) != 0) {
        secure_wipe (token, sizeof token);
        return req->status;
    }
    json_t *in = flows_callback_parse (raw, len);
    free (raw);
    if (!in) {
        secure_wipe (token, sizeof token);
        return http_send_error (req, OST_ERR_INVALID_REQUEST,
                                "The body must be {\"outcome\": \"success\" or \"failure\", \"data\": {}}");
    }
    const char *outcome = s_str (in, "outcome");
    json_t *data = json_object_get (in, "data");
    json_t *empty = data ? NULL : json_object ();
    flow_action_in_t action = {.token = token,
                               .purpose = "webhook_callback",
                               .outcome = outcome,
                               .data = data ? data : empty,
                               .client_ip = http_client_ip (req)};
    json_t *body = action.data ? flow_action_in_pack (&action) : NULL;
    secure_wipe (token, sizeof token);
    json_decref (empty);
    json_decref (in);
    if (!body)
        return http_send_error (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "out of memory");
    json_t *result = NULL;
    bus_error_t error;
    rc = http_bus_call (req, "flow.action", body, &result, &error);
    s_wipe_member (body, "token");
    json_decref (body);
    if (rc != 0)
        return http_send_bus_error (req, &error);
    flow_action_out_t done;
    char why[SCHEMA_WHY_MAX];
    if (flow_action_out_unpack (result, &done, why, sizeof why) != 0) {
        json_decref (result);
        log_error ("flow.action answered something unexpected: %s", why);
        return http_send_error (req, OST_ERR_SERVER_ERROR, "the service could not answer");
    }
    json_t *reply = json_pack ("{s:s}", "status", done.status);
    rc = http_send_json (req, 200, reply, "no-store", NULL, 0);
    json_decref (reply);
    json_decref (result);
    return rc;
}
