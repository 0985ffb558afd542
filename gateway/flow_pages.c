/*  flow_pages - the pages of flow-svc's flow engine (docs/flows.md): every
 *  step of every flow rendered from the state object of flow.get and
 *  flow.submit (proto/ops.md, "flow — the flow engine"), and the pages that
 *  start the flows that do not come from /authorize.
 *
 *    GET/POST /login   the page of the flow in the ostiary_flow cookie
 *    GET/POST /flow    the same page under a neutral name (the start pages
 *                      below send the browser there)
 *    GET /register, /recover, /account/verify-email, /account/totp
 *                      flow.start of registration, recovery, verify-email
 *                      (needs the SSO session) and totp-enrollment (needs
 *                      the SSO session), then 303 to /flow
 *
 *  The gateway decides nothing: flow-svc says which step comes and checks
 *  the CSRF token and the node of each POST (a stale page is refused). The
 *  renderer is one function over the step type; every value it echoes is
 *  escaped, and error codes become fixed sentences. A login flow that ends
 *  with a session goes back into its authorization request (authorize.c). */
#include "authorize.h"
#include "form.h"
#include "log.h"
#include "pages.h"
#include "qr.h"
#include "routes.h"
#include "secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Fields of a step: few and short; a password may be long-ish. The whole
//  input must fit the 8 KiB body of flow.submit (proto/ops.def).
#define FLOW_MAX_PARAMS 12
#define FLOW_MAX_VALUE 1024
#define FLOW_MAX_TOTAL 4096

//  Step errors and field errors (proto/ops.md): each code one fixed
//  sentence, the message "flow.error.<code>"; nothing the service or the
//  user wrote reaches the page. OWASP ASVS V2.1: login_failed is one
//  message for every failed password, whatever the cause (wrong, unknown,
//  disabled or locked).
static const char *const s_error_codes[] = {"login_failed", "invalid_code",  "throttled", "code_locked",
                                            "mismatch",     "weak_password", "taken",     "invalid"};

//  1 for the errors of the step as a whole (a wrong secret, a lockout),
//  said above the form, else 0 (a field's value refused, said at it).
static int
s_step_error (const char *code)
{
    static const char *const step_errors[] = {"login_failed", "invalid_code", "throttled", "code_locked"};
    for (size_t i = 0; code && i < sizeof step_errors / sizeof step_errors[0]; i++)
        if (strcmp (step_errors[i], code) == 0)
            return 1;
    return 0;
}

static const char *
s_message (const gw_req_t *req, const char *code)
{
    for (size_t i = 0; code && i < sizeof s_error_codes / sizeof s_error_codes[0]; i++)
        if (strcmp (s_error_codes[i], code) == 0) {
            char key[64];
            snprintf (key, sizeof key, "flow.error.%s", code);
            return pages_msg (req, key);
        }
    return code ? pages_msg (req, "flow.error.other") : NULL;
}

//  The inputs a step may ask for, by name: label, input type, the HTML
//  autocomplete token (HTML §4.10.18.7.1) and extra attributes. secret:
//  never echoed back into the page.
typedef struct {
    const char *name;
    const char *label; //  its message key
    const char *type;
    const char *autocomplete; //  NULL: "current-password" on the password step, else "new-password"
    const char *attrs;
    int secret;
} s_field_t;

#define ATTR_PLAIN " autocapitalize=\"none\" spellcheck=\"false\""
#define ATTR_CODE " inputmode=\"numeric\" autocapitalize=\"none\" spellcheck=\"false\" maxlength=\"32\""

static const s_field_t s_fields[] = {
    {"username", "field.username", "text", "username", ATTR_PLAIN, 0},
    {"identifier", "field.identifier", "text", "username", ATTR_PLAIN, 0},
    {"login", "field.identifier", "text", "username", ATTR_PLAIN, 0},
    {"email", "field.email", "email", "email", ATTR_PLAIN, 0},
    {"password", "field.password", "password", NULL, "", 1},
    {"new_password", "field.new_password", "password", "new-password", "", 1},
    {"password_confirm", "field.password_confirm", "password", "new-password", "", 1},
    {"password_confirmation", "field.password_confirm", "password", "new-password", "", 1},
    {"confirm", "field.password_confirm", "password", "new-password", "", 1},
    {"password2", "field.password_confirm", "password", "new-password", "", 1},
    {"code", "field.code", "text", "one-time-code", ATTR_CODE, 1},
    {"recovery_code", "field.recovery_code", "text", "one-time-code", ATTR_PLAIN, 1},
};

static const s_field_t s_field_other = {NULL, NULL, "text", "off", ATTR_PLAIN, 1};
static const s_field_t s_field_password = {NULL, "field.password_confirm", "password", "new-password", "", 1};

static const s_field_t *
s_field (const char *name)
{
    for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++)
        if (strcmp (s_fields[i].name, name) == 0)
            return &s_fields[i];
    //  A flow may name its own inputs: anything about a password is still
    //  masked and never echoed.
    return strstr (name, "password") ? &s_field_password : &s_field_other;
}

