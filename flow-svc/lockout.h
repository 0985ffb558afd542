/*  lockout - brute-force protection of password logins (issue 6, section
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
 *    for lockout_seconds and writes one `lockout` audit event (issue 6: "5
 *    failed attempts → the account is locked for 15 minutes");
 *  - per client address: attempts in a fixed window of
 *    address_window_seconds, throttled above address_threshold.
 *  Thresholds come from settings.h, adjustable at run time. */
#ifndef FLOW_LOCKOUT_H
#define FLOW_LOCKOUT_H

#include "bus_worker.h"
#include "db.h"
#include "ost.h"

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

//  op flow.user_unlock (proto/ops.md, issue 6): clears the counter and lock
//  of a user; audited.
int flow_op_user_unlock (bus_req_t *req, const json_t *body, json_t **result);

#endif
