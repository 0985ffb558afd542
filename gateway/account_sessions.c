/*  account_sessions - the account's sessions page:
 *
 *    GET  /account/sessions   the signed-in user's live SSO sessions
 *                             (flow.session_list): when each began and was
 *                             last used, from which address and browser,
 *                             and the applications it served
 *    POST /account/sessions   ends one of them (flow.session_end, reason
 *                             account): the same end as a logout, with the
 *                             back-channel logout of the applications it
 *                             served
 *
 *  Each form carries a CSRF token derived from this browser's session
 *  cookie (pages_session_csrf), so no other site can end a session. */
#include "form.h"
#include "frontchannel.h"
#include "log.h"
#include "ops.h"
#include "pages.h"
#include "routes.h"
#include "secure.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define SESSIONS_PURPOSE "account sessions"
#define SESSIONS_MAX_PARAMS 8
#define SESSIONS_MAX_VALUE 128

static int
s_unexpected (gw_req_t *req, const char *op, const char *why, pages_headers_t *headers)
{
    log_error ("%s answered something unexpected: %s", op, why);
    return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.unexpected"),
                        headers);
}

//  A time as "2026-12-07 15:04 UTC".
static void
s_time (html_t *body, int64_t t)
{
    char text[48] = "";
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r (&tt, &tm))
        strftime (text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
    html_text (body, text);
}

static void
s_row (html_t *body, const char *label, const char *value)
{
    html_raw (body, "<p><small>");
    html_text (body, label);
    html_raw (body, "</small> ");
    html_text (body, value);
    html_raw (body, "</p>\n");
}

//  One session and the form that ends it.
static void
s_session (html_t *body, gw_req_t *req, const shape_session_info_t *s, const char *csrf)
{
    html_raw (body, "<section class=\"account\" data-sid=\"");
    html_text (body, s->sid);
    html_raw (body, s->current ? "\" data-current=\"true\">\n" : "\">\n");
    if (s->current) {
        html_raw (body, "<p><strong>");
        html_text (body, pages_msg (req, "sessions.this_browser"));
        html_raw (body, "</strong></p>\n");
    }
    html_raw (body, "<p><small>");
    html_text (body, pages_msg (req, "sessions.signed_in"));
    html_raw (body, "</small> ");
    s_time (body, s->auth_time);
    html_raw (body, "</p>\n<p><small>");
    html_text (body, pages_msg (req, "sessions.last_used"));
    html_raw (body, "</small> ");
    if (s->has_last_used_at)
        s_time (body, s->last_used_at);
    else
        html_text (body, pages_msg (req, "sessions.not_yet"));
    html_raw (body, "</p>\n");
    if (s->address)
        s_row (body, pages_msg (req, "sessions.address"), s->address);
    if (s->user_agent)
        s_row (body, pages_msg (req, "sessions.browser"), s->user_agent);
    size_t n = json_array_size (s->clients);
    if (n) {
        html_raw (body, "<p><small>");
        html_text (body, pages_msg (req, "sessions.applications"));
        html_raw (body, "</small></p>\n<ul class=\"scopes\">\n");
        for (size_t i = 0; i < n; i++) {
            const json_t *c = json_array_get (s->clients, i);
            html_raw (body, "<li data-client-id=\"");
            html_text (body, json_string_value (json_object_get (c, "client_id")));
            html_raw (body, "\">");
            html_text (body, json_string_value (json_object_get (c, "name")));
            html_raw (body, "</li>\n");
        }
        html_raw (body, "</ul>\n");
    }
    pages_form_open (body, req, "/account/sessions", csrf);
    html_raw (body, "<input type=\"hidden\" name=\"sid\" value=\"");
    html_text (body, s->sid);
    html_raw (body, "\">\n<button type=\"submit\" class=\"secondary\">");
    html_text (body, pages_msg (req, s->current ? "sessions.sign_out_here" : "sessions.end"));
    html_raw (body, "</button>\n</form>\n</section>\n");
}

//  The session cookie's handle and its CSRF token; 1, or 0 after answering
//  (no cookie: sign in first).
static int
s_handle (gw_req_t *req, char *handle, size_t size, char csrf[PAGES_CSRF_CHARS + 1], pages_headers_t *headers)
{
    if (pages_get_cookie (req, COOKIE_SESSION, handle, size) != 0) {
        pages_error (req, 400, pages_msg (req, "signin_first.title"),
                     pages_msg (req, "sessions.signin_first"), headers);
        return 0;
    }
    if (pages_session_csrf (handle, SESSIONS_PURPOSE, csrf) != 0) {
        pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.page"), headers);
        return 0;
    }
    return 1;
}

