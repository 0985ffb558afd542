/*  code - what happens to a stored authorization request while the user
 *  logs in: token.request_get, token.consent_check, and its two ends,
 *  token.issue_code (RFC 6749 §4.1.2) and token.authorize_error (RFC 6749
 *  §4.1.2.1, OpenID Connect Core §3.1.2.6). Either end uses the request up
 *  with one conditional UPDATE, so a request yields one response at most. */
#include "admin_scope.h"
#include "claims.h"
#include "clients.h"
#include "log.h"
#include "secure.h"
#include "service.h"
#include "token_app.h"
#include "token_ops.h"
#include "token_settings.h"
#include "token_store.h"
#include "token_util.h"

#include <stdlib.h>
#include <string.h>

#define DESCRIPTION_MAX 256
#define CODE_BYTES 32

#define DESC_UNKNOWN_REQUEST "the authorization request is unknown, used or expired"
#define DESC_INTERNAL "internal error"
#define DESC_DEADLINE "the request deadline passed"

//  The one description that is not the caller's fault (compared by address).
static const char s_desc_internal[] = DESC_INTERNAL;

//  OpenID Connect Core §3.1.2.6 and RFC 6749 §4.1.2.1: the errors the login
//  flow may end a request with, and the description used when it gives none
//  (or one we cannot pass on).
static const struct {
    const char *code;
    const char *description;
} s_flow_errors[] = {
    {"access_denied", "the user denied the request"},
    {"login_required", "the user must log in"},
    {"consent_required", "the user must consent"},
    {"interaction_required", "the user must interact with the provider"},
    {"account_selection_required", "the user must select an account"},
};

static int
s_store_fail (bus_req_t *req, db_status_t st)
{
    if (st == DB_NOT_FOUND)
        return tu_fail (req, OST_ERR_INVALID_REQUEST, DESC_UNKNOWN_REQUEST);
    return tu_db_fail (req, st);
}

//  A response to the request's redirect URI with params (stolen).
static int
s_redirect (bus_req_t *req, const token_request_t *r, json_t *params, json_t **result)
{
    const token_app_t *app = req->app;
    json_t *redirect = tu_redirect (app->issuer, r->redirect_uri, r->response_mode, r->state, params);
    *result = redirect ? json_pack ("{s:o}", "redirect", redirect) : NULL;
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
}

static int
s_error_redirect (bus_req_t *req, const token_request_t *r, const char *code, const char *description,
                  json_t **result)
{
    return s_redirect (req, r, json_pack ("{s:s, s:s}", "error", code, "error_description", description),
                       result);
}

//  Commits, unless the deadline passed (then nothing of the transaction
//  stays: the caller was told deadline_exceeded by the broker already).
//  0 ok, -1 after failing req.
static int
s_commit (bus_req_t *req, db_t *db)
{
    if (bus_req_expired (req)) {
        db_rollback (db);
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
    }
    db_status_t st = db_commit (db);
    if (st != DB_OK) {
        db_rollback (db);
        return tu_db_fail (req, st);
    }
    return 0;
}

//  ------------------------------------------------------------- request_get

int
token_op_request_get (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_request_get_in_t *in = BUS_IN (req, token_request_get);
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    const char *rid = in->request_id;
    unsigned char hash[TOKEN_HASH_LEN];
    tu_sha256 (rid, hash);
    token_request_t r;
    db_status_t st = token_store_request_get (thread->db, hash, &r);
    if (st != DB_OK)
        return s_store_fail (req, st);
    //  Q (shape request of proto/ops/token.def): the stored details and the bound parts.
    json_t *q = json_deep_copy (r.details);
    int bad = !q;
    bad = bad || json_object_set_new (q, "request_id", json_string (rid));
    bad = bad || json_object_set_new (q, "redirect_uri", json_string (r.redirect_uri));
    bad = bad || json_object_set (q, "scopes", r.scopes);
    json_t *shown = claims_beyond_scopes (r.claims, r.scopes);
    bad = bad || (shown && json_object_set (q, "claims", shown));
    json_decref (shown);
    bad = bad || (r.nonce && json_object_set_new (q, "nonce", json_string (r.nonce)));
    bad = bad || json_object_set_new (q, "expires_at", json_integer (r.expires_at));
    token_request_clear (&r);
    *result = bad ? NULL : json_pack ("{s:o}", "request", q);
    if (!*result) {
        if (bad)
            json_decref (q);
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    }
    return 0;
}

