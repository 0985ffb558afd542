/*  logout - the end-session endpoint of OpenID Connect RP-Initiated Logout
 *  1.0: GET and POST /logout.
 *
 *    1. token.logout_check validates the parameters (id_token_hint,
 *       client_id, post_logout_redirect_uri, state, logout_hint,
 *       ui_locales). A refused request gets an error page, never a
 *       redirect.
 *    2. The SSO session of the browser (ostiary_session cookie). When the
 *       request is tied to it (the hint's sid is this session's, and
 *       logout_hint, when sent, names this user) it ends at once; otherwise
 *       the user confirms on a page whose form carries a CSRF token derived
 *       from the session cookie, and only that POST ends the session (§2:
 *       a logout the RP cannot prove is asked to the user, so that no third
 *       site can log anyone out).
 *    3. flow.session_end ends the session (and queues the back-channel
 *       logout of the clients it served); the browser goes to the
 *       registered post_logout_redirect_uri with state, or sees which
 *       applications were signed out.
 *
 *  The session cookie is SameSite=Lax, so a cross-site POST from a relying
 *  party arrives without it: such a POST is answered with a 303 to the GET
 *  of the same parameters, a top-level navigation that carries the cookie.
 *  ui_locales is accepted; the pages are in English only. */
#include "authorize.h"
#include "form.h"
#include "frontchannel.h"
#include "log.h"
#include "pages.h"
#include "routes.h"
#include "secure.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOGOUT_MAX_PARAMS 24
#define LOGOUT_MAX_VALUE 4096
#define LOGOUT_MAX_TOTAL 12288
#define LOGOUT_CSRF_CHARS PAGES_CSRF_CHARS

//  The parameters a confirmation form carries on to its POST.
static const char *const s_carried[] = {
    "id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales",
};

//  The CSRF token of the confirmation form (pages_session_csrf).
static int
s_csrf (const char *handle, char out[LOGOUT_CSRF_CHARS + 1])
{
    return pages_session_csrf (handle, "logout confirmation", out);
}

static int
s_unexpected (gw_req_t *req, const char *op, const char *why, pages_headers_t *headers)
{
    log_error ("%s answered something unexpected: %s", op, why);
    return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.unexpected"),
                        headers);
}

//  The page of a finished logout: which applications the session served.
static int
s_signed_out_page (gw_req_t *req, const char *sid, const json_t *clients, pages_headers_t *headers)
{
    html_t body;
    html_init (&body);
    char frame_src[FRONTCHANNEL_SRC_MAX];
    pages_open (&body, req, NULL, pages_msg (req, "logout.done.title"));
    if (clients && json_array_size (clients) > 0) {
        html_raw (&body, "<p>");
        html_text (&body, pages_msg (req, "logout.done.clients"));
        html_raw (&body, "</p>\n<ul class=\"scopes\" id=\"signed-out-clients\">\n");
        size_t i;
        const json_t *c;
        json_array_foreach (clients, i, c)
        {
            html_raw (&body, "<li data-client-id=\"");
            html_text (&body, json_string_value (json_object_get (c, "client_id")));
            html_raw (&body, "\">");
            html_text (&body, json_string_value (json_object_get (c, "name")));
            html_raw (&body, "</li>\n");
        }
        html_raw (&body, "</ul>\n");
    } else {
        html_raw (&body, "<p>");
        html_text (&body, pages_msg (req, "logout.done.none"));
        html_raw (&body, "</p>\n");
    }
    //  Front-Channel Logout 1.0 §3: each of them signs out in this browser too.
    frontchannel_render (req, sid, clients, &body, frame_src);
    html_raw (&body, "</main>");
    pages_opts_t opts = {.headers = headers, .frame_src = frame_src};
    int rc = pages_send (req, 200, pages_msg (req, "logout.done.short"), &body, &opts);
    html_free (&body);
    return rc;
}

