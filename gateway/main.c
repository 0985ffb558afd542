/*  gateway - Ostiary's HTTP front and the home of the bus broker.
 *
 *  Start-up: configuration, logs, czmq's signal handling, the broker (so
 *  services can connect), the JWKS cache, the metrics listener, then
 *  civetweb. The main thread then only waits for SIGINT/SIGTERM. Shutdown
 *  runs in reverse: civetweb first (its workers' pool of bus clients is
 *  connected to the broker), then the broker.
 *
 *  The drain (SIGTERM): the listening sockets close at once, and the
 *  requests being handled finish (each bus call ends by its deadline) while
 *  the broker keeps serving them; only then does civetweb stop (its stop
 *  makes every write fail). Past OSTIARY_DRAIN_TIMEOUT the exit status is 1,
 *  and a watchdog ends the process if even the stop hangs. Then, before the
 *  broker goes, its last summary of refused calls (those of the drain
 *  included) is reported to token.audit_refusals. */
#include "broker.h"
#include "bus_client.h"
#include "config.h"
#include "cors.h"
#include "http.h"
#include "i18n.h"
#include "jwks.h"
#include "log.h"
#include "metrics_http.h"
#include "ops.h"
#include "otlp.h"
#include "pidcache.h"
#include "routes.h"
#include "theme.h"

#include <czmq.h>
#include <pthread.h>
#include <unistd.h>

#define SIGNAL_CHECK_MS 100
//  After the drain, how long the broker's last summary is waited for.
#define FINAL_REFUSALS_MS 2000

//  Sends the broker's summary of refused bus calls (two frames: "REFUSALS"
//  and its JSON) to token.audit_refusals when it refused anything, so that
//  they are audited (proto/bus.md, "Refused calls are audited"). The call
//  is sent once (a WRITE op); a summary that could not be delivered is
//  logged with its count and dropped.
static void
s_report_refusals (bus_client_t *bus, const char *summary)
{
    json_t *sum = summary ? json_loads (summary, 0, NULL) : NULL;
    json_t *refusals = json_object_get (sum, "refusals");
    json_int_t dropped = json_integer_value (json_object_get (sum, "dropped"));
    if (!bus || (json_array_size (refusals) == 0 && dropped == 0)) {
        json_decref (sum);
        return;
    }
    char host[64] = "";
    gethostname (host, sizeof host - 1);
    char broker[128];
    snprintf (broker, sizeof broker, "%s:%d", host, (int)getpid ());
    token_audit_refusals_in_t in = {
        .broker = broker, .refusals = refusals, .dropped = dropped, .has_dropped = dropped > 0};
    json_t *body = token_audit_refusals_in_pack (&in);
    json_t *result = NULL;
    bus_error_t error;
    if (!body || bus_client_call (bus, "token.audit_refusals", body, 0, &result, &error) != 0)
        log_error ("bus: %zu refused-call summaries could not be audited: %s", json_array_size (refusals),
                   body ? error.code : "out of memory");
    json_decref (result);
    json_decref (body);
    json_decref (sum);
}

//  Reads one answer of the broker; reports it when it is a summary. 1 when
//  it was one.
static int
s_refusals_answer (zactor_t *broker, bus_client_t *bus)
{
    zmsg_t *answer = zmsg_recv (broker);
    char *first = answer ? zmsg_popstr (answer) : NULL;
    int was = first && streq (first, "REFUSALS");
    if (was) {
        char *summary = zmsg_popstr (answer);
        s_report_refusals (bus, summary);
        zstr_free (&summary);
    }
    zstr_free (&first);
    zmsg_destroy (&answer);
    return was;
}

//  Waits for SIGINT/SIGTERM; meanwhile has the broker's refused calls
//  audited every refusals_s seconds (the broker actor belongs to this
//  thread). Returns how many summaries were asked for and not read yet.
static int
s_run (zactor_t *broker, bus_client_t *bus, long refusals_s)
{
    int asked = 0;
    zpoller_t *poller = zpoller_new (broker, NULL);
    int64_t next_refusals = zclock_mono () + refusals_s * 1000;
    while (poller && !zsys_interrupted) {
        int64_t now = zclock_mono ();
        if (now >= next_refusals) {
            if (zstr_send (broker, "REFUSALS") == 0)
                asked++;
            next_refusals = now + refusals_s * 1000;
        }
        //  Short waits, so that a signal is seen within SIGNAL_CHECK_MS.
        int64_t wait = next_refusals - now;
        if (wait > SIGNAL_CHECK_MS)
            wait = SIGNAL_CHECK_MS;
        //  The broker answers REFUSALS with two frames.
        void *which = zpoller_wait (poller, (int)(wait > 0 ? wait : 0));
        if (which == broker) {
            if (s_refusals_answer (broker, bus) && asked > 0)
                asked--;
        } else if (zpoller_terminated (poller))
            break;
    }
    while (!poller && !zsys_interrupted)
        zclock_sleep (SIGNAL_CHECK_MS);
    zpoller_destroy (&poller);
    return asked;
}

//  After the drain, before the broker is destroyed: its last summary (what
//  it refused since the last report, the drain included) is asked for and
//  reported, and any summary asked for before the signal and not read yet;
//  at most FINAL_REFUSALS_MS for the broker's answers. The signal that
//  ended s_run does not stop this wait (a non-stop poller).
static void
s_final_refusals (zactor_t *broker, bus_client_t *bus, int asked)
{
    zpoller_t *poller = zpoller_new (broker, NULL);
    if (!poller || zstr_send (broker, "REFUSALS") != 0) {
        zpoller_destroy (&poller);
        return;
    }
    zpoller_set_nonstop (poller, true);
    asked++;
    int64_t until = zclock_mono () + FINAL_REFUSALS_MS;
    while (asked > 0) {
        int64_t left = until - zclock_mono ();
        if (left <= 0 || zpoller_wait (poller, (int)left) != broker) {
            log_warn ("bus: the broker's last refused-call summary did not come within %d ms",
                      FINAL_REFUSALS_MS);
            break;
        }
        if (s_refusals_answer (broker, bus))
            asked--;
    }
    zpoller_destroy (&poller);
}

