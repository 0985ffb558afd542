/*  logout - token.logout_check: the end-session request of OpenID Connect
 *  RP-Initiated Logout 1.0 §2, checked before the gateway ends anything.
 *
 *  Every refusal is a page_error: a request whose hint or
 *  post_logout_redirect_uri we could not validate never sends the browser
 *  anywhere (§3: "the OP MUST NOT perform post-logout redirection" to an
 *  unregistered URI; §4: an invalid request is shown to the user). */
#include "clients.h"
#include "form.h"
#include "grants.h"
#include "jws.h"
#include "log.h"
#include "secure.h"
#include "service.h"
#include "token_app.h"
#include "token_jwks.h"
#include "token_ops.h"
#include "token_store.h"
#include "token_util.h"

#include <string.h>

#define REDIRECT_URI_MAX 2048
#define STATE_MAX 2048
#define HINT_MAX 512
#define LOCALES_MAX 256
#define SUB_MAX 255
#define REPEATED_MAX 64

#define DESC_INTERNAL "internal error"

//  The parameters of §2 whose repetition is refused.
static const char *const s_known[] = {
    "id_token_hint", "logout_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales",
};

//  A refusal shown on a page: reason (proto/page_errors.def) for the user's
//  page, description for logs and tools.
static int
s_page_error (bus_req_t *req, json_t **result, ost_page_err_t reason, const char *description)
{
    *result = json_pack ("{s:{s:s, s:s, s:s}}", "page_error", "error", "invalid_request", "error_description",
                         description, "reason", proto_page_err (reason));
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
}