int
account_sessions_get (gw_req_t *req)
{
    pages_headers_t headers = {.count = 0};
    char handle[PAGES_MAX_COOKIE + 1], csrf[PAGES_CSRF_CHARS + 1];
    if (!s_handle (req, handle, sizeof handle, csrf, &headers))
        return req->status;
    flow_session_list_in_t in = {.session = handle};
    json_t *body = flow_session_list_in_pack (&in);
    json_t *result = NULL;
    bus_error_t error;
    int rc = body ? http_bus_call (req, "flow.session_list", body, &result, &error) : -1;
    json_decref (body);
    secure_wipe (handle, sizeof handle);
    if (rc != 0) {
        secure_wipe (csrf, sizeof csrf);
        return body ? pages_bus_error (req, &error, &headers)
                    : pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"),
                                   &headers);
    }
    flow_session_list_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (flow_session_list_out_unpack (result, &out, why, sizeof why) != 0) {
        json_decref (result);
        secure_wipe (csrf, sizeof csrf);
        return s_unexpected (req, "flow.session_list", why, &headers);
    }
    if (json_array_size (out.sessions) == 0) {
        //  The cookie opens no live session: it is dropped.
        json_decref (result);
        secure_wipe (csrf, sizeof csrf);
        pages_set_cookie (&headers, req, COOKIE_SESSION, "", 0);
        return pages_error (req, 400, pages_msg (req, "signin_first.title"),
                            pages_msg (req, "sessions.signin_first"), &headers);
    }
    html_t page;
    html_init (&page);
    pages_open (&page, req, "wide", pages_msg (req, "sessions.title"));
    html_raw (&page, "<p>");
    html_text (&page, pages_msg (req, "sessions.lead"));
    html_raw (&page, "</p>\n");
    size_t i;
    const json_t *item;
    json_array_foreach (out.sessions, i, item)
    {
        shape_session_info_t s;
        if (shape_session_info_unpack (item, &s, why, sizeof why) != 0) {
            html_free (&page);
            json_decref (result);
            secure_wipe (csrf, sizeof csrf);
            return s_unexpected (req, "flow.session_list", why, &headers);
        }
        s_session (&page, req, &s, csrf);
    }
    html_raw (&page, "</main>");
    pages_opts_t opts = {.headers = &headers};
    pages_send (req, 200, pages_msg (req, "sessions.title"), &page, &opts);
    html_free (&page);
    json_decref (result);
    secure_wipe (csrf, sizeof csrf);
    return req->status;
}

int
account_sessions_post (gw_req_t *req)
{
    form_limits_t limits = {.max_total = 1024,
                            .max_params = SESSIONS_MAX_PARAMS,
                            .max_name = 16,
                            .max_value = SESSIONS_MAX_VALUE};
    form_t *form = pages_read_html_form (req, &limits);
    if (!form)
        return req->status;
    pages_headers_t headers = {.count = 0};
    char handle[PAGES_MAX_COOKIE + 1], csrf[PAGES_CSRF_CHARS + 1];
    const char *sent = form_get (form, "csrf", 0);
    const char *sid = form_get (form, "sid", 1);
    if (!s_handle (req, handle, sizeof handle, csrf, &headers)) {
        form_destroy (&form);
        return req->status;
    }
    if (!sent || !secure_streq (sent, csrf) || !sid) {
        pages_error (req, 400, pages_msg (req, "error.refused.title"), pages_msg (req, "sessions.stale"),
                     &headers);
    } else {
        flow_session_end_in_t in = {
            .session = handle, .sid = sid, .reason = "account", .client_ip = http_client_ip (req)};
        json_t *body = flow_session_end_in_pack (&in);
        json_t *result = NULL;
        bus_error_t error;
        int rc = body ? http_bus_call (req, "flow.session_end", body, &result, &error) : -1;
        json_decref (body);
        flow_session_end_out_t out;
        char why[SCHEMA_WHY_MAX];
        char url[2048];
        if (rc != 0)
            body ? pages_bus_error (req, &error, &headers)
                 : pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"),
                                &headers);
        else if (flow_session_end_out_unpack (result, &out, why, sizeof why) != 0)
            s_unexpected (req, "flow.session_end", why, &headers);
        else if (!out.ended)
            pages_error (req, 400, pages_msg (req, "error.refused.title"), pages_msg (req, "sessions.ended"),
                         &headers);
        else if (out.current) {
            //  The browser's own session: signed out here too.
            pages_set_cookie (&headers, req, COOKIE_SESSION, "", 0);
            html_t page;
            html_init (&page);
            pages_open (&page, req, NULL, pages_msg (req, "logout.done.title"));
            html_raw (&page, "<p>");
            html_text (&page, pages_msg (req, "sessions.ended_here"));
            html_raw (&page, "</p>\n");
            //  Front-Channel Logout 1.0 §3: the applications it served sign
            //  out in this browser too.
            char frame_src[FRONTCHANNEL_SRC_MAX];
            frontchannel_render (req, out.sid, out.clients, &page, frame_src);
            html_raw (&page, "</main>");
            pages_opts_t opts = {.headers = &headers, .frame_src = frame_src};
            pages_send (req, 200, pages_msg (req, "logout.done.short"), &page, &opts);
            html_free (&page);
        } else if (pages_url (req, "/account/sessions", url, sizeof url) == 0)
            //  Another session: back to the list (RFC 9110 §15.4.4).
            pages_redirect (req, 303, url, &headers);
        else
            pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.issuer"), &headers);
        json_decref (result);
    }
    secure_wipe (handle, sizeof handle);
    secure_wipe (csrf, sizeof csrf);
    form_destroy (&form);
    return req->status;
}
