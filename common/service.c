/*  service - common start-up and thread set-up of the bus services. */
#include "service.h"
#include "bus_msg.h"
#include "log.h"
#include "metrics_http.h"
#include "migrate.h"
#include "otlp.h"
#include "pidcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _service_t {
    const service_def_t *def;
    const config_t *cfg;
    void *app;
    bus_curve_t *curve;
    bus_worker_t *worker;
};

static void *
s_thread_init (void *arg)
{
    service_t *ctx = arg;
    service_thread_t *state = calloc (1, sizeof *state);
    if (!state)
        return NULL;
    //  A service whose ops run no SQL (no prepare) holds no connection per
    //  thread: an idle backend for each of them would count against the
    //  server's max_connections for nothing.
    if (ctx->def->prepare) {
        state->db = db_new (ctx->cfg->db);
        if (!state->db || ctx->def->prepare (state->db)) {
            log_error ("%s: worker thread cannot set up its database connection", ctx->def->name);
            db_destroy (&state->db);
            free (state);
            return NULL;
        }
    }
    state->bus = bus_client_new (ctx->cfg->bus_endpoint, (size_t)ctx->cfg->bus_max_msg, ctx->curve);
    if (state->bus && bus_client_direct (state->bus, ctx->cfg->bus_direct)) {
        log_error ("%s: cannot connect to OSTIARY_BUS_DIRECT", ctx->def->name);
        bus_client_destroy (&state->bus);
    }
    if (!state->bus) {
        db_destroy (&state->db);
        free (state);
        return NULL;
    }
    return state;
}

//  A thread can serve while its database connection is usable (db_check
//  opens it again when the server closed it); one without SQL always can.
static int
s_thread_check (void *arg, void *thread_state)
{
    OST_UNUSED (arg);
    service_thread_t *state = thread_state;
    return !state || !state->db || db_check (state->db) == DB_OK;
}

static void
s_thread_fini (void *arg, void *thread_state)
{
    OST_UNUSED (arg);
    service_thread_t *state = thread_state;
    if (state) {
        bus_client_destroy (&state->bus);
        db_destroy (&state->db);
        free (state);
    }
}

service_t *
service_new (const service_def_t *def, const config_t *cfg, bus_curve_t *curve, int *exit_code)
{
    char program[64];
    snprintf (program, sizeof program, "%s-svc", def->name);
    *exit_code = 1;
    service_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->def = def;
    self->cfg = cfg;
    self->curve = curve;

    db_t *db = db_new (cfg->db);
    if (!db) {
        fprintf (stderr, "%s: cannot connect to the database (OSTIARY_DB)\n", program);
        free (self);
        return NULL;
    }
    int applied = migrate_run (db, cfg->migrations_dir, def->name);
    if (applied < 0) {
        fprintf (stderr, "%s: migrations of schema %s failed; see the log\n", program, def->name);
        db_destroy (&db);
        free (self);
        return NULL;
    }
    log_info ("%s: schema %s up to date (%d migrations applied now)", program, def->name, applied);
    if (def->app_init) {
        *exit_code = 2;
        self->app = def->app_init (cfg, db, curve, exit_code);
        if (!self->app) {
            db_destroy (&db);
            free (self);
            return NULL;
        }
    }
    db_destroy (&db);

    bus_worker_cfg_t wcfg = {
        .service = def->name,
        .endpoint = cfg->bus_endpoint,
        .threads = (int)cfg->workers,
        .credit = (size_t)cfg->bus_credit,
        .heartbeat_ms = (int)cfg->heartbeat_ms,
        .liveness = (int)cfg->heartbeat_liveness,
        .max_msg = (size_t)cfg->bus_max_msg,
        .routes = def->routes,
        .nroutes = def->nroutes,
        .app = self->app,
        .thread_arg = self,
        .thread_init = s_thread_init,
        .thread_fini = s_thread_fini,
        .thread_check = s_thread_check,
        .direct_endpoint = cfg->bus_direct_bind,
        .curve = curve,
    };
    self->worker = bus_worker_new (&wcfg);
    if (!self->worker) {
        *exit_code = 1;
        service_destroy (&self);
        return NULL;
    }
    *exit_code = 0;
    return self;
}

