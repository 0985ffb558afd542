/*  users - flow.user_add, user_list, user_get, user_passwd, user_disable and
 *  user_claims (proto/ops.md, "flow — users"). A user's sub is random and
 *  never derived from the username; passwords are Argon2id hashes that never
 *  leave flow-svc. */
#include "users.h"

#include "flow_args.h"
#include "flow_audit.h"
#include "flow_ops.h"
#include "flow_store.h"
#include "flow_txn.h"
#include "log.h"
#include "password.h"
#include "secure.h"
#include "service.h"
#include "sessions.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define SUB_MAX 64
//  Time kept to send our own answer after calling another service.
#define REPLY_MARGIN_MS 50

#define DESC_USERNAME                                                                                        \
    "username must be 1 to 64 characters of a-z, 0-9, '.', '_', '@', '+', '-', starting with a letter or "   \
    "digit"
#define DESC_USERNAME_TAKEN "a user with this username already exists"
#define DESC_PASSWORD_SHORT "the password is shorter than the minimum length (OSTIARY_MIN_PASSWORD_LENGTH)"
#define DESC_ADDRESS                                                                                         \
    "address must have at least one of formatted, street_address, locality, region, postal_code and country"
#define DESC_NO_USER "no such user"
#define DESC_GET_KEY "give exactly one of username and sub"
#define DESC_SUB "sub must be a subject identifier of base64url characters"
#define DESC_AFTER "after must be a username"
#define DESC_EXPIRED "the request's deadline passed before the change was made"

//  ------------------------------------------------------------------ fields

typedef enum { F_TEXT, F_EMAIL, F_PHONE, F_URL, F_DATE, F_ZONE, F_LOCALE } s_kind_t;

//  The string claims of a user (OpenID Connect Core §5.1) that user_add
//  accepts, each with the check of its value (proto/ops.def bounds its type
//  and length) and the fixed description of a refusal.
static const struct {
    const char *name;
    s_kind_t kind;
    size_t offset; //  of the member in flow_user_add_in_t
    const char *desc;
} s_fields[] = {
#define S_FIELD(name, kind, desc)                                                                            \
    {                                                                                                        \
#name, kind, offsetof(flow_user_add_in_t, name), desc                                                \
    }
    S_FIELD (email, F_EMAIL, "email must be an address like name@example.org"),
    S_FIELD (name, F_TEXT, NULL),
    S_FIELD (given_name, F_TEXT, NULL),
    S_FIELD (family_name, F_TEXT, NULL),
    S_FIELD (middle_name, F_TEXT, NULL),
    S_FIELD (nickname, F_TEXT, NULL),
    S_FIELD (profile, F_URL, "profile must be an http or https URL"),
    S_FIELD (picture, F_URL, "picture must be an http or https URL"),
    S_FIELD (website, F_URL, "website must be an http or https URL"),
    S_FIELD (gender, F_TEXT, NULL),
    S_FIELD (birthdate, F_DATE, "birthdate must be YYYY-MM-DD or YYYY"),
    S_FIELD (zoneinfo, F_ZONE, "zoneinfo must be a time zone name such as Europe/Paris"),
    S_FIELD (locale, F_LOCALE, "locale must be a BCP 47 language tag such as en-US"),
    S_FIELD (phone_number, F_PHONE,
             "phone_number must be a telephone number such as +1 555 0100 (E.164 recommended)"),
#undef S_FIELD
};
#define NFIELDS (sizeof s_fields / sizeof s_fields[0])

int
users_fold_username (const char *in, size_t len, char out[USERNAME_MAX + 1])
{
    if (!in || len == 0 || len > USERNAME_MAX)
        return -1;
    //  Usernames are case-insensitive and ASCII only: "Alice" logs in as
    //  "alice", and no Unicode case folding or look-alike characters can make
    //  two accounts that people read as one.
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tolower ((unsigned char)in[i]);
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 (i > 0 && (c == '.' || c == '_' || c == '@' || c == '+' || c == '-'));
        if (!ok)
            return -1;
        out[i] = (char)c;
    }
    out[len] = '\0';
    return 0;
}