//  What each step type shows: the message keys of its title, of the text
//  above the form and of the label of its button (its inputs are the
//  step's fields).
typedef struct {
    const char *type;
    const char *title;
    const char *lead;
    const char *button;
} s_step_t;

static const s_step_t s_steps[] = {
    {"password", "step.password.title", NULL, "step.password.button"},
    {"identify", "step.identify.title", "step.identify.lead", "step.identify.button"},
    {"register", "step.register.title", NULL, "step.register.button"},
    {"set_password", "step.set_password.title", NULL, "step.set_password.button"},
    {"totp", "step.totp.title", "step.totp.lead", "step.totp.button"},
    {"totp_enroll", "step.totp_enroll.title", "step.totp_enroll.lead", "step.totp_enroll.button"},
    {"recovery_codes", "step.recovery_codes.title", "step.recovery_codes.lead", "step.recovery_codes.button"},
    {"email_code", "step.email_code.title", NULL, "step.email_code.button"},
    {"magic_link_sent", "step.magic_link_sent.title", NULL, NULL},
    {"webhook_wait", "step.webhook_wait.title", "step.webhook_wait.lead", NULL},
};

static const s_step_t *
s_step (const char *type)
{
    for (size_t i = 0; type && i < sizeof s_steps / sizeof s_steps[0]; i++)
        if (strcmp (s_steps[i].type, type) == 0)
            return &s_steps[i];
    return NULL;
}

//  What a finished flow says, by kind (docs/flows.md "Flows as data"), and
//  where a failed one starts again.
static const struct {
    const char *kind;
    const char *done;    //  its message key
    const char *restart; //  start page, or NULL (login: back to the application)
} s_kinds[] = {
    {"login", "done.login", NULL},
    {"registration", "done.registration", "/register"},
    {"recovery", "done.recovery", "/recover"},
    {"verify_email", "done.verify_email", "/account/verify-email"},
    {"enrollment", "done.enrollment", "/account/totp"},
};

static int
s_is (const char *value, const char *want)
{
    return value && strcmp (value, want) == 0;
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

//  The state of an execution, typed. flow.get and flow.submit answer the
//  same members (FLOW_STATE_OUT, proto/ops/flow.def), so their result
//  structs are alike member for member: each result is unpacked through
//  its own op's table into its member of out, and the pages read out.get
//  (C11 §6.5.2.3: a common initial sequence may be read through either).
typedef struct {
    union {
        flow_get_out_t get;
        flow_submit_out_t submit;
    } out;
    shape_flow_step_t step;      //  out.get.step
    shape_flow_step_data_t data; //  step.data
} s_state_t;

_Static_assert(sizeof (flow_get_out_t) == sizeof (flow_submit_out_t), "one state for get and submit");

//  Reads result, the answer of op (flow.get or flow.submit), into *state
//  (whose strings live in result). 0, or -1 with why.
static int
s_state_unpack (const char *op, const json_t *result, s_state_t *state, char *why, size_t size)
{
    memset (state, 0, sizeof *state);
    int rc = strcmp (op, "flow.submit") == 0 ? flow_submit_out_unpack (result, &state->out.submit, why, size)
                                             : flow_get_out_unpack (result, &state->out.get, why, size);
    if (rc == 0)
        rc = shape_flow_step_unpack (state->out.get.step, &state->step, why, size);
    if (rc == 0)
        rc = shape_flow_step_data_unpack (state->step.data, &state->data, why, size);
    return rc;
}

//  flow.get of handle: 0 with *reply and *state (which lives in *reply),
//  or -1 after answering.
static int
s_get (gw_req_t *req, const char *handle, json_t **reply, s_state_t *state, pages_headers_t *headers)
{
    flow_get_in_t in = {.flow = handle};
    json_t *body = flow_get_in_pack (&in);
    int rc = pages_flow_call (req, "flow.get", body, reply, headers);
    json_decref (body);
    char why[SCHEMA_WHY_MAX];
    if (rc == 0 && s_state_unpack ("flow.get", *reply, state, why, sizeof why) != 0) {
        json_decref (*reply);
        *reply = NULL;
        s_unexpected (req, "flow.get", why, headers);
        return -1;
    }
    return rc;
}

//  token.request_get of a login flow's request: 0 with *reply and *q (which
//  lives in *reply), or -1 after answering.
static int
s_request_get (gw_req_t *req, const char *request_id, json_t **reply, shape_request_t *q,
               pages_headers_t *headers)
{
    token_request_get_in_t in = {.request_id = request_id};
    json_t *body = token_request_get_in_pack (&in);
    int rc = pages_flow_call (req, "token.request_get", body, reply, headers);
    json_decref (body);
    if (rc != 0)
        return -1;
    token_request_get_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (token_request_get_out_unpack (*reply, &out, why, sizeof why) != 0 ||
        shape_request_unpack (out.request, q, why, sizeof why) != 0) {
        json_decref (*reply);
        *reply = NULL;
        s_unexpected (req, "token.request_get", why, headers);
        return -1;
    }
    return 0;
}

//  Wipes every string of object (typed passwords and codes) before it is
//  freed.
static void
s_wipe_strings (json_t *object)
{
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value)
    {
        if (json_is_string (value))
            secure_wipe ((char *)json_string_value (value), json_string_length (value));
    }
}