//  To location: at once (302, or 303 after a POST) when no client of the
//  ended session has a frontchannel_logout_uri; else (Front-Channel Logout
//  1.0 §3) through a page that frames them and then goes there by itself
//  (a refresh, no script: it fires once the page and its frames loaded),
//  with a link for a browser that does not follow it.
static int
s_frames_then_redirect (gw_req_t *req, const char *sid, const json_t *clients, const char *location,
                        int after_post, pages_headers_t *headers)
{
    html_t body;
    html_init (&body);
    char frame_src[FRONTCHANNEL_SRC_MAX];
    frontchannel_render (req, sid, clients, &body, frame_src);
    int rc;
    if (!frame_src[0])
        rc = pages_redirect (req, after_post ? 303 : 302, location, headers);
    else {
        html_t page;
        html_init (&page);
        pages_open (&page, req, NULL, pages_msg (req, "logout.done.title"));
        html_raw (&page, "<p>");
        html_text (&page, pages_msg (req, "logout.frames.text"));
        html_raw (&page, "</p>\n");
        html_raw (&page, body.data ? body.data : "");
        html_raw (&page, "<p><a class=\"button\" id=\"continue\" href=\"");
        html_text (&page, location);
        html_raw (&page, "\">");
        html_text (&page, pages_msg (req, "flow.continue"));
        html_raw (&page, "</a></p>\n</main>");
        pages_opts_t opts = {
            .headers = headers, .frame_src = frame_src, .refresh = 1, .refresh_url = location};
        rc = pages_send (req, 200, pages_msg (req, "logout.done.short"), &page, &opts);
        html_free (&page);
    }
    html_free (&body);
    return rc;
}

//  §3: to the registered post_logout_redirect_uri, with state when the
//  request had one; else the page.
static int
s_finish (gw_req_t *req, const shape_logout_request_t *lr, const char *sid, const json_t *clients,
          int after_post, pages_headers_t *headers)
{
    if (!lr->post_logout_redirect_uri)
        return s_signed_out_page (req, sid, clients, headers);
    const char *uri = lr->post_logout_redirect_uri;
    char *location = malloc (PAGES_MAX_LOCATION);
    if (!location)
        return pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"),
                            headers);
    int n = snprintf (location, PAGES_MAX_LOCATION, "%s", uri);
    int bad = n < 0 || n >= PAGES_MAX_LOCATION;
    if (!bad && lr->state) {
        size_t len = strlen (uri);
        const char *sep = !strchr (uri, '?') ? "?" : (uri[len - 1] == '?' || uri[len - 1] == '&') ? "" : "&";
        bad = form_append_param (location, PAGES_MAX_LOCATION, sep, "state", lr->state) < 0;
    }
    int rc = bad ? pages_error (req, 400, pages_msg (req, "logout.refused.title"),
                                pages_msg (req, "logout.redirect_long"), headers)
                 : s_frames_then_redirect (req, sid, clients, location, after_post, headers);
    free (location);
    return rc;
}

//  Ends the browser's session and finishes.
static int
s_end (gw_req_t *req, const char *handle, const shape_logout_request_t *lr, int after_post,
       pages_headers_t *headers)
{
    flow_session_end_in_t in = {.session = handle,
                                .reason = "rp_initiated",
                                .client_id = lr->client_id,
                                .client_ip = http_client_ip (req)};
    json_t *body = flow_session_end_in_pack (&in);
    json_t *result = NULL;
    bus_error_t error;
    int rc = body ? http_bus_call (req, "flow.session_end", body, &result, &error) : -1;
    json_decref (body);
    if (rc != 0)
        return body ? pages_bus_error (req, &error, headers)
                    : pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"),
                                   headers);
    flow_session_end_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (flow_session_end_out_unpack (result, &out, why, sizeof why) != 0) {
        json_decref (result);
        return s_unexpected (req, "flow.session_end", why, headers);
    }
    pages_set_cookie (headers, req, COOKIE_SESSION, "", 0);
    rc = s_finish (req, lr, out.sid, out.clients, after_post, headers);
    json_decref (result);
    return rc;
}

