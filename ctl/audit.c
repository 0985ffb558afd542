/*  ctl/audit - `ostiaryctl audit ...`: the audit trail of every service
 *  (docs/audit.md), read with flow.audit_list, token.audit_list and
 *  keys.audit_list (proto/ops.md) and merged in time order.
 *
 *    ostiaryctl audit list [--since WHEN] [--until WHEN] [--event NAME] [--subject S]
 *                          [--service SVC] [--limit N] [--json]
 *    ostiaryctl audit tail [-n N] [--since WHEN] [--event NAME] [--subject S]
 *                          [--service SVC] [--json] [--follow]
 *
 *  Exit codes: 0 done (tail --follow: stopped by SIGINT or SIGTERM); 1 a
 *  service answered with another error (unavailable, forbidden); 2 bad
 *  usage or input, with a message on stderr. */
#include "ctl.h"

#include "audit.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  The services whose events are merged, in the order of equal times.
static const char *const s_services[] = {"flow", "token", "keys"};
#define NSERVICES (sizeof s_services / sizeof s_services[0])
//  Events asked for per call (the ops' largest limit).
#define PAGE_MAX 1000
//  How often tail --follow asks every service for new events.
#define FOLLOW_POLL_MS 1000
//  How long tail --follow waits for an id below one it printed (a
//  transaction still open) before giving it up (rolled back, or filtered).
#define FOLLOW_SETTLE_MS 30000

static int
s_usage (FILE *out)
{
    fprintf (out, "usage: ostiaryctl audit list [--since WHEN] [--until WHEN] [--event NAME] [--subject S]\n"
                  "                             [--service SVC] [--limit N] [--json]\n"
                  "       ostiaryctl audit tail [-n N] [--since WHEN] [--event NAME] [--subject S]\n"
                  "                             [--service SVC] [--json] [--follow]\n"
                  "\n"
                  "  The security events of every service (flow, token, keys; docs/audit.md), merged in\n"
                  "  time order. list shows the oldest matching events (at most --limit, default 1000),\n"
                  "  tail the newest (-n, default 20); --follow then keeps printing new events, one JSON\n"
                  "  object per line (for a SIEM), until SIGINT or SIGTERM. Each event is printed once,\n"
                  "  also one committed after a newer one (it asks again from below an id it has not\n"
                  "  seen yet, for up to 30 s after a newer one; then that id is taken as rolled back).\n"
                  "  WHEN: seconds since the epoch, a UTC time 2026-12-07T12:00:00Z, or an age such as\n"
                  "  90s, 15m, 2h or 7d. --event: a name of common/audit.def; --service: flow, token or\n"
                  "  keys only. --json: a JSON array (with --follow, JSON lines).\n"
                  "\n");
    ctl_print_exit_codes (out);
    return CTL_USAGE;
}

typedef struct {
    const char *event;
    const char *subject;
    const char *service; //  NULL: every service
    bool has_since, has_until;
    int64_t since, until;
    long limit;
    bool json, follow, tail;
} s_args_t;

//  WHEN as seconds since the epoch; -1 when it is none of the forms.
static int64_t
s_when (const char *text)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll (text, &end, 10);
    if (*text && end != text && errno == 0 && n >= 0) {
        if (!*end)
            return n;
        long unit = !strcmp (end, "s")   ? 1
                    : !strcmp (end, "m") ? 60
                    : !strcmp (end, "h") ? 3600
                    : !strcmp (end, "d") ? 86400
                                         : 0;
        if (unit && n <= INT32_MAX)
            return (int64_t)time (NULL) - n * unit;
    }
    struct tm tm = {0};
    const char *rest = strptime (text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest && (!strcmp (rest, "Z") || !*rest))
        return (int64_t)timegm (&tm);
    return -1;
}

