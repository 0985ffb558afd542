/*  audit - the one shape of a security event, whichever service writes it.
 *
 *  The events are the rows of common/audit.def (name, owning service,
 *  meaning). Each service writes its own events into <schema>.audit_events
 *  of its own schema, with the statements AUDIT_SQL_* below prepared by its
 *  store, and lists them with its op <service>.audit_list (proto/ops.def).
 *  A record is checked before it is written: the event is in the registry
 *  and owned by the writing service, every text is bounded and printable,
 *  and details is an object none of whose members is named like a secret.
 *  The trace id is the thread's current request's (log_trace_id), so an
 *  event joins the logs and traces of the request that caused it. */
#ifndef OST_AUDIT_H
#define OST_AUDIT_H

#include "db.h"
#include "ost.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
#define AUDIT_EVENT(name, service, doc) AUDIT_EV_##name,
#include "audit.def"
#undef AUDIT_EVENT
    AUDIT_EV_COUNT
} audit_event_t;

typedef enum {
    AUDIT_SUCCESS, //  "success": the action happened
    AUDIT_FAILURE, //  "failure": it was attempted and failed (a wrong password)
    AUDIT_REFUSED, //  "refused": a rule refused it (a lock, a role, a replay)
} audit_outcome_t;

//  Longest text of actor, subject, client and address, in bytes. An empty
//  text is written as absent.
#define AUDIT_TEXT_MAX 255

typedef struct {
    audit_event_t event;
    audit_outcome_t outcome;
    const char *actor;     //  who acted: "admin", "user", "client", "system", "<role>:<key fingerprint>"
    const char *subject;   //  what it acted on: a user's sub, a client id, a kid, a setting, an op
    const char *client_id; //  the OAuth client concerned
    const char *address;   //  the end user's address (the gateway's client_ip)
    const json_t *details; //  an object without secrets, or NULL
} audit_record_t;

//  The registry: name, owning service ("flow", "token", "keys") and meaning
//  of an event; NULL when event is out of range.
const char *audit_event_name (audit_event_t event);
const char *audit_event_service (audit_event_t event);
const char *audit_event_doc (audit_event_t event);
//  The event of a name; -1 when the registry has none.
int audit_event_find (const char *name);
//  "success", "failure" or "refused"; NULL when out of range.
const char *audit_outcome_name (audit_outcome_t outcome);

//  0 when the record may be written by service, else -1 with the reason in
//  why (a fixed sentence naming the member, never its value).
OST_WUR int audit_check (const audit_record_t *record, const char *service, char *why, size_t why_size);

//  Writes the record with the prepared AUDIT_SQL_INSERT statement stmt,
//  inside the caller's transaction when there is one. A record that fails
//  audit_check is a bug: logged, DB_ERROR.
OST_WUR db_status_t audit_insert (db_t *db, const char *stmt, const char *service,
                                  const audit_record_t *record);

//  The filters of <service>.audit_list (its IN members).
typedef struct {
    bool has_since;
    int64_t since; //  seconds since the epoch, inclusive
    bool has_until;
    int64_t until;       //  seconds since the epoch, exclusive
    const char *event;   //  NULL: every event
    const char *subject; //  NULL: every subject
    bool has_cursor;
    int64_t cursor; //  only events after this id
    bool last;      //  the newest limit events rather than the oldest
    int64_t limit;
} audit_filter_t;

//  The filter of an audit_list request struct (its members have the same
//  names in every service's op).
#define AUDIT_FILTER_OF(in, default_limit)                                                                   \
    ((audit_filter_t){.has_since = (in)->has_since,                                                          \
                      .since = (in)->since,                                                                  \
                      .has_until = (in)->has_until,                                                          \
                      .until = (in)->until,                                                                  \
                      .event = (in)->event,                                                                  \
                      .subject = (in)->subject,                                                              \
                      .has_cursor = (in)->has_cursor,                                                        \
                      .cursor = (in)->cursor,                                                                \
                      .last = (in)->has_last && (in)->last,                                                  \
                      .limit = (in)->has_limit ? (in)->limit : (default_limit)})

//  The events matching filter through the prepared AUDIT_SQL_LIST statement
//  stmt, oldest first: *result receives {"events": [...], "cursor": id of
//  the last one} (no cursor when there is none).
OST_WUR db_status_t audit_list (db_t *db, const char *stmt, const audit_filter_t *filter, json_t **result);

