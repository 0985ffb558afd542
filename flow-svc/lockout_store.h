/*  lockout_store - the SQL of lockout.c, settings.c and audit.c (schema of
 *  migrations/flow/005_lockout.sql). It stands beside flow_store.c, with
 *  the same rules: status
 *  set of db.h, DB_NOT_FOUND when a single-row lookup matched nothing,
 *  times are the database's now(). Each worker connection prepares these
 *  statements on first use (or through lockout_store_prepare). */
#ifndef FLOW_LOCKOUT_STORE_H
#define FLOW_LOCKOUT_STORE_H

#include "audit.h"
#include "db.h"
#include "ost.h"

#include <jansson.h>
#include <stdbool.h>

//  Longest subject identifier (migrations/flow/002_users.sql).
#define LOCKOUT_SUB_MAX 64

//  Prepares the statements on a worker thread's connection (once per
//  connection; a second call is a no-op). 0 ok.
OST_WUR int lockout_store_prepare (db_t *db);

//  One attempt of sub counted before its password is checked (see
//  lockout.h): *failures after it; *refused when the row it found was
//  locked or already at threshold failures (the count restarts at 1 after
//  an expired lock, or when it has stood at the threshold without a lock
//  for seconds). DB_NOT_FOUND when sub is not a user.
OST_WUR db_status_t lockout_store_account_fail (db_t *db, const char *sub, long threshold, long seconds,
                                                long *failures, bool *refused);
//  A failed check of sub: locks it for seconds when it has threshold
//  failures and no lock is in force, and then, in the same statement, writes
//  the lockout audit event with client_ip. *locked when this call set the
//  lock, *failures the count then.
OST_WUR db_status_t lockout_store_account_lock (db_t *db, const char *sub, long threshold, long seconds,
                                                const char *client_ip, long *failures, bool *locked);
//  A success of sub: the count back to 0, unless a lock is in force.
OST_WUR db_status_t lockout_store_account_reset (db_t *db, const char *sub);
//  op flow.user_unlock: clears the password counter and lock and the
//  second-factor counter and lock of username, in one statement. sub gets
//  the user's sub; *was_locked and *codes_were_locked say which lock was in
//  force. DB_NOT_FOUND when there is no such user.
OST_WUR db_status_t lockout_store_unlock (db_t *db, const char *username, char sub[LOCKOUT_SUB_MAX + 1],
                                          bool *was_locked, bool *codes_were_locked);
//  One failure from address counted in its fixed window of window seconds;
//  *failures in the window after it.
OST_WUR db_status_t lockout_store_address_fail (db_t *db, const char *address, long window, long *failures);
//  Takes back one failure of address (the attempt succeeded).
OST_WUR db_status_t lockout_store_address_forgive (db_t *db, const char *address);
//  Deletes a bounded batch of address rows whose window ended; *deleted.
OST_WUR db_status_t lockout_store_address_sweep (db_t *db, long window, long *deleted);

//  One code attempt of key counted before the code is checked (see
//  lockout.h, "second factor"): sub is the account's sub (then key = sub),
//  or NULL for the key of an unknown identifier. As
//  lockout_store_account_fail; the count also restarts after seven idle days.
//  DB_NOT_FOUND when sub is not a user.
OST_WUR db_status_t lockout_store_code_fail (db_t *db, const char *key, const char *sub, long threshold,
                                             long seconds, long *failures, bool *refused);
//  A wrong code of key: as lockout_store_account_lock, with the
//  second_factor_lockout audit event.
OST_WUR db_status_t lockout_store_code_lock (db_t *db, const char *key, long threshold, long seconds,
                                             const char *client_ip, long *failures, bool *locked);
//  A code of key verified: the count back to 0, unless a lock is in force.
OST_WUR db_status_t lockout_store_code_reset (db_t *db, const char *key);
//  Deletes a bounded batch of rows of unknown identifiers idle for seven
//  days; *deleted.
OST_WUR db_status_t lockout_store_code_sweep (db_t *db, long *deleted);
//  One code email to sub counted in its fixed window of window seconds;
//  *sent in the window after it. The first count above cap in a window
//  writes the code_mail_capped audit event (with client_ip). DB_NOT_FOUND
//  when sub is not a user.
OST_WUR db_status_t lockout_store_code_mail (db_t *db, const char *sub, long window, long cap,
                                             const char *client_ip, long *sent);

//  Every stored setting as an object name → value (JSON as stored).
OST_WUR db_status_t lockout_store_settings_load (db_t *db, json_t **settings);
//  Inside a transaction: makes settings writers take turns.
OST_WUR db_status_t lockout_store_settings_lock (db_t *db);
//  Stores value (an integer) for name; value NULL deletes it (the default
//  applies again).
OST_WUR db_status_t lockout_store_setting_put (db_t *db, const char *name, const long *value);

//  One audit event (common/audit.h), in the caller's transaction if any.
OST_WUR db_status_t lockout_store_audit_insert (db_t *db, const audit_record_t *record);
//  The events filter selects: *result is flow.audit_list's result.
OST_WUR db_status_t lockout_store_audit_list (db_t *db, const audit_filter_t *filter, json_t **result);
//  Deletes at most batch events older than days; *deleted says how many.
OST_WUR db_status_t lockout_store_audit_purge (db_t *db, long days, long batch, int *deleted);

#endif