//  Parses the options after the subcommand; CTL_OK or a usage error.
static int
s_parse (int argc, char **argv, s_args_t *args)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (opt, "--json"))
            args->json = true;
        else if (!strcmp (opt, "--follow") && args->tail)
            args->follow = true;
        else if (!value)
            return ctl_bad ("audit", "unknown option or missing value", opt);
        else if (!strcmp (opt, "--event"))
            args->event = argv[++i];
        else if (!strcmp (opt, "--subject"))
            args->subject = argv[++i];
        else if (!strcmp (opt, "--service")) {
            size_t k = 0;
            while (k < NSERVICES && strcmp (s_services[k], value) != 0)
                k++;
            if (k == NSERVICES)
                return ctl_bad ("audit", "--service must be flow, token or keys", value);
            args->service = argv[++i];
        } else if (!strcmp (opt, "--since") || !strcmp (opt, "--until")) {
            int64_t when = s_when (value);
            if (when < 0)
                return ctl_bad ("audit",
                                "WHEN must be seconds since the epoch, YYYY-MM-DDTHH:MM:SSZ or an age (15m)",
                                value);
            if (opt[2] == 's')
                args->since = when, args->has_since = true;
            else
                args->until = when, args->has_until = true;
            i++;
        } else if ((!strcmp (opt, "--limit") && !args->tail) || (!strcmp (opt, "-n") && args->tail)) {
            char *end = NULL;
            errno = 0;
            long n = strtol (value, &end, 10);
            if (!*value || *end || errno || n < 1 || n > 100000)
                return ctl_bad ("audit", "the count must be an integer from 1 to 100000", value);
            args->limit = n;
            i++;
        } else
            return ctl_bad ("audit", "unknown option", opt);
        if (!ctl_utf8 (argv[i]))
            return ctl_bad ("audit", "an argument is not UTF-8", NULL);
    }
    return CTL_OK;
}

//  One page of <service>.audit_list: the events (new reference) and the
//  cursor of the next page; CTL_OK, or the exit code after a message.
static int
s_page (bus_client_t *bus, long timeout_ms, const char *service, const s_args_t *args, bool has_cursor,
        int64_t cursor, bool last, long limit, json_t **events, int64_t *next)
{
    *events = NULL;
    //  Every service's op has the same members (proto/ops/audit.def), so
    //  one request struct packs the body of each.
    flow_audit_list_in_t in = {.event = args->event,
                               .subject = args->subject,
                               .since = args->since,
                               .has_since = args->has_since,
                               .until = args->until,
                               .has_until = args->has_until,
                               .cursor = cursor,
                               .has_cursor = has_cursor,
                               .last = last,
                               .has_last = last,
                               .limit = limit,
                               .has_limit = true};
    json_t *body = flow_audit_list_in_pack (&in);
    char op[32];
    snprintf (op, sizeof op, "%s.audit_list", service);
    json_t *result = NULL;
    bus_error_t error;
    int rc = body ? bus_client_call (bus, op, body, (int)timeout_ms, &result, &error) : -1;
    json_decref (body);
    if (rc != 0) {
        if (!body)
            return ctl_bad ("audit", "out of memory", NULL);
        fprintf (stderr, "ostiaryctl: audit: %s: %s: %s\n", op, error.code, error.description);
        return ctl_exit_for (&error);
    }
    flow_audit_list_out_t out;
    char why[SCHEMA_WHY_MAX];
    rc = ctl_unpacked (op, flow_audit_list_out_unpack (result, &out, why, sizeof why), why);
    if (rc == CTL_OK) {
        *events = json_incref ((json_t *)out.events);
        if (out.has_cursor)
            *next = out.cursor;
    }
    json_decref (result);
    return rc;
}

//  An event of a reply (checked against its shape when the reply was read);
//  zeroed when it does not fit.
static shape_audit_event_t
s_event (const json_t *event)
{
    shape_audit_event_t e;
    if (shape_audit_event_unpack (event, &e, NULL, 0) != 0)
        memset (&e, 0, sizeof e);
    return e;
}