//  A reader that follows one service's trail with audit_list without
//  losing an event. Ids are taken at insert but become visible at commit,
//  so with several workers or replicas id N+1 can be listed before N: a
//  reader that only asked for ids after the last one it saw would never see
//  N. The follower keeps a floor (every id at or below it was shown or given
//  up) and the ids above it already shown (at most AUDIT_FOLLOW_MAX); each
//  poll asks for the ids after audit_follow_cursor, shows those
//  audit_follow_fresh accepts (each id once), then audit_follow_settle
//  raises the floor over the ids shown. A hole below a shown id (a
//  transaction still open, or one rolled back, or an event the filter
//  skips) is waited for settle_ms after the first id above it was shown,
//  then given up.
#define AUDIT_FOLLOW_MAX 4096
typedef struct _audit_follow_t audit_follow_t;

//  A follower whose floor is cursor, waiting settle_ms for a hole; NULL when
//  out of memory.
OST_WUR audit_follow_t *audit_follow_new (int64_t cursor, int64_t settle_ms);
void audit_follow_destroy (audit_follow_t **self_p);
//  The cursor to list from: the floor.
int64_t audit_follow_cursor (const audit_follow_t *self);
//  true the first time id is offered (show it), false when it was shown
//  already or is at or below the floor. now_ms: a monotonic clock.
bool audit_follow_fresh (audit_follow_t *self, int64_t id, int64_t now_ms);
//  Raises the floor over the shown ids next to it, and over a hole that
//  waited settle_ms or when more than AUDIT_FOLLOW_MAX ids are kept.
void audit_follow_settle (audit_follow_t *self, int64_t now_ms);

//  Deletes at most batch events older than days through the prepared
//  AUDIT_SQL_PURGE statement stmt; *deleted says how many.
OST_WUR db_status_t audit_purge (db_t *db, const char *stmt, long days, long batch, int *deleted);

//  The statements of the one shape, in schema, for the stores' statement
//  tables. The table is <schema>.audit_events (migrations/<service>/).
#define AUDIT_SQL_INSERT(schema)                                                                             \
    "INSERT INTO " schema ".audit_events"                                                                    \
    " (event, actor, subject, client_id, address, trace_id, outcome, details)"                               \
    " VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::jsonb)"
#define AUDIT_SQL_INSERT_PARAMS 8
#define AUDIT_SQL_LIST(schema)                                                                               \
    "SELECT COALESCE(json_agg(json_build_object('id', id, 'time',"                                           \
    " to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'service', '" schema "',"         \
    " 'event', event, 'actor', actor, 'subject', subject, 'client_id', client_id, 'address', address,"       \
    " 'trace_id', trace_id, 'outcome', outcome, 'details', details) ORDER BY id), '[]'::json)::text"         \
    " FROM (SELECT * FROM " schema ".audit_events"                                                           \
    "  WHERE ($1::bigint IS NULL OR at >= to_timestamp($1::bigint))"                                         \
    "    AND ($2::bigint IS NULL OR at < to_timestamp($2::bigint))"                                          \
    "    AND ($3::text IS NULL OR event = $3::text) AND ($4::text IS NULL OR subject = $4::text)"            \
    "    AND ($5::bigint IS NULL OR id > $5::bigint)"                                                        \
    "  ORDER BY CASE WHEN $6::bool THEN -id ELSE id END LIMIT $7::int) e"
#define AUDIT_SQL_LIST_PARAMS 7
//  The oldest events first, in the order of the index on at (every
//  schema's audit_events_at): a purge with nothing to delete reads a few
//  index pages whatever the plan (ORDER BY id walked the whole primary key
//  under a generic plan), and the rows go by ctid, not by a join that may
//  scan the table.
#define AUDIT_SQL_PURGE(schema)                                                                              \
    "DELETE FROM " schema ".audit_events WHERE ctid = ANY (ARRAY (SELECT ctid FROM " schema ".audit_events"  \
    " WHERE at < now() - make_interval(days => $1::int) ORDER BY at LIMIT $2::int))"
#define AUDIT_SQL_PURGE_PARAMS 2

#endif