static form_t *
s_read_form (gw_req_t *req)
{
    form_limits_t limits = {.max_total = FLOW_MAX_TOTAL,
                            .max_params = FLOW_MAX_PARAMS,
                            .max_name = 64,
                            .max_value = FLOW_MAX_VALUE};
    return pages_read_html_form (req, &limits);
}

//  ---------------------------------------------------------------------------
//  Rendering

//  Everything one rendering of a step needs.
typedef struct {
    const char *path;         //  the page's own path ("/login" or "/flow")
    const s_state_t *state;   //  flow.get / flow.submit answer
    const shape_request_t *q; //  its authorization request (login flows), or NULL
    const char *form_action;  //  CSP source of the client's redirect URI, or NULL
    const form_t *typed;      //  the form just posted (to keep what was typed), or NULL
} s_view_t;

static void
s_error_line (html_t *body, const char *message)
{
    html_raw (body, "<p class=\"error\" role=\"alert\">");
    html_text (body, message);
    html_raw (body, "</p>\n");
}

static void
s_form_open (html_t *body, gw_req_t *req, const char *path, const s_state_t *state)
{
    pages_form_open (body, req, path, state->out.get.csrf);
    //  The node tells flow-svc which step this page showed: a POST of a
    //  stale page (another tab moved on) is refused, not applied elsewhere.
    html_raw (body, "<input type=\"hidden\" name=\"node\" value=\"");
    html_text (body, state->out.get.node);
    html_raw (body, "\">\n");
}

//  One input of the step. value: what to prefill (never for secrets).
static void
s_input (html_t *body, const gw_req_t *req, const char *step_type, const char *name, const char *value,
         const char *error, int first)
{
    const s_field_t *f = s_field (name);
    const char *autocomplete = f->autocomplete;
    if (!autocomplete)
        autocomplete = s_is (step_type, "password") ? "current-password" : "new-password";
    html_raw (body, "<label for=\"");
    html_text (body, name);
    html_raw (body, "\">");
    html_text (body, f->label ? pages_msg (req, f->label) : name);
    html_raw (body, "</label>\n<input type=\"");
    html_raw (body, f->type);
    html_raw (body, "\" id=\"");
    html_text (body, name);
    html_raw (body, "\" name=\"");
    html_text (body, name);
    html_raw (body, "\" autocomplete=\"");
    html_raw (body, autocomplete);
    html_raw (body, "\"");
    html_raw (body, f->attrs);
    html_raw (body, first ? " required autofocus" : " required");
    if (error) {
        html_raw (body, " aria-invalid=\"true\" aria-describedby=\"");
        html_text (body, name);
        html_raw (body, "-error\"");
    }
    if (value && !f->secret) {
        html_raw (body, " value=\"");
        html_text (body, value);
        html_raw (body, "\"");
    }
    html_raw (body, ">\n");
    if (error) {
        html_raw (body, "<p class=\"error field-error\" id=\"");
        html_text (body, name);
        html_raw (body, "-error\">");
        html_text (body, s_message (req, error));
        html_raw (body, "</p>\n");
    }
}

static void
s_client_line (html_t *body, const gw_req_t *req, const shape_request_t *q)
{
    html_raw (body, "<p>");
    html_text_with (body, pages_msg (req, "client.continue_to"), "client", q->client_name, "strong");
    html_raw (body, "</p>\n");
}

//  totp_enroll: the otpauth URI as a QR code and as text, and the base32
//  secret for manual entry (Key Uri Format of Google Authenticator).
static void
s_totp_enroll (html_t *body, const gw_req_t *req, const shape_flow_step_data_t *data)
{
    const char *uri = data->otpauth_uri;
    const char *secret = data->secret;
    char *svg = uri ? qr_svg (uri) : NULL;
    if (svg) {
        //  Markup we built from libqrencode's modules: no text of the URI in it.
        html_raw (body, svg);
        html_raw (body, "\n");
        free (svg);
    }
    if (secret) {
        html_raw (body, "<label>");
        html_text (body, pages_msg (req, "totp.secret"));
        html_raw (body, "</label>\n<pre id=\"totp-secret\">");
        html_text (body, secret);
        html_raw (body, "</pre>\n");
    }
    if (uri) {
        html_raw (body, "<label>");
        html_text (body, pages_msg (req, "totp.uri"));
        html_raw (body, "</label>\n<pre id=\"otpauth-uri\">");
        html_text (body, uri);
        html_raw (body, "</pre>\n");
    }
}