//  The audit event of an operator's change to user sub, written after the
//  change (a change whose event could not be written is logged so).
//  details: a new reference, or NULL.
static void
s_audit (bus_req_t *req, audit_event_t event, const char *sub, json_t *details)
{
    if (flow_audit_write (flow_db (req), &(audit_record_t){.event = event,
                                                           .outcome = AUDIT_SUCCESS,
                                                           .actor = req->actor ? req->actor : "admin",
                                                           .subject = sub,
                                                           .details = details}) != DB_OK)
        log_error ("the %s audit event was not written", audit_event_name (event));
    json_decref (details);
}

static int
s_email_ok (const char *s, size_t len)
{
    const char *at = memchr (s, '@', len);
    if (!at || at == s || memchr (at + 1, '@', len - (size_t)(at - s) - 1))
        return 0;
    size_t local = (size_t)(at - s), domain = len - local - 1;
    //  RFC 5321 §4.5.3.1: local part at most 64 octets; a domain with a dot.
    if (local > 64 || domain < 3 || !memchr (at + 1, '.', domain) || at[1] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ' || s[i] == '<' || s[i] == '>' || s[i] == ',' || s[i] == ';')
            return 0;
    return 1;
}

static int
s_phone_ok (const char *s, size_t len)
{
    int digits = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (c == '+' && i == 0)
            continue;
        else if (!strchr (" ()-./", c))
            return 0;
    }
    return digits >= 3;
}

static int
s_url_ok (const char *s, size_t len)
{
    size_t scheme = strncmp (s, "https://", 8) == 0 ? 8 : strncmp (s, "http://", 7) == 0 ? 7 : 0;
    if (!scheme || len <= scheme)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == '"' || s[i] == '<' || s[i] == '>' || s[i] == '\\')
            return 0;
    return 1;
}

static int
s_date_ok (const char *s, size_t len)
{
    //  OpenID Connect Core §5.1: YYYY-MM-DD; the year MAY be 0000; YYYY alone is allowed.
    if (len != 4 && len != 10)
        return 0;
    for (size_t i = 0; i < len; i++) {
        int digit = s[i] >= '0' && s[i] <= '9';
        if ((i == 4 || i == 7) ? s[i] != '-' : !digit)
            return 0;
    }
    if (len == 4)
        return 1;
    int month = (s[5] - '0') * 10 + (s[6] - '0');
    int day = (s[8] - '0') * 10 + (s[9] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

static int
s_charset_ok (const char *s, size_t len, const char *extra)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr (extra, c)))
            return 0;
    }
    return 1;
}

static int
s_locale_ok (const char *s, size_t len)
{
    //  BCP 47 (RFC 5646 §2.1): a 2-3 letter language, then subtags of 1-8
    //  letters or digits; some deployments write '_' as Java does (§5.1 allows it).
    size_t lang = 0;
    while (lang < len && ((s[lang] >= 'a' && s[lang] <= 'z') || (s[lang] >= 'A' && s[lang] <= 'Z')))
        lang++;
    return lang >= 2 && lang <= 3 && s_charset_ok (s, len, "-_") && s[len - 1] != '-' && s[len - 1] != '_';
}

//  The address claim (proto/ops.def's address shape, checked already), its
//  null members left out; NULL when it has no member left.
static json_t *
s_address_value (const json_t *value)
{
    shape_address_t address;
    if (shape_address_unpack (value, &address, NULL, 0) != 0)
        return NULL;
    json_t *out = schema_pack (&schema_shape_address, &address);
    if (out && json_object_size (out) == 0) {
        json_decref (out);
        out = NULL;
    }
    return out;
}

//  Checks one string claim; on success sets it in claims.
static int
s_field (const flow_user_add_in_t *in, size_t k, json_t *claims)
{
    const char *s = *(const char *const *)((const char *)in + s_fields[k].offset);
    if (!s)
        return 0;
    size_t len = strlen (s);
    int ok = 1;
    switch (s_fields[k].kind) {
    case F_EMAIL:
        ok = s_email_ok (s, len);
        break;
    case F_PHONE:
        ok = s_phone_ok (s, len);
        break;
    case F_URL:
        ok = s_url_ok (s, len);
        break;
    case F_DATE:
        ok = s_date_ok (s, len);
        break;
    case F_ZONE:
        ok = s_charset_ok (s, len, "_+-/");
        break;
    case F_LOCALE:
        ok = s_locale_ok (s, len);
        break;
    default:
        break;
    }
    return ok ? json_object_set_new (claims, s_fields[k].name, json_string (s)) : -1;
}