//  ------------------------------------------------------------- authorize_error

//  RFC 6749 §4.1.2.1: error_description is limited to %x20-21 / %x23-5B /
//  %x5D-7E.
static int
s_description_valid (const char *s)
{
    for (; *s; s++)
        if (!(*s == 0x20 || *s == 0x21 || (*s >= 0x23 && *s <= 0x5b) || (*s >= 0x5d && *s <= 0x7e)))
            return 0;
    return 1;
}

int
token_op_authorize_error (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_authorize_error_in_t *in = BUS_IN (req, token_authorize_error);
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    unsigned char hash[TOKEN_HASH_LEN];
    tu_sha256 (in->request_id, hash);
    const char *description = in->error_description;
    size_t k = 0, n = sizeof s_flow_errors / sizeof s_flow_errors[0];
    while (k < n && strcmp (in->error, s_flow_errors[k].code) != 0)
        k++;
    if (k == n)
        return tu_fail (
            req, OST_ERR_INVALID_REQUEST,
            "error must be access_denied, login_required, consent_required, interaction_required or "
            "account_selection_required");
    if (!description || strlen (description) > DESCRIPTION_MAX || !s_description_valid (description) ||
        !*description)
        description = s_flow_errors[k].description;
    if (bus_req_expired (req))
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
    token_request_t r;
    db_status_t st = token_store_request_consume (thread->db, hash, &r);
    if (st != DB_OK)
        return s_store_fail (req, st);
    int rc = s_error_redirect (req, &r, s_flow_errors[k].code, description, result);
    token_request_clear (&r);
    return rc;
}

//  ------------------------------------------------------------- consent

//  Whether the user must be asked: never for first-party clients; for the
//  others when prompt asks for it (OpenID Connect Core §3.1.2.1: "consent
//  ... SHOULD prompt the End-User for consent") or when the scopes were not
//  all granted to this client before. *st reports storage failures.
static int
s_consent_needed (db_t *db, const token_client_t *client, const token_request_t *r, const char *sub,
                  db_status_t *st)
{
    *st = DB_OK;
    if (client->first_party)
        return 0;
    if (tu_has (json_object_get (r->details, "prompt"), "consent"))
        return 1;
    json_t *granted = NULL;
    *st = token_store_consent_get (db, sub, client->client_id, &granted);
    if (*st == DB_NOT_FOUND) {
        *st = DB_OK;
        return 1;
    }
    int needed = *st != DB_OK || !tu_subset (r->scopes, granted);
    json_decref (granted);
    return needed;
}

static int
s_sub_valid (const char *sub)
{
    return *sub && tu_printable (sub, 0);
}

int
token_op_consent_check (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_consent_check_in_t *in = BUS_IN (req, token_consent_check);
    OST_UNUSED (body);
    service_thread_t *thread = req->thread_state;
    unsigned char hash[TOKEN_HASH_LEN];
    tu_sha256 (in->request_id, hash);
    const char *sub = in->sub;
    if (!s_sub_valid (sub))
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "sub is malformed");
    token_request_t r;
    db_status_t st = token_store_request_get (thread->db, hash, &r);
    if (st != DB_OK)
        return s_store_fail (req, st);
    token_client_t client;
    st = token_store_client_get (thread->db, r.client_id, &client);
    int needed = st == DB_OK ? s_consent_needed (thread->db, &client, &r, sub, &st) : 1;
    token_client_clear (&client);
    if (st != DB_OK) {
        token_request_clear (&r);
        return s_store_fail (req, st);
    }
    *result = json_pack ("{s:b, s:O}", "needed", needed, "scopes", r.scopes);
    token_request_clear (&r);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
}

//  ------------------------------------------------------------- issue_code

//  The authenticated session an issue_code body describes.
typedef struct {
    const char *sub;
    const char *sid;
    int64_t auth_time;
    json_t *amr;       //  new reference
    int consent_given; //  consent.granted present
    bool granted;
    bool remember;
} s_session_t;

