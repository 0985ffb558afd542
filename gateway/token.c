/*  token - the endpoints where a client authenticates itself: POST /token
 *  (RFC 6749 §3.2, §4.1.3, §4.4, §6), POST /revoke (RFC 7009) and
 *  POST /introspect (RFC 7662).
 *
 *  The gateway checks the HTTP side of the request and token-svc all the
 *  rest (token.exchange, token.revoke, token.introspect): only
 *  application/x-www-form-urlencoded bodies, parsed by our bounded parser; a
 *  repeated parameter is refused (RFC 6749 §3.2); the Basic credentials of
 *  RFC 6749 §2.3.1 are decoded here and passed on as they are, never checked
 *  here. The three endpoints share one reader (s_client_request), so client
 *  authentication is extracted and refused the same way everywhere
 *  (RFC 7009 §2.1, RFC 7662 §2.1 refer to RFC 6749 §2.3). Every answer
 *  carries Cache-Control: no-store and Pragma: no-cache (RFC 6749 §5.1,
 *  §5.2; RFC 7662 §4: introspection answers are not cached). */
#include "cors.h"
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

#define TOKEN_MAX_PARAMS 16
#define TOKEN_MAX_VALUE 4096
#define TOKEN_MAX_TOTAL 12288
//  Longest client id or secret in a Basic header, decoded.
#define TOKEN_MAX_CREDENTIAL 512

//  Sends a token endpoint error (RFC 6749 §5.2) with the no-store headers;
//  for any 401 the Basic challenge (RFC 6749 §5.2 invalid_client: "MUST
//  respond with 401 and include the WWW-Authenticate response header field"
//  when the Authorization header was used; RFC 9110 §15.5.2: every 401
//  carries a challenge).
static int
s_send_error (gw_req_t *req, int status, const char *code, const char *description, int retry_after)
{
    char clean_code[64], clean_desc[256], challenge[1024], realm[512], seconds[16];
    http_clean_header_value (code, clean_code, sizeof clean_code);
    http_clean_header_value (description, clean_desc, sizeof clean_desc);
    json_t *body = json_pack ("{s:s}", "error", clean_code);
    if (clean_desc[0])
        json_object_set_new (body, "error_description", json_string (clean_desc));
    http_header_t extra[3];
    size_t n = 0;
    extra[n++] = (http_header_t){"Pragma", "no-cache"};
    if (status == 401) {
        //  The realm is the issuer, cleaned so that it cannot end the
        //  quoted-string.
        http_clean_header_value (req->gw->cfg->issuer, realm, sizeof realm);
        snprintf (challenge, sizeof challenge, "Basic realm=\"%s\"", realm);
        extra[n++] = (http_header_t){"WWW-Authenticate", challenge};
    }
    if (retry_after > 0) {
        snprintf (seconds, sizeof seconds, "%d", retry_after);
        extra[n++] = (http_header_t){"Retry-After", seconds};
    }
    int rc = http_send_json (req, status, body, "no-store", extra, n);
    json_decref (body);
    return rc;
}

//  A token endpoint error of err (proto/errors.def): its code, status and
//  Retry-After.
static int
s_error (gw_req_t *req, ost_err_t err, const char *description)
{
    const err_def_t *def = proto_err (err);
    return s_send_error (req, def->http_status, def->code, description, def->retry_after);
}

//  A bus error as a token endpoint error, mapped as at every endpoint
//  (http_bus_error_answer).
static int
s_bus_error (gw_req_t *req, const bus_error_t *error)
{
    http_error_t answer = http_bus_error_answer (error);
    return s_send_error (req, answer.status, answer.code, answer.description, answer.retry_after);
}

