/*  nodes_otp - the nodes that check a code the user types: totp (RFC 6238,
 *  with enrollment and recovery codes) and email_code (docs/flows.md, "Node
 *  types"). Every submission was counted before the handler runs (engine.c);
 *  the fifth wrong code fails the node. Across executions, each code checked
 *  against an account's second factor was also counted before the step
 *  (prepare: lockout_code_before), for the account and the client address:
 *  a locked second factor refuses every code, the right one too, and fails
 *  the execution with step.error code_locked (docs/flows.md, "Lockout"). */
#include "engine.h"
#include "flow_audit.h"
#include "i18n.h"

#include "action.h"
#include "flow_ops.h"
#include "lockout.h"
#include "log.h"
#include "outbox.h"
#include "seal.h"
#include "secure.h"
#include "totp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  RFC 4226 §4 R6 recommends 160-bit shared secrets.
#define TOTP_SECRET_BYTES 20
//  RFC 6238 §5.2: one step of drift either way.
#define TOTP_WINDOW 1
#define TOTP_ISSUER "Ostiary"
//  Recovery codes: ten of 50 random bits each, shown as xxxxx-xxxxx.
#define RECOVERY_COUNT 10
#define RECOVERY_CHARS 10
#define CODE_INPUT_MAX 64
//  Longest identifier whose key stands for an unknown account (nodes_auth.c
//  takes at most 256 bytes).
#define IDENTIFIER_MAX 256

static const char *const s_code_fields[] = {"code"};

//  ------------------------------------------------------------------ keys

//  The TOTP sealing key (seal.h: derived from the flow key) and the
//  associated data that binds a sealed secret to its user or its execution.
static int
s_totp_key (const engine_ctx_t *ctx, unsigned char key[SEAL_KEY_BYTES])
{
    return seal_derive (ctx->app->flow_key, "totp", key);
}

static void
s_aad_user (const char *sub, char *out, size_t size)
{
    snprintf (out, size, "user_totp:%s", sub);
}

static void
s_aad_exec (const engine_ctx_t *ctx, char *out, size_t size)
{
    snprintf (out, size, "totp_enroll:%lld", (long long)ctx->exec->id);
}

//  Opens a sealed TOTP secret. 0 ok (*secret to wipe and free).
static int
s_open (const engine_ctx_t *ctx, const char *aad, const char *sealed, unsigned char **secret, size_t *len)
{
    unsigned char key[SEAL_KEY_BYTES];
    int rc = s_totp_key (ctx, key) == 0 ? seal_decrypt (key, aad, sealed, secret, len) : -1;
    secure_wipe (key, sizeof key);
    return rc;
}

static char *
s_seal (const engine_ctx_t *ctx, const char *aad, const unsigned char *secret, size_t len)
{
    unsigned char key[SEAL_KEY_BYTES];
    char *sealed = s_totp_key (ctx, key) == 0 ? seal_encrypt (key, aad, secret, len) : NULL;
    secure_wipe (key, sizeof key);
    return sealed;
}

static void
s_free_secret (unsigned char **secret, size_t len)
{
    if (*secret) {
        secure_wipe (*secret, len);
        free (*secret);
        *secret = NULL;
    }
}

//  ------------------------------------------------------------------ totp

//  The enrollment step's data, which is never stored in clear: the otpauth
//  URI (for the QR code) and the secret in base32 (to type it).
static int
s_enroll_extra (engine_ctx_t *ctx, const unsigned char *secret, size_t len)
{
    const char *account = engine_get (ctx, "username");
    char b32[TOTP_MAX_B32 + 1];
    char *uri = totp_uri (TOTP_ISSUER, account ? account : "user", secret, len);
    long n = base32_encode (secret, len, b32, sizeof b32);
    int rc = -1;
    if (uri && n > 0) {
        json_decref (ctx->extra);
        ctx->extra = json_pack ("{s:s, s:s}", "otpauth_uri", uri, "secret", b32);
        rc = ctx->extra ? 0 : -1;
    }
    secure_wipe (b32, sizeof b32);
    secure_free_str (&uri);
    return rc;
}

static node_outcome_t
s_totp_step (engine_ctx_t *ctx, const char *type, const char *error)
{
    json_decref (ctx->step);
    ctx->step = engine_step (type, s_code_fields, 1);
    if (error)
        engine_step_error (ctx->step, error, "code");
    return ctx->step ? OUT_CHALLENGE : engine_fail_internal (ctx);
}

