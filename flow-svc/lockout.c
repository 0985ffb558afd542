/*  lockout - brute-force protection of password logins. See lockout.h.
 *
 *  OWASP Authentication Cheat Sheet, "Protect Against Automated Attacks":
 *  lock an account after a number of failures, for a time, and throttle
 *  the addresses that try many accounts. NIST SP 800-63B §5.2.2: at most
 *  100 consecutive failures per account; our default is 5, adjustable at
 *  run time (settings.h). */
#include "lockout.h"
#include "metrics.h"

#include "flow_args.h"
#include "flow_audit.h"
#include "flow_ops.h"
#include "flow_store.h"
#include "flow_txn.h"
#include "lockout_store.h"
#include "log.h"
#include "settings.h"
#include "users.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ADDRESS_MAX LOCKOUT_ADDRESS_MAX
//  How often a thread deletes address rows whose window ended.
#define SWEEP_SECONDS 60

#define DESC_USERNAME "username must be 1 to 64 of a-z 0-9 . _ @ + -"
#define DESC_NO_USER "no such user"
#define DESC_EXPIRED "the request's deadline passed before the account was unlocked"

//  What the last lockout_before of this thread counted, so that the
//  lockout_success of the same request can take the address failure back,
//  and its lockout_failure knows that the account was open.
static _Thread_local struct {
    char address[ADDRESS_MAX + 1];
    char sub[LOCKOUT_SUB_MAX + 1];
    char open_sub[LOCKOUT_SUB_MAX + 1]; //  counted, and the account was open
} s_pending;

static _Thread_local time_t s_swept; //  CLOCK_MONOTONIC seconds of the last sweep

//  The counter key of a client address: the IPv4 address, or the /64 prefix
//  of an IPv6 address (RFC 4291 §2.5.1: the last 64 bits are the interface
//  identifier, which one host can change at will, so counting per address
//  would let it escape the throttle). An IPv4-mapped IPv6 address counts as
//  its IPv4 address. -1 when ip is not an IP address.
static int
s_address_key (const char *ip, char out[ADDRESS_MAX + 1])
{
    struct in_addr v4;
    struct in6_addr v6;
    if (!ip || strnlen (ip, ADDRESS_MAX + 1) > ADDRESS_MAX)
        return -1;
    if (inet_pton (AF_INET, ip, &v4) == 1)
        return inet_ntop (AF_INET, &v4, out, ADDRESS_MAX + 1) ? 0 : -1;
    if (inet_pton (AF_INET6, ip, &v6) != 1)
        return -1;
    if (IN6_IS_ADDR_V4MAPPED (&v6)) {
        memcpy (&v4, &v6.s6_addr[12], sizeof v4);
        return inet_ntop (AF_INET, &v4, out, ADDRESS_MAX + 1) ? 0 : -1;
    }
    memset (&v6.s6_addr[8], 0, 8);
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop (AF_INET6, &v6, text, sizeof text))
        return -1;
    snprintf (out, ADDRESS_MAX + 1, "%s/64", text);
    return 0;
}

//  Address rows are per address ever seen: each thread deletes a bounded
//  batch of finished windows now and then, so the table stays small.
static void
s_sweep (db_t *db, long window)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    if (s_swept && now.tv_sec - s_swept < SWEEP_SECONDS)
        return;
    s_swept = now.tv_sec ? now.tv_sec : 1;
    long deleted = 0;
    if (lockout_store_address_sweep (db, window, &deleted) == DB_OK && deleted > 0)
        log_debug ("lockout: %ld finished address windows deleted", deleted);
    if (lockout_store_code_sweep (db, &deleted) == DB_OK && deleted > 0)
        log_debug ("lockout: %ld idle code counters of unknown identifiers deleted", deleted);
}

db_status_t
lockout_before (db_t *db, const char *sub, const char *client_ip, lockout_verdict_t *verdict)
{
    //  Fail closed: whatever goes wrong below refuses the attempt.
    *verdict = LOCKOUT_ACCOUNT;
    memset (&s_pending, 0, sizeof s_pending);
    char address[ADDRESS_MAX + 1];
    int have_address = s_address_key (client_ip, address) == 0;
    long address_failures = 0;
    if (have_address) {
        long window = settings_flow (db, SETTING_ADDRESS_WINDOW_SECONDS);
        s_sweep (db, window);
        db_status_t st = lockout_store_address_fail (db, address, window, &address_failures);
        if (st != DB_OK)
            return st;
    }
    bool locked = false;
    if (sub) {
        long failures = 0, threshold = settings_flow (db, SETTING_LOCKOUT_THRESHOLD);
        long seconds = settings_flow (db, SETTING_LOCKOUT_SECONDS);
        db_status_t st = lockout_store_account_fail (db, sub, threshold, seconds, &failures, &locked);
        //  DB_NOT_FOUND: the user was deleted since the caller found it;
        //  there is no account left to count for.
        if (st == DB_NOT_FOUND)
            locked = false;
        else if (st != DB_OK)
            return st;
        else if (locked)
            log_info ("lockout: attempt on a locked account refused (%ld failures)", failures);
        else if (strlen (sub) <= LOCKOUT_SUB_MAX)
            snprintf (s_pending.open_sub, sizeof s_pending.open_sub, "%s", sub);
    }
    if (have_address && address_failures > settings_flow (db, SETTING_ADDRESS_THRESHOLD)) {
        *verdict = LOCKOUT_ADDRESS;
        log_info ("lockout: client address %s throttled (%ld failures in the window)", address,
                  address_failures);
    } else
        *verdict = locked ? LOCKOUT_ACCOUNT : LOCKOUT_OK;
    //  Only an attempt that may succeed can be taken back.
    if (*verdict == LOCKOUT_OK && have_address && sub && strlen (sub) <= LOCKOUT_SUB_MAX) {
        memcpy (s_pending.address, address, sizeof address);
        snprintf (s_pending.sub, sizeof s_pending.sub, "%s", sub);
    }
    return DB_OK;
}