//  RFC 4648 §4 base64 with padding, strictly: length a multiple of 4, only
//  the alphabet, '=' only at the end. Returns the decoded length or -1.
static long
s_base64_decode (const char *in, size_t len, unsigned char *out, size_t max)
{
    //  The value of each character of the alphabet plus one; 0 for any other.
    static const unsigned char value[256] = {
        ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
        ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
        ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
        ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
        ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
        ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
        ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
        ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
    };
    if (len == 0 || len % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        unsigned int v = 0;
        int pad = 0;
        for (size_t k = 0; k < 4; k++) {
            char c = in[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            unsigned int d = value[(unsigned char)c];
            if (!d || pad)
                return -1;
            v = (v << 6) | (d - 1);
        }
        size_t n = 3 - (size_t)pad;
        if (o + n > max)
            return -1;
        out[o++] = (unsigned char)(v >> 16);
        if (n > 1)
            out[o++] = (unsigned char)(v >> 8);
        if (n > 2)
            out[o++] = (unsigned char)v;
    }
    return (long)o;
}

//  RFC 6749 §2.3.1 / RFC 7617 §2: "Basic" base64(urlencode(id) ":"
//  urlencode(secret)).
int
token_basic_parse (const char *header, json_t **basic)
{
    *basic = NULL;
    if (!header)
        return 0;
    //  RFC 9110 §11.1: the scheme is case-insensitive; one space or more.
    if (strncasecmp (header, "Basic", 5) != 0 || (header[5] != ' ' && header[5] != '\t'))
        return -1;
    const char *token = header + 5;
    while (*token == ' ' || *token == '\t')
        token++;
    size_t len = strlen (token);
    while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\t'))
        len--;
    unsigned char decoded[2 * TOKEN_MAX_CREDENTIAL * 3 + 4];
    if (len > 4 * (sizeof decoded / 3))
        return -1;
    long n = s_base64_decode (token, len, decoded, sizeof decoded - 1);
    if (n < 0) {
        //  What a refused header decoded before its fault may be a secret.
        secure_wipe (decoded, sizeof decoded);
        return -1;
    }
    decoded[n] = '\0';
    int rc = -1;
    const char *colon = memchr (decoded, ':', (size_t)n);
    if (colon && !memchr (decoded, '\0', (size_t)n)) {
        size_t id_len = (size_t)(colon - (const char *)decoded);
        //  §2.3.1: each part was application/x-www-form-urlencoded first.
        char *id = form_decode_component ((const char *)decoded, id_len, TOKEN_MAX_CREDENTIAL, 1);
        char *secret = form_decode_component (colon + 1, (size_t)n - id_len - 1, TOKEN_MAX_CREDENTIAL, 1);
        if (id && secret && id[0]) {
            *basic = json_pack ("{s:s,s:s}", "client_id", id, "client_secret", secret);
            rc = *basic ? 1 : -1;
        }
        secure_free_str (&id);
        secure_free_str (&secret);
    }
    //  Only the decoded bytes and their NUL were written.
    secure_wipe (decoded, (size_t)n + 1);
    return rc;
}

//  1 with *basic from the request's Authorization header, 0 without one,
//  -1 when it is malformed or of another scheme.
static int
s_basic (gw_req_t *req, json_t **basic)
{
    return token_basic_parse (mg_get_header (req->conn, "Authorization"), basic);
}

static void
s_wipe_json_strings (json_t *object)
{
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value)
    {
        if (json_is_string (value))
            secure_wipe ((char *)json_string_value (value), json_string_length (value));
        else if (json_is_object (value))
            s_wipe_json_strings (value);
    }
}

//  The parts of a client-authenticated POST that token.exchange,
//  token.revoke and token.introspect take alike.
typedef struct {
    json_t *form;  //  the form parameters as strings
    json_t *basic; //  {client_id, client_secret} of a Basic header, or NULL
} s_client_request_t;

//  Wipes the secrets of a request's parts and frees them.
static void
s_client_request_free (s_client_request_t *request)
{
    s_wipe_json_strings (request->form);
    s_wipe_json_strings (request->basic);
    json_decref (request->form);
    json_decref (request->basic);
    request->form = request->basic = NULL;
}

//  Reads the body of a client-authenticated POST into *request: 0, or -1
//  after answering (the handler then returns req->status). required names
//  a parameter that must be present and not empty (NULL: none).
static int
s_client_request (gw_req_t *req, const char *required, s_client_request_t *request)
{
    request->form = request->basic = NULL;
    //  RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1:
    //  "application/x-www-form-urlencoded" only.
    if (!pages_is_form (req)) {
        s_error (req, OST_ERR_INVALID_REQUEST, "The request must be application/x-www-form-urlencoded");
        return -1;
    }
    json_t *basic = NULL;
    int has_basic = s_basic (req, &basic);
    if (has_basic < 0) {
        s_error (req, OST_ERR_INVALID_CLIENT, "The Authorization header is malformed");
        return -1;
    }

    char *raw = NULL;
    size_t len = 0;
    if (http_read_body (req, (size_t)req->gw->cfg->http_max_body, &raw, &len) != 0) {
        s_wipe_json_strings (basic);
        json_decref (basic);
        return -1;
    }
    form_limits_t limits = {.max_total = TOKEN_MAX_TOTAL,
                            .max_params = TOKEN_MAX_PARAMS,
                            .max_name = 64,
                            .max_value = TOKEN_MAX_VALUE};
    form_status_t status;
    form_t *form = form_parse (raw, len, &limits, &status);
    secure_wipe (raw, len);
    free (raw);
    json_t *params = NULL;
    const char *repeated = NULL;
    if (form)
        repeated = form_first_repeated (form, 1);
    if (!form)
        s_error (req, OST_ERR_INVALID_REQUEST, form_status_text (status));
    else if (repeated)
        //  RFC 6749 §3.2: "Request and response parameters MUST NOT be
        //  included more than once."
        s_error (req, OST_ERR_INVALID_REQUEST, "A parameter is included more than once");
    else if (required && !form_get (form, required, 1))
        //  RFC 7009 §2.1, RFC 7662 §2.1: token is REQUIRED.
        s_error (req, OST_ERR_INVALID_REQUEST, "A required parameter is missing");
    else if (!(params = form_to_json (form, 1)))
        s_error (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "out of memory");
    form_destroy (&form);
    if (req->status) {
        s_wipe_json_strings (basic);
        json_decref (basic);
        return -1;
    }
    request->form = params;
    request->basic = basic;
    //  CORS (cors.h): an origin of the client the request names (Basic or
    //  the client_id parameter), which token-svc then authenticates; an
    //  answer that fails that authentication tells the origin nothing the
    //  named client could not learn itself.
    const char *client_id = json_string_value (json_object_get (basic ? basic : params, "client_id"));
    if (client_id)
        cors_allow_client (req, client_id);
    else
        req->cors_vary = 1;
    return 0;
}