//  The session of an issue_code request (types and bounds are proto/ops.def's).
static const char *
s_parse_session (const token_issue_code_in_t *in, long skew, s_session_t *s)
{
    memset (s, 0, sizeof *s);
    s->sub = in->sub;
    if (!s_sub_valid (s->sub))
        return "sub is malformed";
    s->sid = in->sid;
    if (s->sid && !tu_printable (s->sid, 0))
        return "sid is malformed";
    //  OpenID Connect Core §2: auth_time in seconds since the epoch, not in
    //  the future (beyond the clock-skew leeway).
    if (in->auth_time > tu_now () + skew)
        return "auth_time must be the time of the authentication in seconds since the epoch";
    s->auth_time = in->auth_time;
    if (in->amr) {
        size_t i;
        const json_t *v;
        json_array_foreach (in->amr, i, v)
        {
            if (json_string_length (v) == 0 || !tu_printable (json_string_value (v), 0))
                return "amr must be a list of short strings";
        }
        s->amr = json_deep_copy (in->amr);
    } else
        s->amr = json_array ();
    if (!s->amr)
        return s_desc_internal;
    shape_consent_t consent;
    if (in->consent && shape_consent_unpack (in->consent, &consent, NULL, 0) == 0) {
        s->consent_given = consent.has_granted;
        s->granted = consent.granted;
        s->remember = consent.remember;
    }
    return NULL;
}

//  After the request was consumed (inside the transaction): the checks that
//  protect the guarantees the client asked for, should the orchestration
//  have skipped one. Returns NULL when a code may be issued; otherwise the
//  error code to send to the client (*redirect_error) or, for a misuse of
//  the op, the bus error description (*redirect_error NULL).
static const char *
s_code_guard (long skew, const token_client_t *client, const token_request_t *r, const s_session_t *s,
              int consent_needed, const char **redirect_error)
{
    *redirect_error = NULL;
    //  The user refused: RFC 6749 §4.1.2.1 access_denied.
    if (!client->first_party && s->consent_given && !s->granted) {
        *redirect_error = "access_denied";
        return "the user denied the request";
    }
    //  OpenID Connect Core §3.1.2.1 (id_token_hint): when the user is not the
    //  one the hint names, the OP SHOULD return an error such as login_required.
    const char *hint_sub = json_string_value (json_object_get (r->details, "id_token_hint_sub"));
    if (hint_sub && strcmp (hint_sub, s->sub) != 0) {
        *redirect_error = "login_required";
        return "the user is not the one id_token_hint names";
    }
    //  Consent must have been given now or remembered from before.
    if (consent_needed && !(s->consent_given && s->granted))
        return "consent is required for this client";
    //  OpenID Connect Core §3.1.2.1: max_age bounds the age of the
    //  authentication; prompt=login demands one made for this request.
    const json_t *max_age = json_object_get (r->details, "max_age");
    if (json_is_integer (max_age) && tu_now () - s->auth_time > json_integer_value (max_age) + skew)
        return "the authentication is older than max_age allows";
    if (tu_has (json_object_get (r->details, "prompt"), "login") && s->auth_time + skew < r->created_at)
        return "prompt login requires an authentication made after the request";
    //  OpenID Connect Core §5.5.1.1: an essential acr the authentication
    //  does not meet is a failed authentication; OpenID Connect Core Unmet
    //  Authentication Requirements 1.0 §2 names the error.
    if (!claims_acr (s->amr, json_string_value (json_object_get (r->details, "acr_values")), r->claims)) {
        *redirect_error = "unmet_authentication_requirements";
        return "the authentication does not meet the essential acr requested";
    }
    return NULL;
}

//  The consent_granted or consent_denied event of the consent page's answer.
static db_status_t
s_consent_audit (db_t *db, const token_issue_code_in_t *in, const token_client_t *client,
                 const token_request_t *r, const s_session_t *s)
{
    json_t *details = json_pack ("{s:o, s:b}", "scopes", r->scopes ? json_incref (r->scopes) : json_array (),
                                 "remember", s->granted && s->remember);
    db_status_t st =
        details
            ? token_store_audit (db, &(audit_record_t){.event = s->granted ? AUDIT_EV_consent_granted
                                                                           : AUDIT_EV_consent_denied,
                                                       .outcome = s->granted ? AUDIT_SUCCESS : AUDIT_REFUSED,
                                                       .actor = "user",
                                                       .subject = s->sub,
                                                       .client_id = client->client_id,
                                                       .address = in->client_ip,
                                                       .details = details})
            : DB_ERROR;
    json_decref (details);
    return st;
}