db_status_t
lockout_failure (db_t *db, const char *sub, const char *client_ip)
{
    if (!sub)
        return DB_ERROR;
    //  An attempt refused for the account (locked, or counted past the
    //  threshold while the failure that reached it is being checked) must
    //  not set the lock: that failure may yet turn out a success.
    if (strcmp (s_pending.open_sub, sub) != 0)
        return DB_OK;
    s_pending.open_sub[0] = '\0';
    char address[ADDRESS_MAX + 1];
    long threshold = settings_flow (db, SETTING_LOCKOUT_THRESHOLD);
    long seconds = settings_flow (db, SETTING_LOCKOUT_SECONDS), failures = 0;
    bool locked = false;
    db_status_t st = lockout_store_account_lock (db, sub, threshold, seconds,
                                                 s_address_key (client_ip, address) == 0 ? client_ip : NULL,
                                                 &failures, &locked);
    if (st == DB_OK && locked)
        metrics_inc (METRIC_LOCKOUTS, METRICS_L ("account"));
    if (st == DB_OK && locked)
        log_warn ("lockout: an account was locked for %ld s after %ld failed logins", seconds, failures);
    return st;
}

db_status_t
lockout_success (db_t *db, const char *sub)
{
    if (!sub)
        return DB_ERROR;
    db_status_t st = lockout_store_account_reset (db, sub);
    if (st == DB_OK && s_pending.sub[0] && !strcmp (s_pending.sub, sub))
        st = lockout_store_address_forgive (db, s_pending.address);
    memset (&s_pending, 0, sizeof s_pending);
    return st;
}

//  ------------------------------------------------------------------ second factor

//  NIST SP 800-63B §5.2.2 limits consecutive failed attempts per
//  subscriber account, whatever the authenticator: five wrong codes per
//  execution and no limit across executions would allow unbounded guesses
//  of a 6-digit TOTP to one who holds the password. OWASP Multifactor
//  Authentication Cheat Sheet: a failed second factor must not reset with
//  the password, and is worth an alert (the audit event).
db_status_t
lockout_code_before (db_t *db, const char *key, const char *sub, const char *client_ip, lockout_code_t *lc)
{
    memset (lc, 0, sizeof *lc);
    lc->verdict = LOCKOUT_ACCOUNT;
    if (key && strlen (key) > LOCKOUT_KEY_MAX)
        return DB_ERROR;
    char address[ADDRESS_MAX + 1];
    int have_address = s_address_key (client_ip, address) == 0;
    long address_failures = 0;
    if (have_address) {
        //  ARCHITECTURE.md: the address counter is one for every kind of
        //  failure, so one address cannot spread guesses over accounts.
        long window = settings_flow (db, SETTING_ADDRESS_WINDOW_SECONDS);
        s_sweep (db, window);
        db_status_t st = lockout_store_address_fail (db, address, window, &address_failures);
        if (st != DB_OK)
            return st;
        memcpy (lc->address, address, sizeof address);
    }
    bool locked = false;
    if (key) {
        long failures = 0, threshold = settings_flow (db, SETTING_CODE_LOCKOUT_THRESHOLD);
        long seconds = settings_flow (db, SETTING_CODE_LOCKOUT_SECONDS);
        db_status_t st = lockout_store_code_fail (db, key, sub, threshold, seconds, &failures, &locked);
        //  DB_NOT_FOUND: the user was deleted meanwhile; nothing to count.
        if (st == DB_NOT_FOUND)
            locked = false;
        else if (st != DB_OK)
            return st;
        else {
            snprintf (lc->key, sizeof lc->key, "%s", key);
            lc->open = !locked;
            if (locked)
                log_info ("lockout: a code for a locked second factor refused (%ld failures)", failures);
        }
    }
    if (have_address && address_failures > settings_flow (db, SETTING_ADDRESS_THRESHOLD)) {
        lc->verdict = LOCKOUT_ADDRESS;
        log_info ("lockout: client address %s throttled (%ld failures in the window)", address,
                  address_failures);
    } else
        lc->verdict = locked ? LOCKOUT_ACCOUNT : LOCKOUT_OK;
    return DB_OK;
}

