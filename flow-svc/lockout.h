/*  lockout - brute-force protection of password logins (docs/flows.md,
 *  "Lockout"; OWASP Authentication Cheat Sheet, "Account Lockout"; NIST SP
 *  800-63B §5.2.2 "Rate Limiting (Throttling)").
 *
 *  Two counters, each moved by ONE statement (INSERT ... ON CONFLICT DO
 *  UPDATE ... RETURNING) before the password is checked, never read then
 *  written: so parallel attempts on many replicas cannot slip past the
 *  threshold (ARCHITECTURE.md).
 *  - per account: failures since the last success; each attempt is judged
 *    by the count it found, so the first lockout_threshold attempts are
 *    checked, and the failure of the one that reached it locks the account
 *    for lockout_seconds and writes one `lockout` audit event (by default
 *    5 failed attempts lock the account for 15 minutes);
 *  - per client address: attempts in a fixed window of
 *    address_window_seconds, throttled above address_threshold.
 *  Thresholds come from settings.h, adjustable at run time.
 *
 *  Second factors (TOTP codes, TOTP recovery codes, email codes) have the
 *  same protection across flow executions (an execution allows
 *  ENGINE_CODE_ATTEMPTS wrong codes; without this, one who holds the
 *  password could start login after login): a per-account counter of wrong
 *  codes that only a code that verifies resets (never a password), locked
 *  for code_lockout_seconds at code_lockout_threshold with one
 *  `second_factor_lockout` audit event; wrong codes also count for the
 *  client address, in the password's throttle; and code emails per account
 *  are capped per window (code_mail_cap). */
#ifndef FLOW_LOCKOUT_H
#define FLOW_LOCKOUT_H

#include "bus_worker.h"
#include "db.h"
#include "ost.h"

#include <stdbool.h>

//  An IPv6 address text (INET6_ADDRSTRLEN) and "/64".
#define LOCKOUT_ADDRESS_MAX 64
//  Longest second-factor counter key: a sub (LOCKOUT_SUB_MAX), or "u:" and
//  the hex of an HMAC-SHA256 for an unknown identifier.
#define LOCKOUT_KEY_MAX 80

typedef enum {
    LOCKOUT_OK,      //  go on and verify the password
    LOCKOUT_ACCOUNT, //  the account is locked: refuse, whatever the password
    LOCKOUT_ADDRESS, //  the client address is throttled: refuse
} lockout_verdict_t;

//  Counts one password attempt before the password is verified, as a
//  failure: the address counter of client_ip (NULL or not an IP address =
//  not counted) and, when sub is not NULL (a known user), the account's
//  counter. Sets *verdict: LOCKOUT_ADDRESS when the address is above
//  address_threshold in its window (whatever the account: the answer then
//  tells nothing about it), else LOCKOUT_ACCOUNT when, before this
//  increment, the account was locked or already had lockout_threshold
//  failures (the lock of the last of them may not be set yet), else
//  LOCKOUT_OK. Call it outside a transaction: each counter is one
//  autocommitted statement, so a step rolled back still counts. The
//  password is verified (Argon2id) whatever the verdict, so that a locked
//  account takes the same time as a wrong password. On an error *verdict is
//  LOCKOUT_ACCOUNT (fail closed) and the caller fails the request.
OST_WUR db_status_t lockout_before (db_t *db, const char *sub, const char *client_ip,
                                    lockout_verdict_t *verdict);
//  The attempt on sub failed (a wrong password, or refused by the address
//  throttle) while its verdict was not LOCKOUT_ACCOUNT: if the count has
//  reached lockout_threshold and no lock is in force, locks the account for
//  lockout_seconds and writes the one `lockout` audit event (with
//  client_ip), in one statement. Does nothing unless this thread's last
//  lockout_before counted sub and found the account open, so an attempt
//  refused for the account never locks it early.
OST_WUR db_status_t lockout_failure (db_t *db, const char *sub, const char *client_ip);
//  The password of sub verified while the verdict was LOCKOUT_OK: resets the
//  account's failure counter (a lock set meanwhile by a parallel attempt
//  stays), and takes back the address failure that this thread's last
//  lockout_before counted for sub, i.e. the same request: the address
//  counter then counts failures only, and people who log in from one
//  address behind a NAT do not throttle each other.
OST_WUR db_status_t lockout_success (db_t *db, const char *sub);

//  ------------------------------------------------------------------ second factor

//  What lockout_code_before counted for one code submission: the caller
//  keeps it for the lockout_code_failure or lockout_code_success of the
//  same submission.
typedef struct {
    lockout_verdict_t verdict;
    char key[LOCKOUT_KEY_MAX + 1];         //  the counter key counted; "" none
    char address[LOCKOUT_ADDRESS_MAX + 1]; //  the address key counted; "" none
    bool open;                             //  key counted and found open: its failure may lock it
} lockout_code_t;

//  Counts one code submission before the code is checked, as a failure, in
//  one autocommitted statement per counter (call it outside a
//  transaction): the address counter of client_ip (as lockout_before) and,
//  when key is not NULL, the second-factor counter of key (sub: the
//  account's sub, key = sub; or NULL when key stands for an identifier that
//  names no account). Sets lc->verdict: LOCKOUT_ADDRESS when the address is
//  above address_threshold, else LOCKOUT_ACCOUNT when, before this
//  increment, key was locked or already had code_lockout_threshold
//  failures, else LOCKOUT_OK. Only a LOCKOUT_OK submission may be checked.
//  On an error lc->verdict is LOCKOUT_ACCOUNT (fail closed).
OST_WUR db_status_t lockout_code_before (db_t *db, const char *key, const char *sub, const char *client_ip,
                                         lockout_code_t *lc);
//  The submission was wrong (or refused by the address throttle): when its
//  key was found open and the count has reached code_lockout_threshold,
//  locks key for code_lockout_seconds and writes the one
//  `second_factor_lockout` audit event, in one statement; *locked then.
//  In the step's transaction.
OST_WUR db_status_t lockout_code_failure (db_t *db, lockout_code_t *lc, const char *client_ip, bool *locked);
//  The code verified while the verdict was LOCKOUT_OK: resets key's count
//  (a lock set meanwhile stays) and takes back the address failure it
//  counted. In the step's transaction.
OST_WUR db_status_t lockout_code_success (db_t *db, lockout_code_t *lc);
//  Before a code email to sub is queued, in the step's transaction: counts
//  it in the window of code_mail_window_seconds (one statement); *allowed
//  unless the count is above code_mail_cap. The first refusal in a window
//  writes one `code_mail_capped` audit event (same statement).
OST_WUR db_status_t lockout_code_mail (db_t *db, const char *sub, const char *client_ip, bool *allowed);

//  op flow.user_unlock (proto/ops.md): clears the counters and
//  locks of a user, the password's and the second factor's; audited.
int flow_op_user_unlock (bus_req_t *req, const json_t *body, json_t **result);

#endif