//  A boolean claim, when given.
static int
s_flag (json_t *claims, const char *name, bool has, bool value)
{
    return has ? json_object_set_new (claims, name, json_boolean (value)) : 0;
}

//  username, folded. -1 after failing req.
static int
s_username (bus_req_t *req, const char *s, char out[USERNAME_MAX + 1])
{
    if (users_fold_username (s, strlen (s), out) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_USERNAME);
        return -1;
    }
    return 0;
}

//  Hashes the password pw (NULL: none given, *hash NULL). -1 after failing
//  req. The password's bytes in the request are wiped as soon as they are
//  hashed.
static int
s_password_hash (bus_req_t *req, const json_t *body, const char *pw, char **hash)
{
    *hash = NULL;
    if (!pw)
        return 0;
    size_t len = strlen (pw);
    const flow_app_t *app = flow_app (req);
    //  NIST SP 800-63B §5.1.1.2: a minimum length in characters, no
    //  composition rules.
    if (password_chars (pw, len) < app->min_password_chars) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_PASSWORD_SHORT);
        return -1;
    }
    *hash = password_hash (&app->argon2, pw, len);
    flow_arg_wipe (body, "password");
    return *hash ? 0 : flow_fail_internal (req);
}

int
users_claims (const json_t *body, json_t **claims, const char **why)
{
    *why = NULL;
    *claims = NULL;
    flow_user_add_in_t in;
    if (schema_unpack (&schema_flow_user_add_in, body, &in, NULL, 0) != 0) {
        *why = "the body does not fit flow.user_add";
        return -1;
    }
    *claims = json_object ();
    if (!*claims)
        return -1;
    for (size_t k = 0; k < NFIELDS; k++)
        if (s_field (&in, k, *claims) != 0) {
            json_decref (*claims);
            *claims = NULL;
            *why = s_fields[k].desc ? s_fields[k].desc : "invalid claim";
            return -1;
        }
    return 0;
}

static int
s_user_add (bus_req_t *req, const json_t *body, json_t **result)
{
    const flow_user_add_in_t *in = BUS_IN (req, flow_user_add);
    char username[USERNAME_MAX + 1];
    if (s_username (req, in->username, username) != 0)
        return -1;
    json_t *claims = json_object ();
    if (!claims)
        return flow_fail_internal (req);
    for (size_t k = 0; k < NFIELDS; k++)
        if (s_field (in, k, claims) != 0) {
            json_decref (claims);
            //  Text claims (no desc) have no rule beyond proto/ops.def's and never fail here.
            bus_req_fail (req, OST_ERR_INVALID_REQUEST,
                          s_fields[k].desc ? s_fields[k].desc : "invalid claim");
            return -1;
        }
    json_t *address = in->address ? s_address_value (in->address) : NULL;
    if (in->address && !address) {
        json_decref (claims);
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_ADDRESS);
        return -1;
    }
    if ((address && json_object_set_new (claims, "address", address) != 0) ||
        s_flag (claims, "email_verified", in->has_email_verified, in->email_verified) != 0 ||
        s_flag (claims, "phone_number_verified", in->has_phone_number_verified, in->phone_number_verified) !=
            0) {
        json_decref (claims);
        return flow_fail_internal (req);
    }
    //  A user without a password exists (for flows such as magic
    //  links) but can never pass the password step.
    char *hash = NULL;
    if (s_password_hash (req, body, in->password, &hash) != 0) {
        json_decref (claims);
        return -1;
    }
    //  bus.md, "Deadlines": no state change once the deadline has passed
    //  (the Argon2id hash above took a while).
    if (bus_req_expired (req)) {
        free (hash);
        json_decref (claims);
        bus_req_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_EXPIRED);
        return -1;
    }
    char *sub = secure_token (SUB_BYTES);
    json_t *user = NULL;
    db_status_t st = sub ? flow_store_user_insert (flow_db (req), sub, username, hash,
                                                   in->has_disabled && in->disabled, claims, &user)
                         : DB_ERROR;
    free (sub);
    free (hash);
    json_decref (claims);
    if (st == DB_CONFLICT) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_USERNAME_TAKEN);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    log_info ("user added: sub %s", json_string_value (json_object_get (user, "sub")));
    s_audit (req, AUDIT_EV_user_add, json_string_value (json_object_get (user, "sub")),
             json_pack ("{s:s, s:b}", "username", username, "disabled", in->has_disabled && in->disabled));
    return flow_result (req, json_pack ("{s:o}", "user", user), result);
}