bus_worker_t *
service_worker (service_t *self)
{
    return self->worker;
}

void
service_destroy (service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    service_t *self = *self_p;
    bus_worker_destroy (&self->worker);
    if (self->def->app_fini && self->app)
        self->def->app_fini (self->app);
    free (self);
    *self_p = NULL;
}

int
service_main (int argc, char **argv, const service_def_t *def)
{
    pidcache_init ();
    char program[64];
    snprintf (program, sizeof program, "%s-svc", def->name);
    int exit_code = 0;
    config_t *cfg = config_load (argc, argv, program, def->req_flag, &exit_code);
    if (!cfg)
        return exit_code;
    log_init (def->name, (log_level_t)log_level_parse (cfg->log_level));
    log_set_format ((log_format_t)log_format_parse (cfg->log_format));
    if (bus_client_direct (NULL, cfg->bus_direct)) {
        fprintf (
            stderr,
            "%s: OSTIARY_BUS_DIRECT must be service=endpoint[,service=endpoint...] with a known service and "
            "a tcp://, ipc:// or inproc:// endpoint\n",
            program);
        config_destroy (&cfg);
        return 2;
    }
    //  czmq's handler turns SIGINT/SIGTERM into zsys_interrupted, which every
    //  loop of the worker threads watches.
    zsys_init ();
    zsys_set_logstream (NULL);
    const char *why = NULL;
    bus_curve_t *curve = bus_curve_open (cfg, program, &why);
    if (!curve) {
        fprintf (stderr, "%s: %s\n", program, why);
        config_destroy (&cfg);
        return 2;
    }

    //  Spans only with an endpoint; a failed start leaves tracing off (logged).
    if (cfg->otlp_endpoint[0] &&
        otlp_start (cfg->otlp_endpoint, program, (size_t)cfg->otlp_queue, (int)cfg->otlp_interval_ms) != 0)
        log_warn ("%s: no spans are exported", program);
    //  The metrics this process shows (metrics.def's processes column).
    unsigned process = def->req_flag == CFG_REQ_TOK ? M_TOK : def->req_flag == CFG_REQ_FLOW ? M_FLOW : M_KEYS;
    int metrics_failed = 0;
    metrics_http_t *metrics = metrics_http_start (cfg->metrics_listen, program, process, &metrics_failed);
    if (metrics_failed) {
        bus_curve_destroy (&curve);
        otlp_stop ();
        config_destroy (&cfg);
        return 2;
    }

    int rc = 0;
    service_t *service = service_new (def, cfg, curve, &exit_code);
    if (!service)
        rc = exit_code;
    else {
        bus_worker_t *worker = service_worker (service);
        log_info ("%s: serving on %s with %ld threads", program, cfg->bus_endpoint, cfg->workers);
        if (bus_worker_wait (worker))
            rc = 1;
        else {
            //  SIGTERM: the drain. The threads leave the broker (which hands
            //  new requests to other processes) and finish what they hold.
            log_info ("%s: stopping; finishing the requests in flight (at most %ld s)", program,
                      cfg->drain_timeout);
            if (bus_worker_drain (worker, (int)cfg->drain_timeout * 1000) != 0) {
                //  A thread is still inside a handler: its state cannot be
                //  freed under it, so the process ends here.
                log_error ("%s: drain deadline passed; exiting with requests unfinished", program);
                fflush (stderr);
                _exit (1);
            }
        }
        service_destroy (&service);
        log_info ("%s: stopped", program);
    }
    otlp_stop ();
    metrics_http_destroy (&metrics);
    bus_curve_destroy (&curve);
    config_destroy (&cfg);
    return rc;
}
