/*  gateway - Ostiary's HTTP front and the home of the bus broker.
 *
 *  Start-up: configuration, logs, czmq's signal handling, the broker (so
 *  services can connect), the JWKS cache and metrics, then civetweb. The main
 *  thread then only waits for SIGINT/SIGTERM, copying the broker's counters
 *  into the metrics on the way. Shutdown runs in reverse: civetweb first (its
 *  workers own bus clients connected to the broker), then the broker.
 *
 *  The drain (SIGTERM): the listening sockets close at once, and the
 *  requests being handled finish (each bus call ends by its deadline) while
 *  the broker keeps serving them; only then does civetweb stop (its stop
 *  makes every write fail). Past OSTIARY_DRAIN_TIMEOUT the exit status is 1,
 *  and a watchdog ends the process if even the stop hangs. */
#include "broker.h"
#include "config.h"
#include "cors.h"
#include "http.h"
#include "jwks.h"
#include "log.h"
#include "metrics.h"
#include "pidcache.h"
#include "routes.h"

#include <czmq.h>
#include <pthread.h>
#include <unistd.h>

//  How often the main thread asks the broker for its counters.
#define BROKER_STATS_MS 2000
#define SIGNAL_CHECK_MS 100

//  Waits for SIGINT/SIGTERM; meanwhile keeps the broker's STATS answer in
//  the metrics (the broker actor belongs to this thread).
static void
s_run (zactor_t *broker, metrics_t *metrics)
{
    zpoller_t *poller = zpoller_new (broker, NULL);
    int64_t next_stats = zclock_mono ();
    while (poller && !zsys_interrupted) {
        int64_t now = zclock_mono ();
        if (now >= next_stats) {
            zstr_send (broker, "STATS");
            next_stats = now + BROKER_STATS_MS;
        }
        //  The only thing the broker ever sends us is the answer to STATS.
        void *which = zpoller_wait (poller, (int)(next_stats - now));
        if (which == broker) {
            char *stats = zstr_recv (broker);
            metrics_set_broker_stats (metrics, stats);
            zstr_free (&stats);
        } else if (zpoller_terminated (poller))
            break;
    }
    while (!poller && !zsys_interrupted)
        zclock_sleep (SIGNAL_CHECK_MS);
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
    //  czmq's handler turns SIGINT/SIGTERM into zsys_interrupted; installed
    //  before any thread starts so that every thread inherits it.
    zsys_init ();
    const char *why = NULL;
    bus_curve_t *curve = bus_curve_open (cfg, "gateway", &why);
    if (!curve) {
        fprintf (stderr, "gateway: %s\n", why);
        config_destroy (&cfg);
        return 2;
    }
    if (bus_endpoint_count (cfg->bus_endpoint) != 1) {
        fprintf (stderr,
                 "gateway: OSTIARY_BUS_ENDPOINT must be the one endpoint this gateway's broker binds (a "
                 "list of brokers is for the services)\n");
        bus_curve_destroy (&curve);
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
        bus_curve_destroy (&curve);
        config_destroy (&cfg);
        return 1;
    }
    log_info ("bus broker on %s", cfg->bus_endpoint);

    gw_t gw = {
        .cfg = cfg,
        .jwks = jwks_cache_new ((int)cfg->jwks_max_age),
        .metrics = metrics_new (routes_count (), routes_name),
        //  NULL (out of memory): no origin is ever allowed cross-origin.
        .cors = cors_new ((int)cfg->cors_cache_ttl),
    };
    if (!gw.jwks || !gw.metrics)
        log_error ("out of memory at start-up");
    const http_router_t router = {routes_dispatch, routes_name, routes_quiet};
    http_server_t *server = gw.jwks && gw.metrics ? http_server_new (&gw, &router) : NULL;
    if (server) {
        log_info ("gateway ready: issuer %s", cfg->issuer);
        s_run (broker, gw.metrics);
        log_info ("stopping: no new connections; finishing the requests in flight (at most %ld s)",
                  cfg->drain_timeout);
        static long drain_seconds;
        drain_seconds = cfg->drain_timeout;
        pthread_t watchdog;
        if (pthread_create (&watchdog, NULL, s_drain_watchdog, &drain_seconds) == 0)
            pthread_detach (watchdog);
        if (http_server_drain (server, (int)cfg->drain_timeout * 1000) != 0)
            exit_code = 1;
    } else
        exit_code = 1;

    http_server_destroy (&server);
    zactor_destroy (&broker);
    bus_curve_destroy (&curve);
    jwks_cache_destroy (&gw.jwks);
    metrics_destroy (&gw.metrics);
    cors_destroy (&gw.cors);
    config_destroy (&cfg);
    return exit_code;
}