int
token_op_issue_code (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    db_t *db = thread->db;
    const token_issue_code_in_t *in = BUS_IN (req, token_issue_code);
    OST_UNUSED (body);
    unsigned char hash[TOKEN_HASH_LEN];
    tu_sha256 (in->request_id, hash);
    s_session_t s;
    const char *problem = s_parse_session (in, token_clock_skew (req), &s);
    if (problem) {
        json_decref (s.amr);
        return tu_fail (req, problem == s_desc_internal ? OST_ERR_SERVER_ERROR : OST_ERR_INVALID_REQUEST,
                        problem);
    }
    if (bus_req_expired (req)) {
        json_decref (s.amr);
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
    }

    //  One transaction: the request is consumed, the code stored and the
    //  consent remembered together, or none of it.
    db_status_t st = db_begin (db);
    token_request_t r;
    memset (&r, 0, sizeof r);
    token_client_t client;
    memset (&client, 0, sizeof client);
    //  RFC 6749 §4.1.2: one request, one response. The conditional UPDATE
    //  decides: a second issue_code (or one after authorize_error) finds no row.
    if (st == DB_OK)
        st = token_store_request_consume (db, hash, &r);
    if (st == DB_OK)
        st = token_store_client_get (db, r.client_id, &client);
    int consent_needed = 0;
    if (st == DB_OK)
        consent_needed = s_consent_needed (db, &client, &r, s.sub, &st);
    if (st != DB_OK) {
        db_rollback (db);
        token_request_clear (&r);
        token_client_clear (&client);
        json_decref (s.amr);
        return s_store_fail (req, st);
    }

    int rc;
    const char *redirect_error = NULL;
    problem = s_code_guard (token_clock_skew (req), &client, &r, &s, consent_needed, &redirect_error);
    if (problem && !redirect_error) {
        //  A misuse of the op: nothing happened, the request stays usable.
        db_rollback (db);
        rc = tu_fail (req, OST_ERR_INVALID_REQUEST, problem);
    } else if (problem) {
        //  An error response for the client; the request is used up. A
        //  refused consent is audited with it.
        if (s.consent_given && !s.granted && !client.first_party)
            st = s_consent_audit (db, in, &client, &r, &s);
        if (st != DB_OK) {
            db_rollback (db);
            rc = tu_db_fail (req, st);
        } else
            rc = s_commit (req, db);
        if (rc == 0)
            rc = s_error_redirect (req, &r, redirect_error, problem, result);
    } else {
        //  RFC 6749 §4.1.2, §10.10: 256 random bits, stored as SHA-256.
        char *code = secure_token (CODE_BYTES);
        unsigned char code_hash[TOKEN_HASH_LEN] = {0};
        if (code)
            tu_sha256 (code, code_hash);
        token_code_t c = {
            .redirect_uri = r.redirect_uri,
            .redirect_uri_sent = r.redirect_uri_sent,
            .code_challenge = r.code_challenge,
            .nonce = r.nonce,
            .scopes = r.scopes,
            .sub = (char *)s.sub,
            .sid = (char *)s.sid,
            .auth_time = s.auth_time,
            .amr = s.amr,
            .claims = r.claims,
            //  OpenID Connect Core §2: decided now, from what the session's
            //  authentication did (s_code_guard refused an unmet essential acr).
            .acr = (char *)claims_acr (s.amr, json_string_value (json_object_get (r.details, "acr_values")),
                                       r.claims),
        };
        memcpy (c.client_id, r.client_id, sizeof c.client_id);
        //  The admin scope only for the admin client and a user who holds
        //  the admin role now (admin_scope.h); otherwise the code is issued
        //  without it.
        if (admin_scope_filter (req, client.client_id, s.sub, r.scopes))
            st = DB_ERROR;
        else
            st = code ? token_store_code_insert (db, code_hash, &c, app->code_ttl) : DB_ERROR;
        //  A consent given now and to be remembered covers these scopes from
        //  now on (never for first-party clients, which are not asked).
        if (st == DB_OK && !client.first_party && s.consent_given && s.granted && s.remember)
            st = token_store_consent_put (db, s.sub, client.client_id, r.scopes);
        if (st == DB_OK && !client.first_party && s.consent_given && s.granted)
            st = s_consent_audit (db, in, &client, &r, &s);
        if (st != DB_OK) {
            db_rollback (db);
            rc = tu_db_fail (req, st);
        } else
            rc = s_commit (req, db);
        if (rc == 0)
            rc = s_redirect (req, &r, json_pack ("{s:s}", "code", code), result);
        secure_free_str (&code);
        secure_wipe (code_hash, sizeof code_hash);
    }
    token_request_clear (&r);
    token_client_clear (&client);
    json_decref (s.amr);
    return rc;
}