node_outcome_t
nodes_totp_enter (engine_ctx_t *ctx)
{
    const char *sub = engine_get (ctx, "sub");
    if (!sub)
        return OUT_FAILURE;
    char *sealed = NULL;
    int64_t last = -1;
    db_status_t st = flow_store_totp_get (ctx->db, sub, &sealed, &last);
    free (sealed);
    if (st == DB_OK)
        return s_totp_step (ctx, "totp", NULL);
    if (st != DB_NOT_FOUND)
        return engine_fail_db (ctx, st);
    if (!ctx->node->enroll)
        return OUT_FAILURE;
    //  Enrollment: a new secret, kept sealed in the context (bound to this
    //  execution) until a first code proves the app holds it.
    unsigned char secret[TOTP_SECRET_BYTES];
    char aad[64];
    s_aad_exec (ctx, aad, sizeof aad);
    char *pending =
        secure_random (secret, sizeof secret) == 0 ? s_seal (ctx, aad, secret, sizeof secret) : NULL;
    int rc = pending ? engine_set (ctx, "totp_pending", json_string (pending)) : -1;
    if (rc == 0)
        rc = s_enroll_extra (ctx, secret, sizeof secret);
    secure_wipe (secret, sizeof secret);
    free (pending);
    if (rc != 0)
        return engine_fail_internal (ctx);
    return s_totp_step (ctx, "totp_enroll", NULL);
}

void
nodes_totp_redisplay (engine_ctx_t *ctx)
{
    const char *type = json_string_value (json_object_get (ctx->exec->ui, "type"));
    const char *pending = engine_get (ctx, "totp_pending");
    if (!type || strcmp (type, "totp_enroll") || !pending)
        return;
    char aad[64];
    s_aad_exec (ctx, aad, sizeof aad);
    unsigned char *secret = NULL;
    size_t len = 0;
    if (s_open (ctx, aad, pending, &secret, &len) == 0 && s_enroll_extra (ctx, secret, len) != 0)
        log_warn ("flow: cannot show the TOTP enrollment again");
    s_free_secret (&secret, len);
}

//  The keyed hash of a recovery code of sub (normalized: lowercase, no
//  separators).
static int
s_recovery_hash (const engine_ctx_t *ctx, const char *sub, const char *code,
                 unsigned char hash[FLOW_HASH_BYTES])
{
    char norm[CODE_INPUT_MAX + 1], label[96];
    size_t n = 0;
    for (const char *p = code; *p && n < CODE_INPUT_MAX; p++)
        if (isalnum ((unsigned char)*p))
            norm[n++] = (char)tolower ((unsigned char)*p);
    norm[n] = '\0';
    snprintf (label, sizeof label, "recovery:%s", sub);
    int rc = n == RECOVERY_CHARS ? action_mac (ctx->app->flow_key, label, norm, hash) : -1;
    secure_wipe (norm, sizeof norm);
    return rc;
}

//  New recovery codes for sub: stored as keyed hashes, returned in clear in
//  ctx->extra for this one answer.
static int
s_recovery_codes (engine_ctx_t *ctx, const char *sub)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789"; //  32 symbols, no 0/o/1/l
    unsigned char hashes[RECOVERY_COUNT][FLOW_HASH_BYTES];
    json_t *codes = json_array ();
    int rc = codes ? 0 : -1;
    for (int i = 0; rc == 0 && i < RECOVERY_COUNT; i++) {
        unsigned char rnd[RECOVERY_CHARS];
        char code[RECOVERY_CHARS + 2];
        rc = secure_random (rnd, sizeof rnd);
        for (int k = 0, j = 0; rc == 0 && k < RECOVERY_CHARS; k++) {
            if (k == RECOVERY_CHARS / 2)
                code[j++] = '-';
            code[j++] = alphabet[rnd[k] & 31];
            code[j] = '\0';
        }
        if (rc == 0)
            rc = s_recovery_hash (ctx, sub, code, hashes[i]);
        if (rc == 0)
            rc = json_array_append_new (codes, json_string (code));
        secure_wipe (code, sizeof code);
        secure_wipe (rnd, sizeof rnd);
    }
    if (rc == 0 &&
        flow_store_recovery_replace (ctx->db, sub, (const unsigned char (*)[FLOW_HASH_BYTES])hashes,
                                     RECOVERY_COUNT) != DB_OK)
        rc = -1;
    if (rc == 0) {
        json_decref (ctx->extra);
        ctx->extra = json_pack ("{s:o}", "codes", codes);
        codes = NULL;
        rc = ctx->extra ? 0 : -1;
    }
    json_decref (codes);
    return rc;
}

