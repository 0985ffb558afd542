/*  audit - the one shape of a security event. See audit.h. */
#include "audit.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    const char *service;
    const char *doc;
} s_events[] = {
#define AUDIT_EVENT(name, service, doc) {#name, #service, doc},
#include "audit.def"
#undef AUDIT_EVENT
};

static const char *const s_outcomes[] = {"success", "failure", "refused"};

//  Member names that hold secrets wherever they appear in details: such a
//  member is refused, whatever its value, so a secret cannot be recorded by
//  passing a request's body along.
static const char *const s_secret_names[] = {
    "password",    "new_password", "secret",        "client_secret", "code",         "code_verifier",
    "token",       "access_token", "refresh_token", "id_token",      "action_token", "kek",
    "private_key", "jws",          "otp",           "totp_secret",   "assertion",    NULL};

const char *
audit_event_name (audit_event_t event)
{
    return (unsigned)event < AUDIT_EV_COUNT ? s_events[event].name : NULL;
}

const char *
audit_event_service (audit_event_t event)
{
    return (unsigned)event < AUDIT_EV_COUNT ? s_events[event].service : NULL;
}

const char *
audit_event_doc (audit_event_t event)
{
    return (unsigned)event < AUDIT_EV_COUNT ? s_events[event].doc : NULL;
}

int
audit_event_find (const char *name)
{
    for (int i = 0; name && i < AUDIT_EV_COUNT; i++)
        if (strcmp (s_events[i].name, name) == 0)
            return i;
    return -1;
}

const char *
audit_outcome_name (audit_outcome_t outcome)
{
    return (unsigned)outcome < sizeof s_outcomes / sizeof s_outcomes[0] ? s_outcomes[outcome] : NULL;
}

