/*  service - the common start-up of a bus service (token-svc, flow-svc,
 *  keys-svc): configuration, logs, one database connection to migrate under
 *  the advisory lock, the service's own set-up, then N worker threads that
 *  each own a database connection (with the service's prepared statements;
 *  none when the service has no prepare) and a bus client for calling other
 *  services. */
#ifndef OST_SERVICE_H
#define OST_SERVICE_H

#include "bus_client.h"
#include "bus_worker.h"
#include "config.h"
#include "db.h"

//  What a handler finds in req->thread_state.
typedef struct {
    db_t *db;
    bus_client_t *bus;
} service_thread_t;

typedef struct {
    const char *name; //  service name on the bus and schema name: "keys"
    int req_flag;     //  CFG_REQ_x of this process
    const bus_route_t *routes;
    size_t nroutes;
    //  Once, after migrations, before the workers start; db is the start-up
    //  connection (closed afterwards). Returns the app pointer handlers see in
    //  req->app, or NULL to fail start-up (after printing why to stderr) with
    //  the exit code in *exit_code (preset to 2, a configuration error).
    //  curve: the process's CURVE key (NULL: plain), for a background thread
    //  of the app that calls other services; it outlives the app.
    void *(*app_init) (const config_t *cfg, db_t *db, const bus_curve_t *curve, int *exit_code);
    void (*app_fini) (void *app);
    //  In each worker thread, on its new connection: prepare statements. 0 ok.
    //  NULL: the ops run no SQL, and the threads open no connection
    //  (req->thread_state's db is NULL).
    int (*prepare) (db_t *db);
} service_def_t;

//  Runs the service until SIGINT/SIGTERM. Returns the process exit code:
//  0 clean stop, 1 runtime failure, 2 configuration error.
int service_main (int argc, char **argv, const service_def_t *def);

//  The parts of service_main, so that a test can run a service inside its
//  own process (on inproc:// endpoints) exactly as the program does.
typedef struct _service_t service_t;

//  Migrates schema def->name, runs app_init and starts the worker threads on
//  cfg->bus_endpoint. cfg and curve (NULL: plain) must outlive the service.
//  NULL on failure (after a message on stderr or the log) with the exit code
//  in *exit_code: 1 runtime failure, 2 configuration error.
service_t *service_new (const service_def_t *def, const config_t *cfg, bus_curve_t *curve, int *exit_code);
//  The service's worker threads (bus_worker_wait, bus_worker_drain).
bus_worker_t *service_worker (service_t *self);
//  Stops the threads (sending DISCONNECT), then app_fini. Idempotent.
void service_destroy (service_t **self_p);

#endif