//  Time order (the times are fixed-width UTC text), then service, then id.
static int
s_order (const void *a, const void *b)
{
    shape_audit_event_t x = s_event (*(const json_t *const *)a);
    shape_audit_event_t y = s_event (*(const json_t *const *)b);
    int c = strcmp (x.time ? x.time : "", y.time ? y.time : "");
    if (!c)
        c = strcmp (x.service ? x.service : "", y.service ? y.service : "");
    if (!c)
        c = x.id < y.id ? -1 : x.id > y.id;
    return c;
}

//  Sorts events (an array) in time order.
static void
s_sort (json_t *events)
{
    size_t n = json_array_size (events);
    if (n < 2)
        return;
    json_t **items = malloc (n * sizeof *items);
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref (json_array_get (events, i));
    qsort (items, n, sizeof *items, s_order);
    json_array_clear (events);
    for (size_t i = 0; i < n; i++)
        json_array_append_new (events, items[i]);
    free (items);
}

static const char *
s_or_dash (const char *text)
{
    return text && *text ? text : "-";
}

static void
s_print_line (const json_t *event, bool json)
{
    if (json) {
        char *text = json_dumps (event, JSON_COMPACT | JSON_SORT_KEYS);
        if (text)
            printf ("%s\n", text);
        free (text);
        return;
    }
    shape_audit_event_t e = s_event (event);
    char *details = e.details ? json_dumps (e.details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    printf ("%-27s %-5s %-22s %-8s %-14s %-24s %-16s %-15s %-32s %s\n", s_or_dash (e.time),
            s_or_dash (e.service), s_or_dash (e.event), s_or_dash (e.outcome), s_or_dash (e.actor),
            s_or_dash (e.subject), s_or_dash (e.client_id), s_or_dash (e.address), s_or_dash (e.trace_id),
            details ? details : "{}");
    free (details);
}

static void
s_print (const json_t *events, bool json)
{
    if (json) {
        ctl_print_json (events);
        return;
    }
    printf ("%-27s %-5s %-22s %-8s %-14s %-24s %-16s %-15s %-32s %s\n", "TIME", "SVC", "EVENT", "OUTCOME",
            "ACTOR", "SUBJECT", "CLIENT", "ADDRESS", "TRACE", "DETAILS");
    size_t i;
    json_t *event;
    json_array_foreach (events, i, event)
    {
        s_print_line (event, false);
    }
}

//  The matching events of every service (or args->service), merged: the
//  oldest limit (list) or the newest limit (tail). cursors[k] receives the
//  id of the last event read from service k (0 when none).
static int
s_collect (bus_client_t *bus, const ctl_opts_t *opts, const s_args_t *args, json_t *all, int64_t cursors[])
{
    for (size_t k = 0; k < NSERVICES; k++) {
        cursors[k] = 0;
        if (args->service && strcmp (args->service, s_services[k]) != 0)
            continue;
        bool has_cursor = false;
        int64_t cursor = 0;
        long left = args->limit;
        while (left > 0) {
            long want = left < PAGE_MAX ? left : PAGE_MAX;
            json_t *events = NULL;
            int64_t next = cursor;
            int rc =
                s_page (bus, opts->timeout_ms, s_services[k], args, has_cursor, cursor, args->tail,
                        args->tail ? args->limit < PAGE_MAX ? args->limit : PAGE_MAX : want, &events, &next);
            if (rc != CTL_OK)
                return rc;
            size_t n = json_array_size (events);
            json_array_extend (all, events);
            json_decref (events);
            if (n > 0)
                cursors[k] = next;
            //  tail reads one page of the newest; list pages on from the cursor.
            if (args->tail || n < (size_t)want)
                break;
            left -= (long)n;
            cursor = next;
            has_cursor = true;
        }
    }
    s_sort (all);
    //  Keep the oldest (list) or newest (tail) limit of the merged events.
    while (json_array_size (all) > (size_t)args->limit)
        json_array_remove (all, args->tail ? 0 : json_array_size (all) - 1);
    return CTL_OK;
}

//  tail --follow: every FOLLOW_POLL_MS, what each service wrote after its
//  follower's cursor, merged and printed one per line, until SIGINT or
//  SIGTERM. Ids become visible at commit, not in id order, so each service's
//  audit_follow_t asks again from below a hole and prints every id once
//  (common/audit.h); a hole is waited for FOLLOW_SETTLE_MS. A service that
//  cannot answer is reported and asked again at the next poll.
static int
s_follow (bus_client_t *bus, const ctl_opts_t *opts, s_args_t *args, audit_follow_t *followers[])
{
    args->tail = false;
    while (!zsys_interrupted) {
        json_t *fresh = json_array ();
        for (size_t k = 0; fresh && k < NSERVICES && !zsys_interrupted; k++) {
            if (args->service && strcmp (args->service, s_services[k]) != 0)
                continue;
            json_t *events = NULL;
            int64_t next = 0;
            int rc = s_page (bus, opts->timeout_ms, s_services[k], args, true,
                             audit_follow_cursor (followers[k]), false, PAGE_MAX, &events, &next);
            if (rc == CTL_USAGE) {
                json_decref (fresh);
                return rc;
            }
            int64_t now = zclock_mono ();
            size_t i;
            json_t *event;
            json_array_foreach (events, i, event)
            {
                if (audit_follow_fresh (followers[k], s_event (event).id, now))
                    json_array_append (fresh, event);
            }
            if (rc == CTL_OK)
                audit_follow_settle (followers[k], now);
            json_decref (events);
        }
        s_sort (fresh);
        size_t i;
        json_t *event;
        json_array_foreach (fresh, i, event)
        {
            s_print_line (event, true);
        }
        fflush (stdout);
        json_decref (fresh);
        for (int waited = 0; waited < FOLLOW_POLL_MS && !zsys_interrupted; waited += 100)
            zclock_sleep (100);
    }
    return CTL_OK;
}

static int
s_run (const ctl_opts_t *opts, int argc, char **argv, bool tail)
{
    s_args_t args = {.limit = tail ? 20 : 1000, .tail = tail};
    int rc = s_parse (argc, argv, &args);
    if (rc != CTL_OK)
        return rc;
    bus_client_t *bus = ctl_bus_client (opts);
    if (!bus)
        return CTL_USAGE;
    json_t *all = json_array ();
    int64_t cursors[NSERVICES];
    rc = all ? s_collect (bus, opts, &args, all, cursors) : CTL_ERROR_REPLY;
    if (rc == CTL_OK && args.follow) {
        size_t i;
        json_t *event;
        json_array_foreach (all, i, event)
        {
            s_print_line (event, true);
        }
        fflush (stdout);
        //  Each follower starts at its service's last printed id: what
        //  commits below it later is not asked for (tail shows the newest).
        audit_follow_t *followers[NSERVICES] = {NULL};
        for (size_t k = 0; k < NSERVICES; k++)
            if (!(followers[k] = audit_follow_new (cursors[k], FOLLOW_SETTLE_MS)))
                rc = ctl_bad ("audit", "out of memory", NULL);
        if (rc == CTL_OK)
            rc = s_follow (bus, opts, &args, followers);
        for (size_t k = 0; k < NSERVICES; k++)
            audit_follow_destroy (&followers[k]);
    } else if (rc == CTL_OK)
        s_print (all, args.json);
    json_decref (all);
    bus_client_destroy (&bus);
    return rc;
}

static int
s_list (const ctl_opts_t *opts, int argc, char **argv)
{
    return s_run (opts, argc, argv, false);
}

static int
s_tail (const ctl_opts_t *opts, int argc, char **argv)
{
    return s_run (opts, argc, argv, true);
}

//  The subcommand table.
static const ctl_subcmd_t s_commands[] = {
    {"list", s_list},
    {"tail", s_tail},
};

int
ctl_audit (const ctl_opts_t *opts, int argc, char **argv)
{
    return ctl_dispatch (opts, "audit", s_commands, sizeof s_commands / sizeof s_commands[0], s_usage, argc,
                         argv);
}