static void
s_recovery_codes (html_t *body, const gw_req_t *req, const shape_flow_step_data_t *data)
{
    const json_t *codes = data->codes;
    if (codes && json_array_size (codes) > 0) {
        html_raw (body, "<ul class=\"codes\" id=\"recovery-codes\">\n");
        size_t i;
        json_t *code;
        json_array_foreach (codes, i, code)
        {
            html_raw (body, "<li><code>");
            html_text (body, json_string_value (code));
            html_raw (body, "</code></li>\n");
        }
        html_raw (body, "</ul>\n");
    } else {
        //  A reload: the codes were shown once, in the answer that made them.
        html_raw (body, "<p>");
        html_text (body, pages_msg (req, "recovery_codes.shown"));
        html_raw (body, "</p>\n");
    }
}

static const char *
s_kind_done (const char *kind)
{
    for (size_t i = 0; kind && i < sizeof s_kinds / sizeof s_kinds[0]; i++)
        if (strcmp (s_kinds[i].kind, kind) == 0)
            return s_kinds[i].done;
    return "done.other";
}

static const char *
s_kind_restart (const char *kind)
{
    for (size_t i = 0; kind && i < sizeof s_kinds / sizeof s_kinds[0]; i++)
        if (strcmp (s_kinds[i].kind, kind) == 0)
            return s_kinds[i].restart;
    return NULL;
}

static void
s_link (html_t *body, gw_req_t *req, const char *path, const char *text)
{
    char url[2048];
    if (pages_url (req, path, url, sizeof url) != 0)
        return;
    html_raw (body, "<p><a href=\"");
    html_text (body, url);
    html_raw (body, "\">");
    html_text (body, text);
    html_raw (body, "</a></p>\n");
}

//  Where a new account goes next: back to the application whose sign-in
//  page offered the registration (its authorization request, while it
//  lasts, continues at /register/continue), else the account page.
static void
s_onward (html_t *body, gw_req_t *req)
{
    char request_id[PAGES_MAX_COOKIE + 1];
    if (pages_get_cookie (req, COOKIE_RETURN, request_id, sizeof request_id) == 0 && request_id[0]) {
        html_raw (body, "<p><a class=\"button\" id=\"onward\" href=\"");
        char url[2048];
        if (pages_url (req, "/register/continue", url, sizeof url) == 0)
            html_text (body, url);
        html_raw (body, "\">");
        html_text (body, pages_msg (req, "register.onward.app"));
        html_raw (body, "</a></p>\n");
        return;
    }
    html_raw (body, "<p><a class=\"button\" id=\"onward\" href=\"");
    char url[2048];
    if (pages_url (req, "/account/sessions", url, sizeof url) == 0)
        html_text (body, url);
    html_raw (body, "\">");
    html_text (body, pages_msg (req, "register.onward.account"));
    html_raw (body, "</a></p>\n");
}