static int
s_all_digits (const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit ((unsigned char)*s))
            return 0;
    return 1;
}

static node_outcome_t
s_totp_wrong (engine_ctx_t *ctx, int enrolling, const char *error)
{
    log_info ("flow: TOTP code refused (attempt %ld of %d)", ctx->exec->node_attempts, ENGINE_CODE_ATTEMPTS);
    if (ctx->exec->node_attempts >= ENGINE_CODE_ATTEMPTS)
        return OUT_FAILURE;
    if (enrolling)
        nodes_totp_redisplay (ctx);
    return s_totp_step (ctx, enrolling ? "totp_enroll" : "totp", error);
}

//  ------------------------------------------------------------------ second-factor lockout

//  Before the step's transaction: the counters of lockout.h, each one
//  autocommitted statement, so that a step rolled back still counts. key:
//  the counter of the second factor (NULL: the address only). 0 ok, -1
//  after failing the request.
static int
s_code_count (engine_ctx_t *ctx, const char *key, const char *sub)
{
    db_status_t st = lockout_code_before (ctx->db, key, sub, ctx->client_ip, &ctx->code);
    if (st != DB_OK)
        return flow_fail_db (ctx->req, st);
    ctx->code_done = 1;
    return 0;
}

//  The verdict of a counted submission before its code is checked:
//  CODE_LOCKED refuses every code, the right one too (the execution fails
//  with code_locked); CODE_THROTTLED refuses it as a wrong code with the
//  step error "throttled" (the account's count moved, so it may lock).
//  CODE_SILENT refuses it as a plain wrong code: the account's own counter
//  of an identified-only execution is locked (engine.h, code_account).
typedef enum { CODE_CHECK, CODE_THROTTLED, CODE_LOCKED, CODE_SILENT, CODE_UNCOUNTED } s_code_gate_t;

static s_code_gate_t
s_code_gate (const engine_ctx_t *ctx)
{
    if (!ctx->code_done)
        return CODE_UNCOUNTED;
    if (ctx->code.verdict == LOCKOUT_ACCOUNT)
        return CODE_LOCKED;
    if (ctx->code.verdict == LOCKOUT_ADDRESS)
        return CODE_THROTTLED;
    if (ctx->code_account_done && ctx->code_account.verdict != LOCKOUT_OK)
        return CODE_SILENT;
    return CODE_CHECK;
}

//  A wrong (or throttled) code: the failure that reached the threshold
//  locks the second factor (lockout_code_failure), and then the execution
//  fails at once with code_locked; else *go_on = 1 and the node shows its
//  step again (or fails at its fifth wrong code).
static node_outcome_t
s_code_failed (engine_ctx_t *ctx, int *go_on)
{
    bool locked = false, account_locked = false;
    *go_on = 0;
    db_status_t st = lockout_code_failure (ctx->db, &ctx->code, ctx->client_ip, &locked);
    //  The account's own counter may lock too (audited); the page never says.
    if (st == DB_OK && ctx->code_account_done)
        st = lockout_code_failure (ctx->db, &ctx->code_account, NULL, &account_locked);
    //  The wrong code's audit event (the code itself is never recorded).
    json_t *details = json_pack ("{s:s, s:s}", "method", "code", "reason", "wrong_code");
    if (st == DB_OK)
        st = details ? flow_audit_write (ctx->db, &(audit_record_t){.event = AUDIT_EV_login_failed,
                                                                    .outcome = AUDIT_FAILURE,
                                                                    .actor = "user",
                                                                    .subject = engine_get (ctx, "sub"),
                                                                    .address = ctx->client_ip,
                                                                    .details = details})
                     : DB_ERROR;
    json_decref (details);
    if (st != DB_OK)
        return engine_fail_db (ctx, st);
    if (locked)
        return engine_fail_because (ctx, "code_locked");
    *go_on = 1;
    return OUT_FAILURE;
}