//  Calls op with body (NULL: out of memory) and frees request and body,
//  their secrets wiped. 0 with *result, or -1 after answering the error.
static int
s_call (gw_req_t *req, const char *op, json_t *body, s_client_request_t *request, json_t **result)
{
    bus_error_t error;
    *result = NULL;
    int rc = body ? http_bus_call (req, op, body, result, &error) : -1;
    s_wipe_json_strings (body);
    json_decref (body);
    s_client_request_free (request);
    if (!body)
        s_error (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "out of memory");
    else if (rc != 0)
        s_bus_error (req, &error);
    return rc == 0 ? 0 : -1;
}

//  A result that does not fit its op's table (which the bus client has
//  checked already): logged, its secrets wiped, answered as a server error.
static int
s_unexpected (gw_req_t *req, const char *op, json_t *result, const char *why)
{
    log_error ("%s answered something unexpected: %s", op, why);
    s_wipe_json_strings (result);
    json_decref (result);
    return s_error (req, OST_ERR_SERVER_ERROR, "the service could not answer");
}

int
token_post (gw_req_t *req)
{
    s_client_request_t request;
    if (s_client_request (req, NULL, &request) != 0)
        return req->status;
    token_exchange_in_t in = {
        .form = request.form, .basic = request.basic, .client_ip = http_client_ip (req)};
    json_t *result = NULL;
    if (s_call (req, "token.exchange", token_exchange_in_pack (&in), &request, &result) != 0)
        return req->status;
    token_exchange_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (token_exchange_out_unpack (result, &out, why, sizeof why) != 0)
        return s_unexpected (req, "token.exchange", result, why);
    //  RFC 6749 §5.1: the token response (every member of token.exchange's
    //  result) is never cached.
    http_header_t extra[] = {{"Pragma", "no-cache"}};
    http_send_json (req, 200, result, "no-store", extra, 1);
    s_wipe_json_strings (result);
    json_decref (result);
    return req->status;
}

int
revoke_post (gw_req_t *req)
{
    s_client_request_t request;
    if (s_client_request (req, "token", &request) != 0)
        return req->status;
    token_revoke_in_t in = {.form = request.form, .basic = request.basic, .client_ip = http_client_ip (req)};
    json_t *result = NULL;
    if (s_call (req, "token.revoke", token_revoke_in_pack (&in), &request, &result) != 0)
        return req->status;
    json_decref (result);
    //  RFC 7009 §2.2: "The authorization server responds with HTTP status
    //  code 200 if the token has been revoked successfully or if the client
    //  submitted an invalid token" - the same empty answer whatever token-svc
    //  found, so nothing tells a client whether a token existed.
    http_header_t extra[] = {{"Pragma", "no-cache"}};
    return http_send (req, 200, NULL, "no-store", extra, 1, NULL, 0);
}

int
introspect_post (gw_req_t *req)
{
    s_client_request_t request;
    if (s_client_request (req, "token", &request) != 0)
        return req->status;
    token_introspect_in_t in = {.form = request.form, .basic = request.basic};
    json_t *result = NULL;
    if (s_call (req, "token.introspect", token_introspect_in_pack (&in), &request, &result) != 0)
        return req->status;
    token_introspect_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (token_introspect_out_unpack (result, &out, why, sizeof why) != 0)
        return s_unexpected (req, "token.introspect", result, why);
    http_header_t extra[] = {{"Pragma", "no-cache"}};
    if (out.active)
        http_send_json (req, 200, result, "no-store", extra, 1);
    else {
        //  RFC 7662 §2.2: an inactive token is answered with active=false
        //  and nothing else, whatever else came back.
        json_t *inactive = json_pack ("{s:b}", "active", 0);
        http_send_json (req, 200, inactive, "no-store", extra, 1);
        json_decref (inactive);
    }
    json_decref (result);
    return req->status;
}