//  The confirmation page: a form that POSTs the request back with the CSRF
//  token of this session.
static int
s_confirm_page (gw_req_t *req, const form_t *form, const shape_logout_request_t *lr,
                const shape_session_t *session, const char *csrf, pages_headers_t *headers)
{
    html_t body;
    html_init (&body);
    pages_open (&body, req, NULL, pages_msg (req, "logout.confirm.title"));
    html_raw (&body, "<p>");
    if (lr->client_name)
        html_text_with (&body, pages_msg (req, "logout.confirm.asks"), "client", lr->client_name, NULL);
    else
        html_text (&body, pages_msg (req, "logout.confirm.question"));
    html_raw (&body, "</p>\n<p class=\"account\">");
    html_text (&body, session->username);
    html_raw (&body, "</p>\n");
    pages_form_open (&body, req, "/logout", csrf);
    for (size_t i = 0; i < sizeof s_carried / sizeof s_carried[0]; i++) {
        const char *value = form_get (form, s_carried[i], 1);
        if (!value)
            continue;
        html_raw (&body, "<input type=\"hidden\" name=\"");
        html_text (&body, s_carried[i]);
        html_raw (&body, "\" value=\"");
        html_text (&body, value);
        html_raw (&body, "\">\n");
    }
    html_raw (&body, "<button type=\"submit\" name=\"confirm\" value=\"yes\">");
    html_text (&body, pages_msg (req, "logout.confirm.yes"));
    html_raw (&body, "</button>\n<button type=\"submit\" name=\"confirm\" value=\"no\" class=\"secondary\">");
    html_text (&body, pages_msg (req, "logout.confirm.no"));
    html_raw (&body, "</button>\n</form>\n</main>");
    pages_opts_t opts = {.headers = headers};
    int rc = pages_send (req, 200, pages_msg (req, "logout.confirm.title"), &body, &opts);
    html_free (&body);
    return rc;
}

//  A cross-site POST without the session cookie: 303 to GET /logout with
//  the same parameters (RFC 9110 §15.4.4), which a browser sends with its
//  SameSite=Lax cookie.
static int
s_to_get (gw_req_t *req, const form_t *form)
{
    char *location = malloc (PAGES_MAX_LOCATION);
    if (!location)
        return pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"), NULL);
    int bad = pages_url (req, "/logout", location, PAGES_MAX_LOCATION) != 0;
    for (size_t i = 0, first = 1; !bad && i < form_count (form); i++) {
        const char *value = form_value_at (form, i);
        if (!value[0])
            continue;
        bad = form_append_param (location, PAGES_MAX_LOCATION, first ? "?" : "&", form_name_at (form, i),
                                 value) < 0;
        first = 0;
    }
    int rc = bad ? pages_error (req, 400, pages_msg (req, "logout.refused.title"),
                                pages_msg (req, "logout.request_long"), NULL)
                 : pages_redirect (req, 303, location, NULL);
    free (location);
    return rc;
}

//  Whether the request is tied to the browser's session: the hint was
//  issued in it (its sid; a hint without sid by its sub), and logout_hint,
//  when sent, names its user.
static int
s_tied (const shape_logout_request_t *lr, const shape_session_t *session)
{
    int hint = lr->sid ? strcmp (lr->sid, session->sid) == 0 : lr->sub && strcmp (lr->sub, session->sub) == 0;
    int named = !lr->logout_hint || strcasecmp (lr->logout_hint, session->username) == 0 ||
                strcmp (lr->logout_hint, session->sub) == 0;
    return hint && named;
}