db_status_t
lockout_code_failure (db_t *db, lockout_code_t *lc, const char *client_ip, bool *locked)
{
    *locked = false;
    metrics_inc (METRIC_LOGINS_FAILED, METRICS_L ("code_failed"));
    //  A submission refused for its key must not set the lock: the one that
    //  reached the threshold may still be being checked.
    if (!lc->open || !lc->key[0])
        return DB_OK;
    lc->open = false;
    char address[ADDRESS_MAX + 1];
    long threshold = settings_flow (db, SETTING_CODE_LOCKOUT_THRESHOLD);
    long seconds = settings_flow (db, SETTING_CODE_LOCKOUT_SECONDS), failures = 0;
    db_status_t st = lockout_store_code_lock (db, lc->key, threshold, seconds,
                                              s_address_key (client_ip, address) == 0 ? client_ip : NULL,
                                              &failures, locked);
    if (st == DB_OK && *locked)
        metrics_inc (METRIC_LOCKOUTS, METRICS_L ("second_factor"));
    if (st == DB_OK && *locked)
        log_warn ("lockout: a second factor was locked for %ld s after %ld wrong codes", seconds, failures);
    return st;
}

db_status_t
lockout_code_success (db_t *db, lockout_code_t *lc)
{
    db_status_t st = lc->key[0] ? lockout_store_code_reset (db, lc->key) : DB_OK;
    if (st == DB_OK && lc->address[0] && lc->verdict == LOCKOUT_OK)
        st = lockout_store_address_forgive (db, lc->address);
    memset (lc, 0, sizeof *lc);
    return st;
}

db_status_t
lockout_code_mail (db_t *db, const char *sub, const char *client_ip, bool *allowed)
{
    *allowed = false;
    long cap = settings_flow (db, SETTING_CODE_MAIL_CAP);
    long window = settings_flow (db, SETTING_CODE_MAIL_WINDOW_SECONDS), sent = 0;
    char address[ADDRESS_MAX + 1];
    db_status_t st = lockout_store_code_mail (
        db, sub, window, cap, s_address_key (client_ip, address) == 0 ? client_ip : NULL, &sent);
    //  DB_NOT_FOUND: the user was deleted meanwhile; no mail then either.
    if (st == DB_NOT_FOUND)
        return DB_OK;
    if (st != DB_OK)
        return st;
    *allowed = sent <= cap;
    if (sent == cap + 1)
        log_warn ("lockout: code emails to an account capped (%ld in %ld s)", cap, window);
    return DB_OK;
}

//  ------------------------------------------------------------------ flow.user_unlock

int
flow_op_user_unlock (bus_req_t *req, const json_t *body, json_t **result)
{
    db_t *db = flow_db (req);
    OST_UNUSED (body);
    const flow_user_unlock_in_t *in = BUS_IN (req, flow_user_unlock);
    char username[USERNAME_MAX + 1];
    if (users_fold_username (in->username, strlen (in->username), username) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_USERNAME);
        return -1;
    }
    char sub[LOCKOUT_SUB_MAX + 1];
    bool was_locked = false, codes_were_locked = false;
    //  The unlock and its audit event commit together.
    db_status_t st = db_begin (db);
    if (st == DB_OK)
        st = lockout_store_unlock (db, username, sub, &was_locked, &codes_were_locked);
    if (st == DB_OK) {
        json_t *detail =
            json_pack ("{s:b, s:b}", "was_locked", was_locked, "second_factor_was_locked", codes_were_locked);
        st = detail ? flow_audit_write (db, &(audit_record_t){.event = AUDIT_EV_unlock,
                                                              .outcome = AUDIT_SUCCESS,
                                                              .actor = req->actor ? req->actor : "admin",
                                                              .subject = sub,
                                                              .details = detail})
                    : DB_ERROR;
        json_decref (detail);
    }
    if (flow_txn_end (req, db, &st, DESC_EXPIRED) != 0)
        return -1;
    if (st == DB_NOT_FOUND) {
        bus_req_fail (req, OST_ERR_NOT_FOUND, DESC_NO_USER);
        return -1;
    }
    if (st != DB_OK)
        return flow_fail_db (req, st);
    log_info ("lockout: account unlocked (was %s; second factor %s)", was_locked ? "locked" : "not locked",
              codes_were_locked ? "locked" : "not locked");
    return flow_result (req,
                        json_pack ("{s:s, s:b, s:b}", "sub", sub, "was_locked", was_locked,
                                   "second_factor_was_locked", codes_were_locked),
                        result);
}