int
flow_op_user_add (bus_req_t *req, const json_t *body, json_t **result)
{
    int rc = s_user_add (req, body, result);
    //  Whatever the outcome, the password does not outlive the request.
    flow_arg_wipe (body, "password");
    return rc;
}

//  Largest page of user_list: each user is well under 1 KiB, so a page fits
//  the bus's 256 KiB message limit.
#define LIST_MAX 200

int
flow_op_user_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_user_list_in_t *in = BUS_IN (req, flow_user_list);
    long limit = in->has_limit ? (long)in->limit : LIST_MAX;
    char folded[USERNAME_MAX + 1];
    if (in->after && users_fold_username (in->after, strlen (in->after), folded) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_AFTER);
        return -1;
    }
    json_t *users = NULL;
    //  One more than asked tells whether another page follows.
    db_status_t st = flow_store_user_list (flow_db (req), in->after ? folded : NULL, limit + 1, &users);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    json_t *out = json_object ();
    if (out && json_array_size (users) > (size_t)limit) {
        json_array_remove (users, (size_t)limit);
        json_t *last = json_array_get (users, (size_t)limit - 1);
        json_object_set (out, "next", json_object_get (last, "username"));
    }
    if (out && json_object_set_new (out, "users", users) != 0) {
        json_decref (out);
        out = NULL;
    }
    return flow_result (req, out, result);
}

//  A sub as flow-svc mints them: base64url characters. 0 ok, -1 bad.
static int
s_sub_ok (const char *sub)
{
    for (; *sub; sub++) {
        char c = *sub;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return -1;
    }
    return 0;
}

int
flow_op_user_get (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_user_get_in_t *in = BUS_IN (req, flow_user_get);
    if (!in->username == !in->sub) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_GET_KEY);
        return -1;
    }
    char username[USERNAME_MAX + 1];
    if (in->username && s_username (req, in->username, username) != 0)
        return -1;
    if (in->sub && s_sub_ok (in->sub) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_SUB);
        return -1;
    }
    json_t *user = NULL;
    db_status_t st = flow_store_user_get (flow_db (req), in->username ? username : NULL, in->sub, &user);
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_NOT_FOUND, DESC_NO_USER);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    return flow_result (req, json_pack ("{s:o}", "user", user), result);
}

static int
s_user_passwd (bus_req_t *req, const json_t *body, json_t **result)
{
    const flow_user_passwd_in_t *in = BUS_IN (req, flow_user_passwd);
    char username[USERNAME_MAX + 1];
    if (s_username (req, in->username, username) != 0)
        return -1;
    char *hash = NULL;
    if (s_password_hash (req, body, in->password, &hash) != 0)
        return -1;
    if (bus_req_expired (req)) {
        free (hash);
        bus_req_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_EXPIRED);
        return -1;
    }
    //  A new password ends every session opened with the old one: it is what
    //  an operator resetting a stolen password expects. The applications
    //  those sessions served are told in the same transaction.
    db_t *db = flow_db (req);
    json_t *ended = NULL;
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = flow_store_user_set_password (db, username, hash, &ended);
    free (hash);
    long queued = 0;
    if (st == DB_OK)
        st = sessions_ended (db, flow_app (req), ended, "password", &queued);
    json_decref (ended);
    if (flow_txn_end (req, db, &st, DESC_EXPIRED) != 0)
        return -1;
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_NOT_FOUND, DESC_NO_USER);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    log_info ("user password changed; the user's sessions were revoked");
    flow_cred_t cred = {0};
    if (flow_store_user_credential (flow_db (req), username, &cred) == DB_OK)
        s_audit (req, AUDIT_EV_user_passwd, cred.sub, json_pack ("{s:s}", "username", username));
    flow_cred_clear (&cred);
    return flow_result (req, json_pack ("{s:b}", "updated", 1), result);
}