//  A string parameter without control characters (C0, DEL, C1): what a page
//  may show.
static tu_get_t
s_text (const json_t *params, const char *name, size_t max, const char **out)
{
    tu_get_t got = tu_string (params, name, max, out);
    if (got != TU_OK)
        return got;
    if (!**out)
        return TU_ABSENT;
    for (const unsigned char *p = (const unsigned char *)*out; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return TU_BAD;
    return TU_OK;
}

//  A registered client into *client: 1, 0 unknown, -1 after failing req.
static int
s_client (bus_req_t *req, const char *client_id, token_client_t *client)
{
    service_thread_t *thread = req->thread_state;
    db_status_t st = token_store_client_get (thread->db, client_id, client);
    if (st == DB_NOT_FOUND)
        return 0;
    if (st != DB_OK)
        return tu_db_fail (req, st);
    return 1;
}

//  RP-Initiated Logout 1.0 §2 id_token_hint: an ID token this OP issued,
//  its signature checked against our JWKS and its iss ours. Its exp is not
//  checked: the hint is typically sent after the ID token expired, and
//  "the OP SHOULD accept ID Tokens when the RP identified by the ID Token's
//  aud claim and/or sid claim has a current session or had a recent session
//  at the OP, even when the exp time has passed". An access token or a
//  logout token (typ other than JWT) is never taken for one (RFC 8725
//  §3.11). Returns 0 with *parts, 1 invalid, 2 keys unavailable.
static int
s_check_hint (bus_req_t *req, const token_app_t *app, const char *hint, jws_parts_t **parts)
{
    service_thread_t *thread = req->thread_state;
    int timeout = tu_time_left_ms (req);
    if (timeout <= 0)
        return 2;
    token_jwt_status_t st = token_jwt_verify (app->jwks, thread->bus, timeout, hint, "JWT", NULL, parts);
    if (st == TOKEN_JWT_UNAVAILABLE)
        return 2;
    if (st != TOKEN_JWT_OK)
        return 1;
    const json_t *claims = (*parts)->claims;
    const char *iss = NULL, *sub = NULL;
    if (tu_string (claims, "iss", 2048, &iss) != TU_OK || strcmp (iss, app->issuer) != 0 ||
        tu_string (claims, "sub", SUB_MAX, &sub) != TU_OK || !*sub || json_object_get (claims, "events")) {
        jws_parts_destroy (parts);
        return 1;
    }
    return 0;
}

//  Whether the hint's audience names client_id (OpenID Connect Core §2:
//  aud is a string or an array of strings).
static int
s_aud_has (const json_t *claims, const char *client_id)
{
    const json_t *aud = json_object_get (claims, "aud");
    return json_is_string (aud) ? strcmp (json_string_value (aud), client_id) == 0 : tu_has (aud, client_id);
}

//  The client an ID token was issued to: aud when it is one string, else
//  azp (Core §2: the party to which it was issued when there are several).
static const char *
s_hint_client (const json_t *claims)
{
    const json_t *aud = json_object_get (claims, "aud");
    if (json_is_string (aud))
        return json_string_value (aud);
    if (json_is_array (aud) && json_array_size (aud) == 1 && json_is_string (json_array_get (aud, 0)))
        return json_string_value (json_array_get (aud, 0));
    const char *azp = NULL;
    return tu_string (claims, "azp", TOKEN_CLIENT_ID_MAX, &azp) == TU_OK && s_aud_has (claims, azp) ? azp
                                                                                                    : NULL;
}

static int
s_repeated_ok (const json_t *repeated)
{
    if (!repeated)
        return 1;
    if (!json_is_array (repeated) || json_array_size (repeated) > REPEATED_MAX)
        return 0;
    size_t i;
    const json_t *name;
    json_array_foreach (repeated, i, name)
    {
        if (!json_is_string (name))
            return 0;
    }
    return 1;
}

static int
s_set (json_t *obj, const char *name, const char *value)
{
    return value && *value ? json_object_set_new (obj, name, json_string (value)) : 0;
}

int
token_op_logout_check (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const token_logout_check_in_t *in = BUS_IN (req, token_logout_check);
    const token_app_t *app = req->app;
    const json_t *params = in->params;
    if (!s_repeated_ok (in->repeated))
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "repeated must be a list of parameter names");
    for (size_t k = 0; k < sizeof s_known / sizeof s_known[0]; k++)
        if (in->repeated && tu_has (in->repeated, s_known[k]))
            return s_page_error (req, result, OST_PAGE_ERR_PARAMETER_REPEATED, "a parameter is repeated");

    const char *hint = NULL, *client_id = NULL, *uri = NULL, *state = NULL, *logout_hint = NULL,
               *locales = NULL;
    if (tu_string (params, "id_token_hint", JWS_MAX_COMPACT, &hint) == TU_BAD)
        return s_page_error (req, result, OST_PAGE_ERR_ID_TOKEN_HINT_INVALID, "id_token_hint is invalid");
    if (tu_string (params, "client_id", TOKEN_CLIENT_ID_MAX, &client_id) == TU_BAD)
        return s_page_error (req, result, OST_PAGE_ERR_CLIENT_ID_MALFORMED, "client_id is malformed");
    if (tu_string (params, "post_logout_redirect_uri", REDIRECT_URI_MAX, &uri) == TU_BAD)
        return s_page_error (req, result, OST_PAGE_ERR_LOGOUT_URI_UNREGISTERED,
                             "post_logout_redirect_uri is not registered for this client");
    if (tu_string (params, "state", STATE_MAX, &state) == TU_BAD)
        return s_page_error (req, result, OST_PAGE_ERR_STATE_TOO_LONG, "state is too long");
    if (s_text (params, "logout_hint", HINT_MAX, &logout_hint) == TU_BAD)
        return s_page_error (req, result, OST_PAGE_ERR_LOGOUT_HINT_MALFORMED, "logout_hint is malformed");
    if (s_text (params, "ui_locales", LOCALES_MAX, &locales) == TU_BAD)
        return s_page_error (req, result, OST_PAGE_ERR_UI_LOCALES_MALFORMED, "ui_locales is malformed");
    if (hint && !*hint)
        hint = NULL;
    if (client_id && !*client_id)
        client_id = NULL;
    if (uri && !*uri)
        uri = NULL;

    jws_parts_t *parts = NULL;
    if (hint) {
        int rc = s_check_hint (req, app, hint, &parts);
        if (rc == 2)
            return tu_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the signing keys are not available");
        if (rc == 1)
            return s_page_error (req, result, OST_PAGE_ERR_ID_TOKEN_HINT_INVALID, "id_token_hint is invalid");
        //  §2 client_id: "If both client_id and id_token_hint are present,
        //  the OP MUST verify that the Client Identifier matches the one
        //  used when issuing the ID Token."
        if (client_id && !s_aud_has (parts->claims, client_id)) {
            jws_parts_destroy (&parts);
            return s_page_error (req, result, OST_PAGE_ERR_CLIENT_ID_NOT_AUDIENCE,
                                 "client_id is not the audience of id_token_hint");
        }
        if (!client_id)
            client_id = s_hint_client (parts->claims);
    }

    //  §3: a post_logout_redirect_uri is used only when the client is
    //  known (client_id or the hint) and registered it, exactly.
    token_client_t client;
    memset (&client, 0, sizeof client);
    int known = 0;
    const char *problem = NULL;
    ost_page_err_t reason = OST_PAGE_ERR_UNKNOWN_CLIENT;
    if (client_id) {
        known = s_client (req, client_id, &client);
        if (known < 0) {
            jws_parts_destroy (&parts);
            return -1;
        }
        if (!known)
            problem = "unknown client";
    }
    if (!problem && uri && !known) {
        problem = "post_logout_redirect_uri needs client_id or id_token_hint";
        reason = OST_PAGE_ERR_LOGOUT_URI_NEEDS_CLIENT;
    }
    if (!problem && uri && !tu_has (client.post_logout_uris, uri)) {
        problem = "post_logout_redirect_uri is not registered for this client";
        reason = OST_PAGE_ERR_LOGOUT_URI_UNREGISTERED;
    }
    if (problem) {
        token_client_clear (&client);
        jws_parts_destroy (&parts);
        return s_page_error (req, result, reason, problem);
    }

    json_t *logout = json_object ();
    int bad = !logout;
    if (!bad && known) {
        bad |= s_set (logout, "client_id", client.client_id);
        bad |= s_set (logout, "client_name", client.name);
    }
    if (!bad && parts) {
        const char *sub = NULL, *sid = NULL;
        if (tu_string (parts->claims, "sub", SUB_MAX, &sub) == TU_OK)
            bad |= s_set (logout, "sub", sub);
        if (tu_string (parts->claims, "sid", SUB_MAX, &sid) == TU_OK && tu_printable (sid, 0))
            bad |= s_set (logout, "sid", sid);
    }
    if (!bad && uri) {
        bad |= s_set (logout, "post_logout_redirect_uri", uri);
        //  §3: state is passed back only with the redirect it belongs to.
        bad |= s_set (logout, "state", state);
    }
    if (!bad) {
        bad |= s_set (logout, "logout_hint", logout_hint);
        bad |= s_set (logout, "ui_locales", locales);
    }
    token_client_clear (&client);
    jws_parts_destroy (&parts);
    *result = !bad ? json_pack ("{s:o}", "logout", logout) : NULL;
    if (!*result) {
        if (bad)
            json_decref (logout);
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    }
    return 0;
}