//  Renders the step of v->state, or the end of the flow. Returns the status.
static int
s_render (gw_req_t *req, const s_view_t *v, pages_headers_t *headers)
{
    const s_state_t *state = v->state;
    const shape_flow_step_t *step = &state->step;
    const char *status = state->out.get.status;
    const char *kind = state->out.get.kind;
    const char *type = step->type;
    const shape_flow_step_data_t *data = &state->data;
    int login = s_is (kind, "login");
    int ended =
        s_is (status, "succeeded") || s_is (status, "failed") || s_is (type, "done") || s_is (type, "failed");
    pages_opts_t opts = {.form_action = v->form_action, .headers = headers};
    html_t body;
    html_init (&body);
    const char *title;

    if (ended) {
        int failed = s_is (status, "failed") || s_is (type, "failed");
        title = pages_msg (req, failed  ? "flow.failed.title"
                                : login ? "flow.signed_in.title"
                                        : "flow.done.title");
        pages_open (&body, req, NULL, title);
        //  Recovery codes made by the very submit that ended the flow are
        //  shown now or never (proto/ops.md: only in that answer).
        if (!failed && data->codes)
            s_recovery_codes (&body, req, data);
        if (failed) {
            //  A failed step may say why (proto/ops.md): a second factor
            //  locked after too many wrong codes.
            const char *why = step->error;
            s_error_line (&body, s_is (why, "code_locked") ? s_message (req, why)
                                                           : pages_msg (req, "flow.failed.text"));
            const char *restart = s_kind_restart (kind);
            if (restart)
                s_link (&body, req, restart, pages_msg (req, "flow.start_again"));
            else {
                html_raw (&body, "<p>");
                html_text (&body, pages_msg (req, "flow.back_to_app"));
                html_raw (&body, "</p>\n");
            }
            pages_set_cookie (headers, req, COOKIE_FLOW, "", 0);
        } else if (login) {
            //  docs/flows.md: a login completed through an action token
            //  elsewhere has no session yet; this browser, which holds the
            //  flow handle, gets it with its next flow.submit.
            html_raw (&body, "<p id=\"done\">");
            html_text (&body, pages_msg (req, s_kind_done (kind)));
            html_raw (&body, "</p>\n");
            if (v->q)
                s_client_line (&body, req, v->q);
            s_form_open (&body, req, v->path, state);
            html_raw (&body, "<button type=\"submit\" id=\"continue\">");
            html_text (&body, pages_msg (req, "flow.continue"));
            html_raw (&body, "</button>\n</form>\n");
        } else {
            html_raw (&body, "<p id=\"done\">");
            html_text (&body, pages_msg (req, s_kind_done (kind)));
            html_raw (&body, "</p>\n");
            if (s_is (kind, "registration"))
                s_onward (&body, req);
            pages_set_cookie (headers, req, COOKIE_FLOW, "", 0);
        }
        html_raw (&body, "</main>");
        int rc = pages_send (req, 200, title, &body, &opts);
        html_free (&body);
        return rc;
    }

    const s_step_t *def = s_step (type);
    if (!def) {
        log_error ("flow step of unknown type %s", type);
        return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.unexpected"),
                            headers);
    }
    title = def->title;
    const char *lead = def->lead;
    if (login && s_is (type, "identify")) {
        //  A login that starts with the identifier (a magic link, say) is
        //  still a sign-in; the recovery wording would mislead.
        title = "step.identify_login.title";
        lead = "step.identify_login.lead";
    }
    title = pages_msg (req, title);
    pages_open (&body, req, NULL, title);
    if (login && v->q)
        s_client_line (&body, req, v->q);
    if (lead) {
        html_raw (&body, "<p>");
        html_text (&body, pages_msg (req, lead));
        html_raw (&body, "</p>\n");
    }
    const char *hint = data->email_hint;
    if (s_is (type, "email_code") || s_is (type, "magic_link_sent")) {
        html_raw (&body, "<p>");
        html_text_with (
            &body,
            pages_msg (req, s_is (type, "email_code") ? "flow.email_code.sent" : "flow.magic_link.sent"),
            "email", hint && *hint ? hint : pages_msg (req, "flow.email.your_address"),
            "strong id=\"email-hint\"");
        html_raw (&body, "</p>\n");
    }
    //  Each error is said once: a wrong password or code above the form (an
    //  alert), a value the form refused at its field.
    const char *error = step->error;
    int step_error = s_step_error (error);
    if (error && (step_error || json_object_size (step->field_errors) == 0))
        s_error_line (&body, s_message (req, error));
    //  Attempts count against guessing a secret: said after a wrong code,
    //  never after a value a form refused (a sign-up form's password).
    if (s_is (error, "invalid_code")) {
        char count[32];
        snprintf (count, sizeof count, "%lld", (long long)step->attempts_left);
        html_raw (&body, "<p><small>");
        html_text_with (&body, pages_msg (req, "flow.attempts_left"), "count", count, NULL);
        html_raw (&body, "</small></p>\n");
    }
    if (s_is (type, "totp_enroll"))
        s_totp_enroll (&body, req, data);
    else if (s_is (type, "recovery_codes"))
        s_recovery_codes (&body, req, data);

    if (def->button) {
        s_form_open (&body, req, v->path, state);
        //  recovery_codes takes no input: its button says the codes are kept.
        size_t count = s_is (type, "recovery_codes") ? 0 : json_array_size (step->fields);
        for (size_t i = 0; i < count; i++) {
            const char *name = json_string_value (json_array_get (step->fields, i));
            //  What was typed stays (secrets excepted); OpenID Connect Core
            //  §3.1.2.1 login_hint prefills the username of a login.
            const char *value = v->typed ? form_get (v->typed, name, 0) : NULL;
            if (!value && s_is (name, "username"))
                value = state->out.get.login_hint;
            //  field_errors maps a field's name to its error code.
            const char *field_error = json_string_value (json_object_get (step->field_errors, name));
            if (step_error && s_is (field_error, error))
                field_error = NULL;
            s_input (&body, req, type, name, value, field_error, i == 0);
        }
        html_raw (&body, "<button type=\"submit\" id=\"");
        html_raw (&body, s_is (type, "password") ? "sign-in" : "submit");
        html_raw (&body, "\">");
        html_text (&body, pages_msg (req, def->button));
        html_raw (&body, "</button>\n</form>\n");
    } else
        opts.refresh = 3;
    if ((s_is (type, "identify") && !login) || (s_is (type, "password") && !login))
        s_link (&body, req, "/register", pages_msg (req, "flow.create_account"));
    else if (login && v->q && (s_is (type, "identify") || s_is (type, "password"))) {
        //  A registration started here comes back to this application.
        char path[256];
        if (snprintf (path, sizeof path, "/register?request=%s&ui_locales=%s", v->q->request_id, req->lang) <
            (int)sizeof path)
            s_link (&body, req, path, pages_msg (req, "flow.create_account"));
    }
    if (s_is (type, "password"))
        s_link (&body, req, "/recover", pages_msg (req, "flow.forgot_password"));
    html_raw (&body, "</main>");
    //  A failed attempt is answered 200 like the first rendering: the page
    //  is the answer, and the status says nothing an observer could use.
    int rc = pages_send (req, 200, title, &body, &opts);
    html_free (&body);
    return rc;
}