int
nodes_totp_prepare (engine_ctx_t *ctx)
{
    const char *sub = engine_get (ctx, "sub");
    //  Only a code checked against the account's own factor counts: not the
    //  first code of an enrollment (it proves that the app holds the secret
    //  this very execution showed), not the button under the recovery codes.
    if (!sub || engine_get (ctx, "totp_pending") ||
        json_is_true (json_object_get (ctx->exec->context, "totp_codes_shown")))
        return 0;
    return s_code_count (ctx, sub, sub);
}

//  The enrollment's first code: the secret becomes the user's, and the
//  recovery codes are made and shown once.
static node_outcome_t
s_enroll_submit (engine_ctx_t *ctx, const char *sub, const char *pending, const char *code)
{
    char aad[96];
    s_aad_exec (ctx, aad, sizeof aad);
    unsigned char *secret = NULL;
    size_t len = 0;
    if (s_open (ctx, aad, pending, &secret, &len) != 0)
        return engine_fail_internal (ctx);
    int64_t step = -1;
    int match = code && s_all_digits (code) &&
                totp_check (secret, len, (int64_t)time (NULL), code, TOTP_WINDOW, -1, &step) == 1;
    if (!match) {
        s_free_secret (&secret, len);
        return s_totp_wrong (ctx, 1, "invalid_code");
    }
    s_aad_user (sub, aad, sizeof aad);
    char *sealed = s_seal (ctx, aad, secret, len);
    s_free_secret (&secret, len);
    //  Whether an authenticator is replaced, for the audit event.
    char *old = NULL;
    int64_t old_step = -1;
    db_status_t st = sealed ? flow_store_totp_get (ctx->db, sub, &old, &old_step) : DB_ERROR;
    int replaced = st == DB_OK;
    free (old);
    if (st == DB_OK || st == DB_NOT_FOUND)
        st = flow_store_totp_put (ctx->db, sub, sealed, step);
    free (sealed);
    if (st == DB_OK)
        st = engine_audit (ctx, AUDIT_EV_totp_enrolled, sub, json_pack ("{s:b}", "replaced", replaced));
    if (st != DB_OK)
        return engine_fail_db (ctx, st);
    if (s_recovery_codes (ctx, sub) != 0)
        return engine_fail_internal (ctx);
    json_object_del (ctx->exec->context, "totp_pending");
    if (engine_set (ctx, "totp_codes_shown", json_true ()) != 0 || engine_amr_add (ctx, "otp") != 0 ||
        engine_method_add (ctx, "totp") != 0)
        return engine_fail_internal (ctx);
    log_info ("flow: TOTP enrolled for sub %s", sub);
    //  The codes are in this answer only; a reload shows that they were shown.
    ctx->step = engine_step ("recovery_codes", NULL, 0);
    if (!ctx->step)
        return engine_fail_internal (ctx);
    json_object_set_new (json_object_get (ctx->step, "data"), "shown", json_true ());
    return OUT_CHALLENGE;
}

