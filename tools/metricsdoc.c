/*  ostiary-metricsdoc - docs/metrics.md, the reference of every metric,
 *  printed from the table common/metrics.c expands from common/metrics.def,
 *  between a hand-written introduction and the generated table.
 *
 *    ostiary-metricsdoc              print the page
 *    ostiary-metricsdoc --check F    exit 1 when F differs from it (make test)
 *    ostiary-metricsdoc --update F   write it to F (make docs)
 *  Exit status 2 on a usage or file error. */
#include "docgen.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_intro[] =
    "# Metrics\n"
    "\n"
    "<!-- Generated from common/metrics.def by tools/metricsdoc.c (`make docs`); do not edit. `make test` "
    "checks\n"
    "     that it is current. -->\n"
    "\n"
    "Every Ostiary process (gateway, token-svc, flow-svc, keys-svc) serves its metrics in Prometheus' text\n"
    "exposition format (0.0.4) at `GET /metrics` on a listener of its own, `OSTIARY_METRICS_LISTEN`, never\n"
    "on the gateway's public HTTP port. By default each listens on loopback, on a port of its own: gateway\n"
    "`127.0.0.1:9464`, token-svc `9465`, flow-svc `9466`, keys-svc `9467`; `off` turns the listener off, "
    "and\n"
    "port 0 takes any free port. A second replica on the same host needs a port of its own (a port in use\n"
    "stops the process at start, exit status 2). The listener is a small HTTP/1.1 responder on its own\n"
    "thread: one connection at a time, the request head within 8 KiB and 2 s, `GET /metrics` only (404 for\n"
    "another path, 405 with `Allow: GET` for another method), each connection closed after its answer.\n"
    "Bind it where only Prometheus reaches it (a pod's port that a NetworkPolicy opens to the monitoring\n"
    "namespace, loopback on a host): the metrics carry no secrets, but they are not for the public.\n"
    "\n"
    "**One table.** `common/metrics.def` is the single source of every metric: its name, type, labels, the\n"
    "bound on its label sets, histogram buckets, the processes that expose it and its help text. This page\n"
    "and the registry (`common/metrics.h`) are expanded from it; the rules of `deploy/prometheus/` and the\n"
    "dashboard of `deploy/grafana/` may name only metrics of the table (`tests/e2e/test_metrics.py`\n"
    "checks them).\n"
    "\n"
    "**Bounded labels.** Label values are fixed strings of the code: route names of the gateway's route\n"
    "table, op names of `proto/ops.def`, error codes of `proto/errors.def`, statement names of the stores,\n"
    "algorithm names. Never a user, a client id, a token, an address or anything else a caller chooses.\n"
    "Each metric keeps at most *max series* label combinations; beyond that, updates land in one series\n"
    "whose labels are all `_other`.\n"
    "\n"
    "**Cost.** An update finds its series in an array read without a lock (a mutex is taken only the first\n"
    "time a label combination appears; a hash of the values is compared before the values) and changes it\n"
    "with atomic operations: on the 2-core build machine about 30 ns for a counter without labels and 50 to\n"
    "150 ns for a histogram among 80 series. Rendering reads `/proc/self` for the `process_*` basics.\n"
    "\n"
    "**Alerts and dashboards.** `deploy/prometheus/ostiary.rules.yml` records the error ratio and p99\n"
    "latencies and alerts on a high 5xx ratio, p99 latency above 1 s, a service without workers, a target\n"
    "down, a spike of refresh-token reuse, outbox dead letters and an overdue key rotation;\n"
    "`ostiary.rules.test.yml` holds their unit tests (`promtool test rules`). "
    "`deploy/prometheus/prometheus.yml`\n"
    "is an example scrape configuration (jobs `ostiary-<process>`, which the rules expect);\n"
    "`deploy/grafana/ostiary-dashboard.json` a dashboard to import into Grafana.\n"
    "\n"
    "**Formerly on the public port.** The gateway's `/metrics` route is gone. What it served lives on:\n"
    "`ostiary_gateway_requests_total` and `ostiary_gateway_request_seconds_sum` are the `_count` and `_sum`\n"
    "of `ostiary_http_request_duration_seconds` (label `status` is now `status_class`),\n"
    "`ostiary_gateway_start_time_seconds` is `process_start_time_seconds`, `ostiary_broker_idle` and\n"
    "`ostiary_broker_queued` are `ostiary_broker_idle_workers` and `ostiary_broker_queued_requests`; the\n"
    "broker's counters and gauges are current at every scrape instead of copied every 2 s.\n"
    "\n"
    "Histograms have the buckets (seconds) 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,\n"
    "1, 2.5, 5, 10 and +Inf, with `_bucket{le=...}`, `_sum` and `_count` series.\n"
    "\n"
    "## Every metric\n"
    "\n"
    "| metric | type | labels | max series | processes | meaning |\n"
    "|---|---|---|---|---|---|\n";

//  Markdown table cells: a | would end the cell.
static void
s_cell (FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|')
            fputs ("\\|", out);
        else if (*p == '\n')
            fputc (' ', out);
        else
            fputc (*p, out);
    }
}

static void
s_print (FILE *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    fputs (s_intro, out);
    for (int i = 0; i < METRIC__COUNT; i++) {
        const metric_def_t *def = metrics_def ((metric_id_t)i);
        fprintf (out, "| `%s` | %s | ", def->name, types[def->type]);
        if (*def->labels) {
            char labels[256];
            snprintf (labels, sizeof labels, "%s", def->labels);
            int first = 1;
            for (char *save = NULL, *tok = strtok_r (labels, ",", &save); tok;
                 tok = strtok_r (NULL, ",", &save)) {
                fprintf (out, "%s`%s`", first ? "" : ", ", tok);
                first = 0;
            }
        } else
            fputs ("-", out);
        fprintf (out, " | %d | ", def->max_series);
        if ((def->processes & M_ALL) == M_ALL)
            fputs ("all", out);
        else {
            static const struct {
                unsigned flag;
                const char *name;
            } procs[] = {{M_GW, "gateway"}, {M_TOK, "token-svc"}, {M_FLOW, "flow-svc"}, {M_KEYS, "keys-svc"}};
            int first = 1;
            for (size_t p = 0; p < sizeof procs / sizeof procs[0]; p++)
                if (def->processes & procs[p].flag) {
                    fprintf (out, "%s%s", first ? "" : ", ", procs[p].name);
                    first = 0;
                }
        }
        fputs (" | ", out);
        s_cell (out, def->help);
        fputs (" |\n", out);
    }
}

int
main (int argc, char **argv)
{
    return docgen_main (argc, argv, "ostiary-metricsdoc", "common/metrics.def", s_print);
}