//  Shows state on the page at path: loads the authorization request of a
//  login flow (its client's name and CSP origin), sends the consent and
//  account pages' flows to their pages. Returns the status.
static int
s_show (gw_req_t *req, const char *path, const s_state_t *state, const form_t *typed,
        pages_headers_t *headers)
{
    //  The flow's language, for all its pages (flow.start locale).
    pages_use_lang (req, state->out.get.locale);
    if (s_is (state->out.get.status, "expired"))
        return pages_flow_expired (req, headers);
    const char *purpose = state->out.get.purpose;
    if (s_is (purpose, "consent") || s_is (purpose, "select_account")) {
        char url[2048];
        if (pages_url (req, s_is (purpose, "consent") ? "/consent" : "/select-account", url, sizeof url) != 0)
            return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.issuer"),
                                headers);
        return pages_redirect (req, 303, url, headers);
    }
    s_view_t v = {.path = path, .state = state, .typed = typed};
    json_t *reply = NULL;
    shape_request_t q;
    char form_action[512] = "";
    const char *request_id = state->out.get.request_id;
    if (s_is (state->out.get.kind, "login") && request_id) {
        if (s_request_get (req, request_id, &reply, &q, headers) != 0)
            return req->status;
        v.q = &q;
        //  The POST of this page may end in a redirect to the client: CSP
        //  form-action must allow its origin (CSP3 §6.3.1 follows redirects).
        authz_form_action (v.q, form_action, sizeof form_action);
        v.form_action = form_action[0] ? form_action : NULL;
    }
    s_render (req, &v, headers);
    json_decref (reply);
    return req->status;
}

//  ---------------------------------------------------------------------------
//  The flow page: GET and POST /login and /flow

static int
s_page_get (gw_req_t *req, const char *path)
{
    pages_headers_t headers = {.count = 0};
    char handle[PAGES_MAX_COOKIE + 1];
    if (pages_get_cookie (req, COOKIE_FLOW, handle, sizeof handle) != 0)
        return pages_flow_expired (req, &headers);
    json_t *reply = NULL;
    s_state_t state;
    if (s_get (req, handle, &reply, &state, &headers) != 0)
        return req->status;
    s_show (req, path, &state, NULL, &headers);
    json_decref (reply);
    return req->status;
}

//  A login flow that issued a session (state.result): the SSO cookie, then
//  back into the authorization request, exactly as a password login always
//  did (authorize.c decides consent and the code).
static int
s_login_succeeded (gw_req_t *req, const s_state_t *state, pages_headers_t *headers)
{
    shape_flow_result_t result;
    char why[SCHEMA_WHY_MAX];
    if (shape_flow_result_unpack (state->out.get.result, &result, why, sizeof why) != 0)
        return s_unexpected (req, "flow.submit", why, headers);
    const char *request_id = state->out.get.request_id;
    if (!request_id)
        return s_unexpected (req, "flow.submit", "a login flow's state without request_id", headers);
    //  The SSO session: its cookie lives as long as the session does. The
    //  handle is 43 characters (proto/ops/flow.def): a cookie value
    //  pages_get_cookie reads back.
    long max_age = (long)(result.expires_at - (int64_t)time (NULL));
    if (max_age > req->gw->cfg->session_ttl)
        max_age = req->gw->cfg->session_ttl;
    pages_set_cookie (headers, req, COOKIE_SESSION, result.session, max_age > 0 ? max_age : 0);
    pages_set_cookie (headers, req, COOKIE_FLOW, "", 0);

    json_t *reply = NULL;
    shape_request_t q;
    if (s_request_get (req, request_id, &reply, &q, headers) == 0) {
        //  The session the flow issued, as authorize.c reads a session.
        shape_session_t session = {.sid = result.sid,
                                   .sub = result.sub,
                                   .auth_time = result.auth_time,
                                   .has_auth_time = true,
                                   .amr = result.amr,
                                   .expires_at = result.expires_at,
                                   .has_expires_at = true};
        authz_continue (req, &q, &session, result.session, 1, headers);
    }
    json_decref (reply);
    return req->status;
}

//  The input of a step: the fields the step names (proto/ops.md
//  step.fields), or every field but csrf and node when it names none.
static json_t *
s_input_of (const form_t *form, const shape_flow_step_t *step)
{
    json_t *input = json_object ();
    if (!input)
        return NULL;
    size_t i;
    json_t *name;
    json_array_foreach (step->fields, i, name)
    {
        const char *value = form_get (form, json_string_value (name), 0);
        if (value)
            json_object_set_new (input, json_string_value (name), json_string (value));
    }
    return input;
}

