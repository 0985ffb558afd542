/*  service - common start-up and thread set-up of the bus services. */
#include "service.h"
#include "bus_msg.h"
#include "log.h"
#include "migrate.h"
#include "pidcache.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const service_def_t *def;
    const config_t *cfg;
    void *app;
    bus_curve_t *curve;
} s_ctx_t;

static void *
s_thread_init (void *arg)
{
    s_ctx_t *ctx = arg;
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
    state->bus = bus_client_new (ctx->cfg->bus_endpoint, (size_t) ctx->cfg->bus_max_msg, ctx->curve);
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
    log_init (def->name, (log_level_t) log_level_parse (cfg->log_level));
    if (bus_client_direct (NULL, cfg->bus_direct)) {
        fprintf (stderr,
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

    db_t *db = db_new (cfg->db);
    if (!db) {
        fprintf (stderr, "%s: cannot connect to the database (OSTIARY_DB)\n", program);
        bus_curve_destroy (&curve);
        config_destroy (&cfg);
        return 1;
    }
    int applied = migrate_run (db, cfg->migrations_dir, def->name);
    if (applied < 0) {
        fprintf (stderr, "%s: migrations of schema %s failed; see the log\n", program, def->name);
        db_destroy (&db);
        bus_curve_destroy (&curve);
        config_destroy (&cfg);
        return 1;
    }
    log_info ("%s: schema %s up to date (%d migrations applied now)", program, def->name, applied);
    s_ctx_t ctx = {def, cfg, NULL, curve};
    if (def->app_init) {
        ctx.app = def->app_init (cfg, db);
        if (!ctx.app) {
            db_destroy (&db);
            bus_curve_destroy (&curve);
            config_destroy (&cfg);
            return 2;
        }
    }
    db_destroy (&db);

    bus_worker_cfg_t wcfg = {
        .service = def->name,
        .endpoint = cfg->bus_endpoint,
        .threads = (int) cfg->workers,
        .heartbeat_ms = (int) cfg->heartbeat_ms,
        .liveness = (int) cfg->heartbeat_liveness,
        .max_msg = (size_t) cfg->bus_max_msg,
        .routes = def->routes,
        .nroutes = def->nroutes,
        .app = ctx.app,
        .thread_arg = &ctx,
        .thread_init = s_thread_init,
        .thread_fini = s_thread_fini,
        .thread_check = s_thread_check,
        .direct_endpoint = cfg->bus_direct_bind,
        .curve = curve,
    };
    int rc = 0;
    bus_worker_t *worker = bus_worker_new (&wcfg);
    if (!worker)
        rc = 1;
    else {
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
        bus_worker_destroy (&worker);
    }
    log_info ("%s: stopped", program);
    if (def->app_fini && ctx.app)
        def->app_fini (ctx.app);
    bus_curve_destroy (&curve);
    config_destroy (&cfg);
    return rc;
}