//  Ends the process when the drain outlasts its deadline (seconds in arg).
static void *
s_drain_watchdog (void *arg)
{
    long seconds = *(const long *)arg;
    zclock_sleep ((int)(seconds * 1000));
    log_error ("drain deadline (%ld s) passed with requests unfinished; exiting", seconds);
    fflush (stderr);
    _exit (1);
    return NULL;
}

int
main (int argc, char **argv)
{
    pidcache_init ();
    int exit_code = 0;
    config_t *cfg = config_load (argc, argv, "gateway", CFG_REQ_GW, &exit_code);
    if (!cfg)
        return exit_code;
    int level = log_level_parse (cfg->log_level);
    log_init ("gateway", level < 0 ? OST_LOG_INFO : (log_level_t)level);
    log_set_format ((log_format_t)log_format_parse (cfg->log_format));
    //  Spans only with an endpoint; a failed start leaves tracing off (logged).
    if (cfg->otlp_endpoint[0] &&
        otlp_start (cfg->otlp_endpoint, "gateway", (size_t)cfg->otlp_queue, (int)cfg->otlp_interval_ms) != 0)
        log_warn ("gateway: no spans are exported");
    //  czmq's handler turns SIGINT/SIGTERM into zsys_interrupted; installed
    //  before any thread starts so that every thread inherits it.
    zsys_init ();
    const char *why = NULL;
    bus_curve_t *curve = bus_curve_open (cfg, "gateway", &why);
    if (!curve) {
        fprintf (stderr, "gateway: %s\n", why);
        otlp_stop ();
        config_destroy (&cfg);
        return 2;
    }
    if (bus_endpoint_count (cfg->bus_endpoint) != 1) {
        fprintf (stderr,
                 "gateway: OSTIARY_BUS_ENDPOINT must be the one endpoint this gateway's broker binds (a "
                 "list of brokers is for the services)\n");
        bus_curve_destroy (&curve);
        otlp_stop ();
        config_destroy (&cfg);
        return 2;
    }
    int metrics_failed = 0;
    metrics_http_t *metrics = metrics_http_start (cfg->metrics_listen, "gateway", M_GW, &metrics_failed);
    if (metrics_failed) {
        bus_curve_destroy (&curve);
        otlp_stop ();
        config_destroy (&cfg);
        return 2;
    }

    broker_cfg_t broker_cfg = {
        .endpoint = cfg->bus_endpoint,
        .local_endpoint = BROKER_LOCAL_ENDPOINT,
        .heartbeat_ms = (int)cfg->heartbeat_ms,
        .liveness = (int)cfg->heartbeat_liveness,
        .queue_max = (size_t)cfg->queue_max,
        .max_msg = (size_t)cfg->bus_max_msg,
        .curve = curve,
    };
    zactor_t *broker = broker_new (&broker_cfg);
    if (!broker) {
        log_error ("cannot bind the bus broker on %s", cfg->bus_endpoint);
        metrics_http_destroy (&metrics);
        bus_curve_destroy (&curve);
        otlp_stop ();
        config_destroy (&cfg);
        return 1;
    }
    log_info ("bus broker on %s", cfg->bus_endpoint);

    gw_t gw = {
        .cfg = cfg,
        .jwks = jwks_cache_new ((int)cfg->jwks_max_age),
        //  NULL (out of memory): no origin is ever allowed cross-origin.
        .cors = cors_new ((int)cfg->cors_cache_ttl),
        .i18n = i18n_new (cfg->locales_dir),
        .theme = theme_new (cfg->theme_dir),
    };
    if (!gw.jwks)
        log_error ("out of memory at start-up");
    const http_router_t router = {routes_dispatch, routes_name, routes_quiet};
    http_server_t *server = gw.jwks && gw.i18n && gw.theme ? http_server_new (&gw, &router) : NULL;
    if (server) {
        log_info ("gateway ready: issuer %s", cfg->issuer);
        //  This thread's own bus client, for the refusal reports: in-process,
        //  so the broker takes it for the gateway.
        bus_client_t *bus = bus_client_new (BROKER_LOCAL_ENDPOINT, (size_t)cfg->bus_max_msg, NULL);
        if (!bus)
            log_error ("no bus client for the refused-call reports: refused calls are only logged");
        int asked = s_run (broker, bus, cfg->audit_refusals_interval);
        log_info ("stopping: no new connections; finishing the requests in flight (at most %ld s)",
                  cfg->drain_timeout);
        static long drain_seconds;
        drain_seconds = cfg->drain_timeout;
        pthread_t watchdog;
        if (pthread_create (&watchdog, NULL, s_drain_watchdog, &drain_seconds) == 0)
            pthread_detach (watchdog);
        if (http_server_drain (server, (int)cfg->drain_timeout * 1000) != 0)
            exit_code = 1;
        //  The broker kept refusing during the drain: its last summary.
        s_final_refusals (broker, bus, asked);
        bus_client_destroy (&bus);
    } else
        exit_code = 1;

    http_server_destroy (&server);
    otlp_stop ();
    zactor_destroy (&broker);
    bus_curve_destroy (&curve);
    jwks_cache_destroy (&gw.jwks);
    metrics_http_destroy (&metrics);
    cors_destroy (&gw.cors);
    i18n_destroy (&gw.i18n);
    theme_destroy (&gw.theme);
    config_destroy (&cfg);
    return exit_code;
}