static int
s_logout (gw_req_t *req, form_t *form, int after_post)
{
    const char *csrf = after_post ? form_get (form, "csrf", 0) : NULL;
    json_t *params = form_to_json (form, 1);
    json_t *repeated = form_repeated_json (form, 1);
    token_logout_check_in_t in = {.params = params, .repeated = repeated};
    json_t *body = params && repeated ? token_logout_check_in_pack (&in) : NULL;
    json_decref (params);
    json_decref (repeated);
    if (!body)
        return pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"), NULL);
    json_t *result = NULL;
    bus_error_t error;
    int rc = http_bus_call (req, "token.logout_check", body, &result, &error);
    json_decref (body);
    if (rc != 0)
        return pages_bus_error (req, &error, NULL);
    token_logout_check_out_t out;
    shape_page_error_t page_error;
    shape_logout_request_t lr;
    char why[SCHEMA_WHY_MAX];
    if (token_logout_check_out_unpack (result, &out, why, sizeof why) != 0 ||
        (out.page_error && shape_page_error_unpack (out.page_error, &page_error, why, sizeof why) != 0) ||
        (out.logout && shape_logout_request_unpack (out.logout, &lr, why, sizeof why) != 0) ||
        (!out.page_error == !out.logout)) {
        json_decref (result);
        return s_unexpected (req, "token.logout_check", out.page_error || out.logout ? why : "no answer",
                             NULL);
    }
    if (out.page_error) {
        //  §3, §4: an unregistered post_logout_redirect_uri or a hint we
        //  cannot validate is shown, never followed.
        log_info ("logout: refused on a page: %s", page_error.error_description);
        //  RP-Initiated Logout 1.0 §2 ui_locales: the refusal too is in the
        //  language the request asked for, when a catalogue serves it.
        pages_use_lang (req, form_get (form, "ui_locales", 1));
        pages_refused (req, pages_msg (req, "logout.refused.title"), page_error.reason, NULL);
        json_decref (result);
        return req->status;
    }

    //  OpenID Connect RP-Initiated Logout §2: ui_locales of the pages.
    pages_use_lang (req, lr.ui_locales);
    pages_headers_t headers = {.count = 0};
    char handle[PAGES_MAX_COOKIE + 1];
    json_t *reply = NULL;
    shape_session_t session;
    int has = authz_session (req, handle, sizeof handle, &reply, &session, &headers);
    if (has < 0) {
        json_decref (result);
        return req->status;
    }
    if (!has) {
        if (after_post && !csrf && !handle[0])
            s_to_get (req, form);
        else {
            //  Nothing to end: an unknown or ended session is dropped.
            if (handle[0])
                pages_set_cookie (&headers, req, COOKIE_SESSION, "", 0);
            s_finish (req, &lr, NULL, NULL, after_post, &headers);
        }
    } else if (csrf) {
        char want[LOGOUT_CSRF_CHARS + 1];
        const char *confirm = form_get (form, "confirm", 0);
        if (s_csrf (handle, want) != 0)
            pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.check"), &headers);
        else if (!secure_streq (csrf, want))
            pages_error (req, 400, pages_msg (req, "logout.refused.title"), pages_msg (req, "logout.stale"),
                         &headers);
        else if (!confirm || strcmp (confirm, "yes") != 0) {
            html_t page;
            html_init (&page);
            pages_open (&page, req, NULL, pages_msg (req, "logout.kept.title"));
            html_raw (&page, "<p>");
            html_text (&page, pages_msg (req, "logout.kept.text"));
            html_raw (&page, "</p>\n</main>");
            pages_opts_t opts = {.headers = &headers};
            pages_send (req, 200, pages_msg (req, "logout.kept.short"), &page, &opts);
            html_free (&page);
        } else
            s_end (req, handle, &lr, after_post, &headers);
        secure_wipe (want, sizeof want);
    } else if (s_tied (&lr, &session) && !req->head)
        //  RFC 9110 §9.3.2: a HEAD changes nothing; it gets the page a GET
        //  would get without the session ending (the confirmation).
        s_end (req, handle, &lr, after_post, &headers);
    else {
        char token[LOGOUT_CSRF_CHARS + 1];
        if (s_csrf (handle, token) != 0)
            pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.page"), &headers);
        else
            s_confirm_page (req, form, &lr, &session, token, &headers);
        secure_wipe (token, sizeof token);
    }
    secure_wipe (handle, sizeof handle);
    json_decref (reply);
    json_decref (result);
    return req->status;
}

static const form_limits_t s_limits = {.max_total = LOGOUT_MAX_TOTAL,
                                       .max_params = LOGOUT_MAX_PARAMS,
                                       .max_name = 64,
                                       .max_value = LOGOUT_MAX_VALUE};

int
logout_get (gw_req_t *req)
{
    const char *query = req->query ? req->query : "";
    form_status_t status;
    form_t *form = form_parse (query, strlen (query), &s_limits, &status);
    if (!form)
        return pages_form_error (req, pages_msg (req, "logout.refused.title"), status, NULL);
    s_logout (req, form, 0);
    form_destroy (&form);
    return req->status;
}

int
logout_post (gw_req_t *req)
{
    //  RP-Initiated Logout 1.0 §2: POST uses form serialization.
    form_t *form = pages_read_html_form (req, &s_limits);
    if (!form)
        return req->status;
    s_logout (req, form, 1);
    form_destroy (&form);
    return req->status;
}