int
flow_op_user_passwd (bus_req_t *req, const json_t *body, json_t **result)
{
    int rc = s_user_passwd (req, body, result);
    //  Whatever the outcome, the password does not outlive the request.
    flow_arg_wipe (body, "password");
    return rc;
}

//  A disabled user's tokens end now, not at their next refresh: token-svc
//  revokes their refresh families and access tokens and refuses anything
//  authenticated before (token.subject_revoke), so that refresh needs no
//  round trip here. The user is disabled already when this fails; the
//  answer then says so, and running the command again (idempotent) finishes
//  the job.
static int
s_revoke_tokens (bus_req_t *req, const char *sub, json_t **result)
{
    service_thread_t *thread = req->thread_state;
    int left = bus_req_time_left_ms (req, REPLY_MARGIN_MS);
    token_subject_revoke_in_t in = {.sub = sub, .reason = "user_disabled"};
    json_t *body = token_subject_revoke_in_pack (&in);
    json_t *res = NULL;
    bus_error_t error;
    int rc = body && left > 0
                 ? bus_client_call (thread->bus, "token.subject_revoke", body, left, &res, &error)
                 : -1;
    json_decref (body);
    if (rc) {
        json_decref (res);
        const char *why = body && left > 0 ? error.code : "deadline_exceeded";
        log_error ("user disabled, but token.subject_revoke failed: %s", why);
        //  Left where an operator looks (flow.audit_list), not only in a log.
        json_t *detail = json_pack ("{s:s}", "error", why);
        if (flow_audit_write (flow_db (req), &(audit_record_t){.event = AUDIT_EV_token_revoke_failed,
                                                               .outcome = AUDIT_FAILURE,
                                                               .actor = req->actor ? req->actor : "admin",
                                                               .subject = sub,
                                                               .details = detail}) != DB_OK)
            log_error ("the token_revoke_failed audit event was not written");
        json_decref (detail);
        bus_req_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE,
                      "the user is disabled, but their tokens could not be revoked yet: disable them again");
        return -1;
    }
    token_subject_revoke_out_t revoked;
    char why[SCHEMA_WHY_MAX];
    if (token_subject_revoke_out_unpack (res, &revoked, why, sizeof why) != 0) {
        log_error ("token.subject_revoke answered a result outside proto/ops.def: %s", why);
        json_decref (res);
        return flow_fail_internal (req);
    }
    flow_user_disable_out_t out = {.updated = true,
                                   .has_updated = true,
                                   .families = revoked.families,
                                   .has_families = true,
                                   .access_tokens = revoked.access_tokens,
                                   .has_access_tokens = true};
    json_decref (res);
    return flow_result (req, flow_user_disable_out_pack (&out), result);
}

int
flow_op_user_disable (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_user_disable_in_t *in = BUS_IN (req, flow_user_disable);
    char username[USERNAME_MAX + 1];
    if (s_username (req, in->username, username) != 0)
        return -1;
    int disabled = in->disabled;
    //  Disabling revokes the user's sessions, so enabling again does not
    //  bring them back: the user logs in anew.
    char sub[FLOW_SUB_MAX + 1];
    db_t *db = flow_db (req);
    db_status_t st = flow_store_user_set_disabled (db, username, disabled, sub);
    //  The sessions end in a transaction of their own, after the flag (see
    //  flow_store_user_set_disabled), with their back-channel logout.
    if (st == DB_OK && disabled) {
        json_t *ended = NULL;
        st = db_begin (db);
        if (st == DB_OK)
            st = flow_store_user_revoke_sessions (db, sub, &ended);
        long queued = 0;
        if (st == DB_OK)
            st = sessions_ended (db, flow_app (req), ended, "disabled", &queued);
        json_decref (ended);
        if (flow_txn_end (req, db, &st, DESC_EXPIRED) != 0)
            return -1;
    }
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_NOT_FOUND, DESC_NO_USER);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    s_audit (req, AUDIT_EV_user_disable, sub,
             json_pack ("{s:s, s:b}", "username", username, "disabled", disabled));
    if (!disabled) {
        log_info ("user enabled");
        return flow_result (req, json_pack ("{s:b}", "updated", 1), result);
    }
    log_info ("user disabled; the user's sessions were revoked");
    return s_revoke_tokens (req, sub, result);
}

//  ------------------------------------------------------------------ roles

