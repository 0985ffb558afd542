/*  ostiary-auditdoc - docs/audit.md, the reference of the audit trail,
 *  printed from the event registry common/audit.def.
 *
 *    ostiary-auditdoc              print the page
 *    ostiary-auditdoc --check F    exit 1 when F differs from it (make test)
 *    ostiary-auditdoc --update F   write it to F (make docs)
 *  Exit status 2 on a usage or file error. */
#include "audit.h"
#include "docgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_intro[] =
    "# The audit trail\n"
    "\n"
    "<!-- Generated from common/audit.def by tools/auditdoc.c (`make docs`); do not edit. `make test` checks "
    "that\n"
    "     it is current. -->\n"
    "\n"
    "Every security event of every service has one shape. Each service writes its own events into the table\n"
    "`audit_events` of its own schema (`flow`, `token`, `keys`), in the transaction of the change it "
    "records\n"
    "where there is one, and lists them with its op `<service>.audit_list` (`proto/ops.md`; the admin role\n"
    "only, `proto/access.def`). `ostiaryctl audit list|tail` merges the three in time order; `ostiaryctl\n"
    "audit tail --follow` prints new events as JSON lines for a SIEM. `common/audit.def` is the registry of\n"
    "events: a record of an event it does not list, or of another service's event, is refused before it\n"
    "reaches the database (`common/audit.c`).\n"
    "\n"
    "| member | meaning |\n"
    "|---|---|\n"
    "| `id` | increasing within its service: the cursor of `audit_list`. Ids are taken when an event is "
    "written but become visible when its transaction commits, so id N+1 may be listed before N: a reader "
    "that follows the trail asks again from below an id it has not seen yet and drops the ids it has "
    "(`audit_follow_t`, `common/audit.h`; `ostiaryctl audit tail --follow` waits 30 s for such an id, "
    "then takes it as rolled back) |\n"
    "| `time` | when, UTC, RFC 3339 with microseconds |\n"
    "| `service` | the service that wrote it |\n"
    "| `event` | its name below |\n"
    "| `actor` | who acted: `admin` (an operator over the bus), `user` (the end user signing in or answering "
    "the consent page), `client` (an OAuth client at `/token` or `/revoke`), `system` (a rule or schedule), "
    "a bus role and key fingerprint (`bus_refused`), or the admin socket's peer (`local` or a CURVE key; "
    "keys-svc) |\n"
    "| `subject` | what it acted on: a user's `sub`, a client id, a `kid`, a setting, an op |\n"
    "| `client_id` | the OAuth client concerned |\n"
    "| `address` | the end user's address as the gateway found it (`OSTIARY_TRUSTED_PROXIES`) |\n"
    "| `trace_id` | the W3C trace id of the request that caused it (`log_trace_id`, `common/log.h`): the "
    "`trace_id` of its log lines and spans, the second field of its `traceresponse`, and its `X-Request-Id` "
    "when the client sent none (`docs/observability.md`) |\n"
    "| `outcome` | `success`, `failure` (attempted and failed: a wrong password) or `refused` (a rule "
    "refused it: a lock, a role, a replay) |\n"
    "| `details` | an object with what else the event says; never a secret (a member named like one — "
    "`password`, `secret`, `code`, `token`, `kek`, … — is refused at any depth) |\n"
    "\n"
    "Retention: each service's janitor deletes its events older than `OSTIARY_AUDIT_RETENTION_DAYS` (365) in "
    "batches of `OSTIARY_JANITOR_BATCH`. Refused bus calls: the broker sums what it refuses per caller key "
    "and op, and the gateway sends the sums to `token.audit_refusals` every "
    "`OSTIARY_AUDIT_REFUSALS_INTERVAL` seconds (`proto/bus.md`, \"Refused calls are audited\").\n";

static void
s_print (FILE *out)
{
    fputs (s_intro, out);
    const char *service = NULL;
    for (int i = 0; i < AUDIT_EV_COUNT; i++) {
        const char *svc = audit_event_service ((audit_event_t)i);
        if (!service || strcmp (service, svc) != 0) {
            service = svc;
            fprintf (out, "\n## %s\n\n| event | meaning |\n|---|---|\n", service);
        }
        fprintf (out, "| `%s` | %s |\n", audit_event_name ((audit_event_t)i),
                 audit_event_doc ((audit_event_t)i));
    }
}

int
main (int argc, char **argv)
{
    return docgen_main (argc, argv, "ostiary-auditdoc", "common/audit.def", s_print);
}