static int
s_page_post (gw_req_t *req, const char *path)
{
    pages_headers_t headers = {.count = 0};
    form_t *form = s_read_form (req);
    if (!form)
        return req->status;
    char handle[PAGES_MAX_COOKIE + 1];
    if (pages_get_cookie (req, COOKIE_FLOW, handle, sizeof handle) != 0) {
        form_destroy (&form);
        return pages_flow_expired (req, &headers);
    }
    //  The current step: which fields it takes, and its node when the form
    //  has none (POST /login with username, password and csrf only).
    json_t *current_reply = NULL;
    s_state_t current;
    if (s_get (req, handle, &current_reply, &current, &headers) != 0) {
        form_destroy (&form);
        return req->status;
    }
    const char *csrf = form_get (form, "csrf", 0);
    const char *node = form_get (form, "node", 0);
    json_t *input = s_input_of (form, &current.step);
    flow_submit_in_t in = {.flow = handle,
                           .csrf = csrf ? csrf : "",
                           .node = node ? node : current.out.get.node,
                           .input = input,
                           .client_ip = http_client_ip (req)};
    json_t *body = input ? flow_submit_in_pack (&in) : NULL;
    if (!body) {
        s_wipe_strings (input);
        json_decref (input);
        json_decref (current_reply);
        form_destroy (&form);
        return pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"),
                            &headers);
    }
    json_t *reply = NULL;
    s_state_t state = {0};
    bus_error_t error;
    char why[SCHEMA_WHY_MAX];
    int rc = http_bus_call (req, "flow.submit", body, &reply, &error);
    s_wipe_strings (input);
    json_decref (input);
    json_decref (body);
    if (rc != 0) {
        if (error.err == OST_ERR_LOGIN_FAILED) {
            //  The same page with the one message, whatever the cause.
            current.step.error = proto_err (OST_ERR_LOGIN_FAILED)->code;
            s_show (req, path, &current, form, &headers);
        } else if (error.err == OST_ERR_INVALID_FLOW)
            pages_flow_expired (req, &headers);
        else
            pages_bus_error (req, &error, &headers);
    } else if (s_state_unpack ("flow.submit", reply, &state, why, sizeof why) != 0)
        s_unexpected (req, "flow.submit", why, &headers);
    else if (s_is (state.out.get.kind, "login") && state.out.get.result)
        s_login_succeeded (req, &state, &headers);
    else
        s_show (req, path, &state, form, &headers);
    //  The result's session handle is in there.
    s_wipe_strings ((json_t *)state.out.get.result);
    json_decref (reply);
    json_decref (current_reply);
    form_destroy (&form);
    return req->status;
}

int
login_get (gw_req_t *req)
{
    return s_page_get (req, "/login");
}

int
login_post (gw_req_t *req)
{
    return s_page_post (req, "/login");
}

int
flow_get (gw_req_t *req)
{
    return s_page_get (req, "/flow");
}

int
flow_post (gw_req_t *req)
{
    return s_page_post (req, "/flow");
}

//  ---------------------------------------------------------------------------
//  Start pages

//  A page that needs the SSO session, opened without one: says so, with a
//  way to sign in (the demo relying party, in development mode only: in
//  production, signing in always starts at an application).
static int
s_sign_in_first (gw_req_t *req, pages_headers_t *headers)
{
    html_t body;
    html_init (&body);
    pages_open (&body, req, NULL, pages_msg (req, "signin_first.title"));
    s_error_line (&body, pages_msg (req, "signin_first.text"));
    if (strcmp (req->gw->cfg->mode, "development") == 0)
        s_link (&body, req, "/demo", pages_msg (req, "signin_first.link"));
    else {
        html_raw (&body, "<p>");
        html_text (&body, pages_msg (req, "signin_first.how"));
        html_raw (&body, "</p>\n");
    }
    html_raw (&body, "</main>");
    pages_opts_t opts = {.headers = headers};
    //  OpenID Connect Core §3.1.2.6 login_required is a 400 in our error
    //  table; never a redirect.
    int rc = pages_send (req, 400, pages_msg (req, "signin_first.title"), &body, &opts);
    html_free (&body);
    return rc;
}

static int s_start_with (gw_req_t *req, const char *name, int need_session, const char *return_request);

//  flow.start of flow name (with the SSO session when need_session), the
//  flow cookie, and a 303 to /flow.
static int
s_start (gw_req_t *req, const char *name, int need_session)
{
    return s_start_with (req, name, need_session, NULL);
}

//  s_start of a flow without session that sets COOKIE_RETURN to
//  return_request, or clears it when that is empty.
static int
s_start_returning (gw_req_t *req, const char *name, const char *return_request)
{
    return s_start_with (req, name, 0, return_request);
}