//  Printable ASCII or UTF-8 without control characters, at most
//  AUDIT_TEXT_MAX bytes; NULL or empty is fine (the member is absent).
static int
s_text_ok (const char *text)
{
    if (!text)
        return 1;
    size_t n = strlen (text);
    if (n > AUDIT_TEXT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

static int
s_secret_name (const char *name)
{
    for (int i = 0; s_secret_names[i]; i++)
        if (strcmp (s_secret_names[i], name) == 0)
            return 1;
    return 0;
}

//  Whether value (at depth) names no secret member anywhere inside it.
static int
s_details_ok (const json_t *value, int depth)
{
    if (depth > 8)
        return 0;
    if (json_is_object (value)) {
        const char *key;
        const json_t *member;
        json_object_foreach ((json_t *)value, key, member)
        {
            if (s_secret_name (key) || !s_details_ok (member, depth + 1))
                return 0;
        }
    } else if (json_is_array (value)) {
        size_t i;
        const json_t *item;
        json_array_foreach (value, i, item)
        {
            if (!s_details_ok (item, depth + 1))
                return 0;
        }
    }
    return 1;
}

int
audit_check (const audit_record_t *record, const char *service, char *why, size_t why_size)
{
    const char *reason = NULL;
    if (!record || !service)
        reason = "no record";
    else if (!audit_event_name (record->event))
        reason = "event: not in common/audit.def";
    else if (strcmp (audit_event_service (record->event), service) != 0)
        reason = "event: owned by another service";
    else if (!audit_outcome_name (record->outcome))
        reason = "outcome: unknown";
    else if (!s_text_ok (record->actor))
        reason = "actor: too long or not printable";
    else if (!s_text_ok (record->subject))
        reason = "subject: too long or not printable";
    else if (!s_text_ok (record->client_id))
        reason = "client_id: too long or not printable";
    else if (!s_text_ok (record->address))
        reason = "address: too long or not printable";
    else if (record->details && !json_is_object (record->details))
        reason = "details: not an object";
    else if (record->details && !s_details_ok (record->details, 0))
        reason = "details: a member is named like a secret, or nests too deep";
    if (reason && why && why_size)
        snprintf (why, why_size, "%s", reason);
    return reason ? -1 : 0;
}

//  An empty text is an absent member.
static const char *
s_or_null (const char *text)
{
    return text && *text ? text : NULL;
}

db_status_t
audit_insert (db_t *db, const char *stmt, const char *service, const audit_record_t *record)
{
    char why[96];
    if (audit_check (record, service, why, sizeof why) != 0) {
        log_error ("audit: a %s event refused: %s", record ? audit_event_name (record->event) : "(none)",
                   why);
        return DB_ERROR;
    }
    char *details = record->details ? json_dumps (record->details, JSON_COMPACT) : strdup ("{}");
    if (!details)
        return DB_ERROR;
    const char *trace = log_trace_id ();
    const char *params[AUDIT_SQL_INSERT_PARAMS] = {
        audit_event_name (record->event),     s_or_null (record->actor),
        s_or_null (record->subject),          s_or_null (record->client_id),
        s_or_null (record->address),          s_or_null (trace),
        audit_outcome_name (record->outcome), details};
    db_status_t st = db_exec_logged (db, stmt, AUDIT_SQL_INSERT_PARAMS, params, NULL);
    free (details);
    if (st == DB_OK)
        log_info ("audit: %s %s", audit_event_name (record->event), audit_outcome_name (record->outcome));
    return st;
}

db_status_t
audit_list (db_t *db, const char *stmt, const audit_filter_t *filter, json_t **result)
{
    *result = NULL;
    char since[24], until[24], cursor[24], limit[24];
    snprintf (since, sizeof since, "%lld", (long long)filter->since);
    snprintf (until, sizeof until, "%lld", (long long)filter->until);
    snprintf (cursor, sizeof cursor, "%lld", (long long)filter->cursor);
    snprintf (limit, sizeof limit, "%lld", (long long)filter->limit);
    const char *params[AUDIT_SQL_LIST_PARAMS] = {
        filter->has_since ? since : NULL,   filter->has_until ? until : NULL, filter->event, filter->subject,
        filter->has_cursor ? cursor : NULL, filter->last ? "true" : "false",  limit};
    PGresult *res = NULL;
    db_status_t st = db_exec_logged (db, stmt, AUDIT_SQL_LIST_PARAMS, params, &res);
    if (st != DB_OK)
        return st;
    json_t *events = NULL;
    if (PQntuples (res) == 1 && !PQgetisnull (res, 0, 0))
        events = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
    PQclear (res);
    if (!json_is_array (events)) {
        json_decref (events);
        return DB_ERROR;
    }
    json_t *out = json_pack ("{s:o}", "events", events);
    size_t n = json_array_size (events);
    if (out && n > 0 &&
        json_object_set (out, "cursor", json_object_get (json_array_get (events, n - 1), "id")) != 0) {
        json_decref (out);
        out = NULL;
    }
    if (!out)
        return DB_ERROR;
    *result = out;
    return DB_OK;
}

db_status_t
audit_purge (db_t *db, const char *stmt, long days, long batch, int *deleted)
{
    char d[24], b[24];
    snprintf (d, sizeof d, "%ld", days);
    snprintf (b, sizeof b, "%ld", batch);
    const char *params[AUDIT_SQL_PURGE_PARAMS] = {d, b};
    PGresult *res = NULL;
    *deleted = 0;
    db_status_t st = db_exec_logged (db, stmt, AUDIT_SQL_PURGE_PARAMS, params, &res);
    if (st == DB_OK)
        *deleted = atoi (PQcmdTuples (res));
    PQclear (res);
    return st;
}

//  An id shown above the floor, and when it was first shown.
typedef struct {
    int64_t id;
    int64_t seen_ms;
} s_shown_t;

struct _audit_follow_t {
    int64_t floor;
    int64_t settle_ms;
    size_t count;     //  shown ids above the floor, ascending in shown[]
    s_shown_t *shown; //  AUDIT_FOLLOW_MAX + 1 slots
};

audit_follow_t *
audit_follow_new (int64_t cursor, int64_t settle_ms)
{
    audit_follow_t *self = calloc (1, sizeof *self);
    if (self)
        self->shown = calloc (AUDIT_FOLLOW_MAX + 1, sizeof *self->shown);
    if (!self || !self->shown) {
        free (self);
        return NULL;
    }
    self->floor = cursor;
    self->settle_ms = settle_ms;
    return self;
}

void
audit_follow_destroy (audit_follow_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->shown);
    free (*self_p);
    *self_p = NULL;
}

int64_t
audit_follow_cursor (const audit_follow_t *self)
{
    return self->floor;
}

bool
audit_follow_fresh (audit_follow_t *self, int64_t id, int64_t now_ms)
{
    if (id <= self->floor)
        return false;
    size_t at = 0;
    while (at < self->count && self->shown[at].id < id)
        at++;
    if (at < self->count && self->shown[at].id == id)
        return false;
    memmove (&self->shown[at + 1], &self->shown[at], (self->count - at) * sizeof *self->shown);
    self->shown[at] = (s_shown_t){.id = id, .seen_ms = now_ms};
    self->count++;
    //  One slot more than the bound: the lowest hole is given up.
    if (self->count > AUDIT_FOLLOW_MAX)
        audit_follow_settle (self, now_ms);
    return true;
}

void
audit_follow_settle (audit_follow_t *self, int64_t now_ms)
{
    size_t drop = 0;
    while (drop < self->count) {
        const s_shown_t *next = &self->shown[drop];
        bool next_to_floor = next->id == self->floor + 1;
        bool waited = now_ms - next->seen_ms >= self->settle_ms;
        bool over = self->count - drop > AUDIT_FOLLOW_MAX;
        if (!next_to_floor && !waited && !over)
            break;
        self->floor = next->id;
        drop++;
    }
    memmove (self->shown, &self->shown[drop], (self->count - drop) * sizeof *self->shown);
    self->count -= drop;
}