node_outcome_t
nodes_totp_submit (engine_ctx_t *ctx)
{
    const char *sub = engine_get (ctx, "sub");
    if (!sub)
        return OUT_FAILURE;
    //  The user saw the recovery codes: the enrollment is complete.
    if (json_is_true (json_object_get (ctx->exec->context, "totp_codes_shown"))) {
        json_object_del (ctx->exec->context, "totp_codes_shown");
        return OUT_SUCCESS;
    }
    const char *code = engine_input (ctx, "code", CODE_INPUT_MAX);
    const char *pending = engine_get (ctx, "totp_pending");
    if (pending)
        return s_enroll_submit (ctx, sub, pending, code);
    //  Counted before (nodes_totp_prepare): refused unchecked while the
    //  second factor is locked or the address throttled.
    s_code_gate_t gate = s_code_gate (ctx);
    if (gate == CODE_UNCOUNTED)
        return engine_fail_internal (ctx);
    if (gate == CODE_LOCKED)
        return engine_fail_because (ctx, "code_locked");
    if (gate == CODE_THROTTLED || gate == CODE_SILENT) {
        int go_on = 0;
        node_outcome_t out = s_code_failed (ctx, &go_on);
        return go_on ? s_totp_wrong (ctx, 0, gate == CODE_THROTTLED ? "throttled" : "invalid_code") : out;
    }
    char *sealed = NULL;
    int64_t last = -1;
    db_status_t st = flow_store_totp_get (ctx->db, sub, &sealed, &last);
    if (st == DB_NOT_FOUND)
        return OUT_FAILURE;
    if (st != DB_OK)
        return engine_fail_db (ctx, st);
    char aad[96];
    s_aad_user (sub, aad, sizeof aad);
    unsigned char *secret = NULL;
    size_t len = 0;
    int opened = s_open (ctx, aad, sealed, &secret, &len) == 0;
    free (sealed);
    if (!opened)
        return engine_fail_internal (ctx);
    int64_t step = -1;
    const char *method = NULL;
    int match = code && s_all_digits (code) &&
                totp_check (secret, len, (int64_t)time (NULL), code, TOTP_WINDOW, last, &step) == 1;
    s_free_secret (&secret, len);
    if (match) {
        //  RFC 6238 §5.2: the guarded UPDATE accepts a step once, even
        //  against a racing submission of the same code.
        st = flow_store_totp_use (ctx->db, sub, step);
        if (st != DB_OK && st != DB_NOT_FOUND)
            return engine_fail_db (ctx, st);
        match = st == DB_OK;
        method = "totp";
    } else if (code && !s_all_digits (code)) {
        unsigned char hash[FLOW_HASH_BYTES];
        if (s_recovery_hash (ctx, sub, code, hash) == 0) {
            st = flow_store_recovery_use (ctx->db, sub, hash);
            if (st != DB_OK && st != DB_NOT_FOUND)
                return engine_fail_db (ctx, st);
            match = st == DB_OK;
            method = "recovery_code";
            if (match)
                log_info ("flow: a recovery code of sub %s was used", sub);
        }
    }
    if (!match) {
        int go_on = 0;
        node_outcome_t out = s_code_failed (ctx, &go_on);
        return go_on ? s_totp_wrong (ctx, 0, "invalid_code") : out;
    }
    //  A second factor that verified resets its count (a password never
    //  does).
    st = lockout_code_success (ctx->db, &ctx->code);
    if (st != DB_OK)
        return engine_fail_db (ctx, st);
    //  RFC 8176 §2: "otp", one-time password.
    return engine_amr_add (ctx, "otp") == 0 && engine_method_add (ctx, method ? method : "totp") == 0
               ? OUT_SUCCESS
               : engine_fail_internal (ctx);
}

//  ------------------------------------------------------------------ email_code

//  A uniformly random code of n digits (rejection sampling: no digit is
//  likelier than another). 0 ok.
static int
s_random_digits (int n, char *out)
{
    for (int i = 0; i < n; i++) {
        unsigned char b;
        do {
            if (secure_random (&b, 1) != 0)
                return -1;
        } while (b >= 250);
        out[i] = (char)('0' + b % 10);
    }
    out[n] = '\0';
    return 0;
}

static int
s_code_mac (const engine_ctx_t *ctx, const char *code, char hex[2 * FLOW_HASH_BYTES + 1])
{
    char label[64];
    unsigned char mac[FLOW_HASH_BYTES];
    //  Bound to the execution: a code is worth nothing in another flow.
    snprintf (label, sizeof label, "email_code:%lld", (long long)ctx->exec->id);
    if (action_mac (ctx->app->flow_key, label, code, mac) != 0)
        return -1;
    secure_hex (mac, sizeof mac, hex);
    return 0;
}

static node_outcome_t
s_email_step (engine_ctx_t *ctx, const char *error)
{
    json_decref (ctx->step);
    ctx->step = engine_step ("email_code", s_code_fields, 1);
    if (!ctx->step)
        return engine_fail_internal (ctx);
    if (error)
        engine_step_error (ctx->step, error, "code");
    const char *hint = engine_get (ctx, "email_hint");
    json_object_set_new (json_object_get (ctx->step, "data"), "email_hint", json_string (hint ? hint : ""));
    return OUT_CHALLENGE;
}

//  The address a node writes to: the user's (when known, enabled, with an
//  address); *hint gets what the page shows (engine_address_hint), the same
//  for a known and an unknown address.
static db_status_t
s_address (engine_ctx_t *ctx, json_t **user, const char **to, char *hint, size_t size)
{
    *to = NULL;
    db_status_t st = engine_user (ctx, user);
    if (st != DB_OK && st != DB_NOT_FOUND)
        return st;
    if (*user && !json_is_true (json_object_get (*user, "disabled")))
        *to = json_string_value (json_object_get (*user, "email"));
    //  An address the outbox cannot mail (a non-ASCII local part, say) is no
    //  address: the step goes on as for an unknown user, and nothing fails.
    if (*to && !outbox_address_ok (*to)) {
        log_warn ("flow %s: the user's address cannot be mailed; no email is sent", ctx->def->name);
        *to = NULL;
    }
    engine_address_hint (ctx, *to, hint, size);
    return DB_OK;
}