static int
s_start_with (gw_req_t *req, const char *name, int need_session, const char *return_request)
{
    pages_headers_t headers = {.count = 0};
    char session[PAGES_MAX_COOKIE + 1];
    int has_session = pages_get_cookie (req, COOKIE_SESSION, session, sizeof session) == 0;
    if (need_session && !has_session)
        return s_sign_in_first (req, &headers);
    flow_start_in_t in = {.flow = name,
                          .session = need_session ? session : NULL,
                          .client_ip = http_client_ip (req),
                          .locale = req->lang};
    json_t *body = flow_start_in_pack (&in);
    if (!body)
        return pages_error (req, 503, pages_msg (req, "error.title"), pages_msg (req, "error.memory"),
                            &headers);
    json_t *state = NULL;
    bus_error_t error;
    int rc = http_bus_call (req, "flow.start", body, &state, &error);
    json_decref (body);
    if (rc != 0) {
        if (error.err == OST_ERR_LOGIN_REQUIRED) {
            //  The session expired or was revoked: its cookie goes too.
            pages_set_cookie (&headers, req, COOKIE_SESSION, "", 0);
            return s_sign_in_first (req, &headers);
        }
        return pages_bus_error (req, &error, &headers);
    }
    //  The flow handle is 43 characters (proto/ops/flow.def): a cookie value
    //  pages_get_cookie reads back.
    flow_start_out_t started;
    char why[SCHEMA_WHY_MAX];
    if (flow_start_out_unpack (state, &started, why, sizeof why) != 0) {
        json_decref (state);
        return s_unexpected (req, "flow.start", why, &headers);
    }
    long max_age = (long)(started.expires_at - (int64_t)time (NULL));
    pages_set_cookie (&headers, req, COOKIE_FLOW, started.flow, max_age > 0 ? max_age : 60);
    if (return_request)
        pages_set_cookie (&headers, req, COOKIE_RETURN, return_request,
                          return_request[0] ? (max_age > 0 ? max_age : 60) : 0);
    json_decref (state);
    char url[2048];
    if (pages_url (req, "/flow", url, sizeof url) != 0)
        return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.issuer"),
                            &headers);
    //  RFC 9110 §15.4.4: 303 makes the browser GET the flow's page.
    return pages_redirect (req, 303, url, &headers);
}

//  Longest authorization request id (proto/ops.md flow.start request_id).
#define REQUEST_ID_MAX 128

//  1 when id is 1 to REQUEST_ID_MAX characters a cookie of ours may hold
//  ([A-Za-z0-9._~-], as token-svc's request ids), else 0.
static int
s_request_id_ok (const char *id)
{
    size_t len = id ? strlen (id) : 0;
    if (len == 0 || len > REQUEST_ID_MAX)
        return 0;
    return strspn (id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-") == len;
}

//  GET /register[?request=ID]: a registration; with the authorization
//  request of the sign-in page that offered it, which the finished
//  registration continues to (COOKIE_RETURN; any older one goes).
int
register_get (gw_req_t *req)
{
    const char *query = req->query ? req->query : "";
    form_limits_t limits = {.max_total = 512, .max_params = 4, .max_name = 16, .max_value = REQUEST_ID_MAX};
    form_status_t status;
    form_t *form = form_parse (query, strlen (query), &limits, &status);
    const char *request_id = form ? form_get (form, "request", 1) : NULL;
    char keep[REQUEST_ID_MAX + 1] = "";
    if (s_request_id_ok (request_id))
        snprintf (keep, sizeof keep, "%s", request_id);
    //  The sign-in page that links here passes its language on.
    pages_use_lang (req, form ? form_get (form, "ui_locales", 1) : NULL);
    form_destroy (&form);
    return s_start_returning (req, "registration", keep);
}

//  GET /register/continue: the authorization request COOKIE_RETURN names
//  goes on with a sign-in (the new account's), as /authorize would.
int
register_continue_get (gw_req_t *req)
{
    pages_headers_t headers = {.count = 0};
    char request_id[PAGES_MAX_COOKIE + 1];
    if (pages_get_cookie (req, COOKIE_RETURN, request_id, sizeof request_id) != 0 ||
        !s_request_id_ok (request_id))
        return pages_error (req, 400, pages_msg (req, "register.nothing.title"),
                            pages_msg (req, "register.nothing.text"), &headers);
    pages_set_cookie (&headers, req, COOKIE_RETURN, "", 0);
    json_t *reply = NULL;
    shape_request_t q;
    if (s_request_get (req, request_id, &reply, &q, &headers) != 0)
        return req->status;
    authz_start_flow (req, &q, "login", NULL, &headers);
    json_decref (reply);
    return req->status;
}

int
recover_get (gw_req_t *req)
{
    return s_start (req, "recovery", 0);
}

int
verify_email_get (gw_req_t *req)
{
    return s_start (req, "verify-email", 1);
}

int
account_totp_get (gw_req_t *req)
{
    return s_start (req, "totp-enrollment", 1);
}