int
flow_op_user_set_admin (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_user_set_admin_in_t *in = BUS_IN (req, flow_user_set_admin);
    char username[USERNAME_MAX + 1];
    if (s_username (req, in->username, username) != 0)
        return -1;
    char sub[FLOW_SUB_MAX + 1];
    if (bus_req_expired (req)) {
        bus_req_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_EXPIRED);
        return -1;
    }
    db_status_t st = flow_store_user_set_admin (flow_db (req), username, in->admin, sub);
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_NOT_FOUND, DESC_NO_USER);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    s_audit (req, AUDIT_EV_user_admin, sub,
             json_pack ("{s:s, s:b}", "username", username, "admin", in->admin));
    log_info ("user %s the admin role", in->admin ? "granted" : "revoked");
    return flow_result (req, json_pack ("{s:s, s:b}", "sub", sub, "admin", in->admin), result);
}

int
flow_op_user_roles (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_user_roles_in_t *in = BUS_IN (req, flow_user_roles);
    if (s_sub_ok (in->sub) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_SUB);
        return -1;
    }
    int admin = 0;
    db_status_t st = flow_store_user_is_admin (flow_db (req), in->sub, &admin);
    if (st != DB_OK)
        return flow_fail_db (req, st);
    return flow_result (req, json_pack ("{s:b}", "admin", admin), result);
}

//  ------------------------------------------------------------------ claims

//  OpenID Connect Core §5.4: the claims each scope value requests
//  (common/claims.def; those of no scope are the ID Token's own).
static const struct {
    const char *name;
    const char *scope;
} s_claims[] = {
#define CLAIM(name, scope) {name, scope},
#include "claims.def"
#undef CLAIM
};

//  The value of claim for user, or NULL when the user has none.
//  OpenID Connect Core §5.3.2: a claim that is not set is left out, never
//  sent as null or "". The _verified flags only accompany their value.
static json_t *
s_claim_value (const json_t *user, const char *claim)
{
    if (!strcmp (claim, "preferred_username"))
        return json_object_get (user, "username");
    if (!strcmp (claim, "email_verified"))
        return json_object_get (user, "email") ? json_object_get (user, "email_verified") : NULL;
    if (!strcmp (claim, "phone_number_verified"))
        return json_object_get (user, "phone_number") ? json_object_get (user, "phone_number_verified")
                                                      : NULL;
    return json_object_get (user, claim);
}

//  Whether names (an array of strings, or NULL) holds name.
static int
s_named (const json_t *names, const char *name)
{
    size_t i;
    const json_t *v;
    json_array_foreach (names, i, v)
    {
        if (!strcmp (json_string_value (v), name))
            return 1;
    }
    return 0;
}

int
flow_op_user_claims (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const flow_user_claims_in_t *in = BUS_IN (req, flow_user_claims);
    const char *sub = in->sub;
    const json_t *scopes = in->scopes;
    if (s_sub_ok (sub) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_SUB);
        return -1;
    }
    size_t i;
    const json_t *scope;
    json_t *user = NULL;
    db_status_t st = flow_store_user_get (flow_db (req), NULL, sub, &user);
    //  A disabled user has no claims to give: to the caller it does not exist.
    if (st == DB_NOT_FOUND || (st == DB_OK && json_is_true (json_object_get (user, "disabled")))) {
        json_decref (user);
        bus_req_fail (req, OST_ERR_NOT_FOUND, DESC_NO_USER);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    //  §5.3.2: sub is always returned.
    json_t *claims = json_pack ("{s:O}", "sub", json_object_get (user, "sub"));
    //  §5.4 by scope; §5.5 claim by claim (the claims request parameter),
    //  from the same table: only the claims of some scope are ever released.
    for (size_t k = 0; claims && k < sizeof s_claims / sizeof s_claims[0]; k++) {
        if (!*s_claims[k].scope)
            continue;
        int asked = s_named (in->claims, s_claims[k].name);
        json_array_foreach (scopes, i, scope) asked |= !strcmp (json_string_value (scope), s_claims[k].scope);
        if (!asked)
            continue;
        json_t *value = s_claim_value (user, s_claims[k].name);
        if (value)
            json_object_set (claims, s_claims[k].name, value);
    }
    json_decref (user);
    return flow_result (req, claims ? json_pack ("{s:o}", "claims", claims) : NULL, result);
}