//  The events claim of Back-Channel Logout 1.0 §2.4.
#define BACKCHANNEL_EVENT "http://schemas.openid.net/event/backchannel-logout"
#define LOGOUT_JTI_BYTES 16

//  The logout token of client for sub and sid, signed (*jws). -1 after
//  failing req.
static int
s_logout_token (bus_req_t *req, const token_client_t *client, const char *sub, const char *sid, int64_t now,
                char **jws)
{
    const token_app_t *app = req->app;
    char *jti = secure_token (LOGOUT_JTI_BYTES);
    //  §2.4: iss, aud, iat, exp, jti, events, and sub and/or sid (both: an RP
    //  may key its sessions on either; backchannel_logout_session_required
    //  asks for sid, which is always there); §2.4: a nonce is prohibited.
    json_t *claims = jti ? json_pack ("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:{s:{}}}", "iss", app->issuer,
                                      "aud", client->client_id, "iat", (json_int_t)now, "exp",
                                      (json_int_t)(now + app->logout_token_ttl), "jti", jti, "sub", sub,
                                      "sid", sid, "events", BACKCHANNEL_EVENT)
                         : NULL;
    free (jti);
    if (!claims)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    //  §2.4: signed as the client's ID tokens are; typed (RFC 8725 §3.11) so
    //  that it is never taken for an ID token.
    int rc = grants_sign_one (req, claims, client->id_token_alg, "logout+jwt", jws);
    json_decref (claims);
    return rc;
}