//  The second-factor counter key of what an identified-only execution
//  (recovery) was given, whether it names an account or not: "u:" and the
//  hex of an HMAC of it, case folded, under the flow key. Made from the
//  typed text only, so that its count and its lock are the same for a known
//  and an unknown identifier and tell nothing about the account; the table
//  never holds what was typed. 0 ok.
static int
s_identifier_key (const engine_ctx_t *ctx, const char *identifier, char out[LOCKOUT_KEY_MAX + 1])
{
    char folded[IDENTIFIER_MAX + 1];
    size_t n = strnlen (identifier, IDENTIFIER_MAX + 1);
    if (n > IDENTIFIER_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        folded[i] = (char)tolower ((unsigned char)identifier[i]);
    folded[n] = '\0';
    unsigned char mac[FLOW_HASH_BYTES];
    char hex[2 * FLOW_HASH_BYTES + 1];
    int rc = action_mac (ctx->app->flow_key, "code_lockout_identifier", folded, mac);
    secure_wipe (folded, sizeof folded);
    if (rc != 0)
        return -1;
    secure_hex (mac, sizeof mac, hex);
    snprintf (out, LOCKOUT_KEY_MAX + 1, "u:%s", hex);
    return 0;
}

//  An execution that named its user without proving anything yet (a
//  recovery after identify): no authentication method in its amr.
static int
s_identified_only (const engine_ctx_t *ctx)
{
    return engine_get (ctx, "identifier") &&
           json_array_size (json_object_get (ctx->exec->context, "amr")) == 0;
}

int
nodes_email_code_prepare (engine_ctx_t *ctx)
{
    const char *sub = engine_get (ctx, "sub");
    //  A recovery: the counter of what was typed, known or not, is the one
    //  whose lock the page shows; a known account's own counter ("r:" and
    //  its sub, apart from the login's second factor, so that guessing
    //  recovery codes never locks the account's TOTP) caps the guesses of
    //  all its names together, silently (engine.h, code_account).
    if (s_identified_only (ctx)) {
        char key[LOCKOUT_KEY_MAX + 1];
        if (s_identifier_key (ctx, engine_get (ctx, "identifier"), key) != 0)
            return s_code_count (ctx, NULL, NULL);
        if (s_code_count (ctx, key, NULL) != 0)
            return -1;
        if (!sub)
            return 0;
        char account[LOCKOUT_KEY_MAX + 1];
        snprintf (account, sizeof account, "r:%s", sub);
        db_status_t st = lockout_code_before (ctx->db, account, sub, NULL, &ctx->code_account);
        if (st != DB_OK)
            return flow_fail_db (ctx->req, st);
        ctx->code_account_done = 1;
        return 0;
    }
    //  After a password (a login's email code): the account's counter.
    if (sub)
        return s_code_count (ctx, sub, sub);
    return s_code_count (ctx, NULL, NULL);
}

node_outcome_t
nodes_email_code_enter (engine_ctx_t *ctx)
{
    json_t *user = NULL;
    const char *to = NULL;
    char hint[300], code[9], hex[2 * FLOW_HASH_BYTES + 1];
    db_status_t st = s_address (ctx, &user, &to, hint, sizeof hint);
    if (st != DB_OK)
        return engine_fail_db (ctx, st);
    int digits = ctx->app->email_code_digits;
    //  An unknown address gets a code too (never sent, never accepted), so
    //  that both take the same path and the same time.
    int rc = s_random_digits (digits, code) == 0 && s_code_mac (ctx, code, hex) == 0 ? 0 : -1;
    if (rc == 0)
        rc = engine_set (ctx, "code_mac", json_string (hex));
    if (rc == 0)
        rc = engine_set (ctx, "code_expires",
                         json_integer ((json_int_t)time (NULL) + ctx->app->email_code_ttl));
    //  Code emails per account are capped per window (lockout.h): above the
    //  cap nothing is queued, the code is void, and the page is the same.
    const char *sub = engine_get (ctx, "sub");
    if (rc == 0 && to && sub) {
        bool allowed = false;
        st = lockout_code_mail (ctx->db, sub, ctx->client_ip, &allowed);
        if (st != DB_OK) {
            secure_wipe (code, sizeof code);
            json_decref (user);
            return engine_fail_db (ctx, st);
        }
        if (!allowed)
            to = NULL;
    }
    if (rc == 0)
        rc = engine_set (ctx, "code_void", json_boolean (!to));
    if (rc == 0)
        rc = engine_set (ctx, "email_hint", json_string (hint));
    if (rc == 0 && to) {
        //  In the language of the flow that sends it (flow.start locale).
        const char *lang = engine_get (ctx, "locale");
        char minutes[32];
        snprintf (minutes, sizeof minutes, "%ld", (ctx->app->email_code_ttl + 59) / 60);
        const char *product = i18n_get (ctx->app->i18n, lang, "product");
        const char *args[] = {"product", product, "code", code, "minutes", minutes, NULL};
        char *text = i18n_format (ctx->app->i18n, lang, "email.code.text", args);
        char *subject = i18n_format (ctx->app->i18n, lang, "email.code.subject", args);
        //  Queued in the step's transaction: a rolled-back step sends nothing.
        st = text && subject ? outbox_email (ctx->db, ctx->app, ctx->exec->id, to, subject, text) : DB_ERROR;
        secure_free_str (&text);
        free (subject);
        if (st != DB_OK) {
            secure_wipe (code, sizeof code);
            json_decref (user);
            return engine_fail_db (ctx, st);
        }
    }
    secure_wipe (code, sizeof code);
    json_decref (user);
    if (rc != 0)
        return engine_fail_internal (ctx);
    return s_email_step (ctx, NULL);
}

node_outcome_t
nodes_email_code_submit (engine_ctx_t *ctx)
{
    const char *code = engine_input (ctx, "code", CODE_INPUT_MAX);
    const char *stored = engine_get (ctx, "code_mac");
    json_int_t expires = json_integer_value (json_object_get (ctx->exec->context, "code_expires"));
    int ok_form = code && (int)strlen (code) == ctx->app->email_code_digits && s_all_digits (code);
    char hex[2 * FLOW_HASH_BYTES + 1] = "";
    //  The MAC is computed whatever the input, and compared in constant time.
    int mac_ok = s_code_mac (ctx, ok_form ? code : "-", hex) == 0;
    int match = mac_ok && ok_form && stored && secure_streq (hex, stored) &&
                !json_is_true (json_object_get (ctx->exec->context, "code_void")) &&
                (json_int_t)time (NULL) < expires;
    //  Counted before (nodes_email_code_prepare), a known account and an
    //  unknown identifier alike: refused whatever the code while locked or
    //  throttled.
    s_code_gate_t gate = s_code_gate (ctx);
    if (gate == CODE_UNCOUNTED)
        return engine_fail_internal (ctx);
    if (gate == CODE_LOCKED)
        return engine_fail_because (ctx, "code_locked");
    if (gate == CODE_THROTTLED || gate == CODE_SILENT)
        match = 0;
    if (!match) {
        log_info ("flow: email code refused (attempt %ld of %d)", ctx->exec->node_attempts,
                  ENGINE_CODE_ATTEMPTS);
        int go_on = 0;
        node_outcome_t out = s_code_failed (ctx, &go_on);
        if (!go_on)
            return out;
        if (ctx->exec->node_attempts >= ENGINE_CODE_ATTEMPTS)
            return OUT_FAILURE;
        return s_email_step (ctx, gate == CODE_THROTTLED ? "throttled" : "invalid_code");
    }
    db_status_t st = lockout_code_success (ctx->db, &ctx->code);
    if (st == DB_OK && ctx->code_account_done)
        st = lockout_code_success (ctx->db, &ctx->code_account);
    if (st != DB_OK)
        return engine_fail_db (ctx, st);
    json_object_del (ctx->exec->context, "code_mac");
    json_object_del (ctx->exec->context, "code_expires");
    const char *sub = engine_get (ctx, "sub");
    if (ctx->node->verify_email && sub) {
        st = flow_store_user_email_verified (ctx->db, sub);
        if (st == DB_OK)
            st = engine_audit (ctx, AUDIT_EV_email_verified, sub, json_pack ("{s:s}", "method", "code"));
        if (st != DB_OK && st != DB_NOT_FOUND)
            return engine_fail_db (ctx, st);
    }
    return engine_amr_add (ctx, "otp") == 0 && engine_method_add (ctx, "code") == 0
               ? OUT_SUCCESS
               : engine_fail_internal (ctx);
}