int
token_op_logout_tokens (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const token_logout_tokens_in_t *in = BUS_IN (req, token_logout_tokens);
    //  The session is over: the refresh families bound to it end with it.
    long families = 0;
    service_thread_t *thread = req->thread_state;
    db_status_t st = token_store_session_revoke (thread->db, in->sid, &families);
    if (st != DB_OK)
        return tu_db_fail (req, st);
    if (families > 0)
        log_info ("session ended: %ld bound refresh famil%s revoked", families, families == 1 ? "y" : "ies");
    json_t *tokens = json_array ();
    if (!tokens)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    int64_t now = tu_now ();
    size_t i;
    const json_t *id;
    json_array_foreach (in->clients, i, id)
    {
        token_client_t client;
        memset (&client, 0, sizeof client);
        int known = s_client (req, json_string_value (id), &client);
        if (known < 0) {
            json_decref (tokens);
            return -1;
        }
        if (!known || !client.backchannel_uri) {
            token_client_clear (&client);
            continue;
        }
        char *jws = NULL;
        if (s_logout_token (req, &client, in->sub, in->sid, now, &jws) != 0) {
            token_client_clear (&client);
            json_decref (tokens);
            return -1;
        }
        json_t *item = json_pack ("{s:s, s:s, s:s, s:I}", "client_id", client.client_id, "uri",
                                  client.backchannel_uri, "logout_token", jws, "exp",
                                  (json_int_t)(now + ((const token_app_t *)req->app)->logout_token_ttl));
        secure_free_str (&jws);
        token_client_clear (&client);
        if (!item || json_array_append_new (tokens, item)) {
            json_decref (tokens);
            return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        }
    }
    *result = json_pack ("{s:o}", "tokens", tokens);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
}

//  The URIs of Front-Channel Logout 1.0 §3 hold up to this much.
#define FRAME_URI_MAX 4096

//  uri with iss and sid form-encoded into its query (§3: "the OP MUST
//  include them" when the client registered
//  frontchannel_logout_session_required), into out. 0, or -1 when it does
//  not fit.
static int
s_frame_uri (const char *uri, const char *issuer, const char *sid, char out[FRAME_URI_MAX])
{
    size_t len = strlen (uri);
    if (len == 0 || len >= FRAME_URI_MAX)
        return -1;
    memcpy (out, uri, len + 1);
    const char *sep = !strchr (uri, '?') ? "?" : (uri[len - 1] == '?' || uri[len - 1] == '&') ? "" : "&";
    if (len + strlen (sep) + 4 >= FRAME_URI_MAX)
        return -1;
    strcat (out, sep);
    strcat (out, "iss=");
    if (form_encode_append (out, FRAME_URI_MAX, issuer) < 0 || strlen (out) + 5 >= FRAME_URI_MAX)
        return -1;
    strcat (out, "&sid=");
    return form_encode_append (out, FRAME_URI_MAX, sid) < 0 ? -1 : 0;
}

int
token_op_frontchannel_frames (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const token_frontchannel_frames_in_t *in = BUS_IN (req, token_frontchannel_frames);
    const token_app_t *app = req->app;
    json_t *frames = json_array ();
    if (!frames)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    size_t i;
    const json_t *id;
    json_array_foreach (in->clients, i, id)
    {
        token_client_t client;
        memset (&client, 0, sizeof client);
        int known = s_client (req, json_string_value (id), &client);
        if (known < 0) {
            json_decref (frames);
            return -1;
        }
        if (!known || !client.frontchannel_uri) {
            token_client_clear (&client);
            continue;
        }
        char uri[FRAME_URI_MAX];
        int bad = client.frontchannel_session_required
                      ? s_frame_uri (client.frontchannel_uri, app->issuer, in->sid, uri)
                      : snprintf (uri, sizeof uri, "%s", client.frontchannel_uri) >= (int)sizeof uri;
        json_t *frame = bad ? NULL : json_pack ("{s:s, s:s}", "client_id", client.client_id, "uri", uri);
        if (bad)
            log_warn ("front-channel logout: the frame of client %.64s does not fit", client.client_id);
        token_client_clear (&client);
        if (!bad && (!frame || json_array_append_new (frames, frame))) {
            json_decref (frames);
            return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        }
    }
    *result = json_pack ("{s:o}", "frames", frames);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
}
