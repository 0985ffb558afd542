/*  keys_control - the control actor: janitor ticks, keyring reloads and the
 *  admin socket, on one thread with one database connection. */
#include "keys_control.h"

#include "keys_admin.h"
#include "keys_app.h"
#include "keys_janitor.h"
#include "keys_store.h"
#include "log.h"

#include <czmq.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>

struct _keys_control_t {
    zactor_t *actor;
};

//  Failures of the periodic work are logged when they start and when they
//  end, not on every tick while the database is away.
typedef struct {
    int failing;
} s_health_t;

static void
s_outcome (s_health_t *health, int failed, const char *what)
{
    if (failed && !health->failing)
        log_error ("control: %s failed; retrying every %d ms", what, KEYS_TICK_MS);
    else if (!failed && health->failing)
        log_info ("control: %s works again", what);
    health->failing = failed;
}

static void
s_tick (keys_app_t *app, db_t *db, keys_janitor_t *janitor, s_health_t *health)
{
    int step = keys_janitor_step (janitor, app, db);
    int reload = keys_app_reload (app, db, 0);
    s_outcome (health, step < 0 || reload < 0, "the key janitor or keyring reload");
}

//  The actor's thread is detached (czmq): it may still be ending while the
//  process exits, so its OpenSSL per-thread state (random generators, error
//  queue) is freed here, before the last signal, not left to a thread-exit
//  handler that may never run.
static void
s_done (zsock_t *pipe, int status)
{
    OPENSSL_thread_stop ();
    if (status >= 0)
        zsock_signal (pipe, (byte)status);
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    keys_app_t *app = arg;
    //  zactor_new returns once we signal; the set-up result follows as a
    //  second signal (0 ok, 1 failure, 2 configuration error).
    zsock_signal (pipe, 0);
    const config_t *cfg = keys_app_config (app);
    db_t *db = db_new (cfg->db);
    if (!db || keys_store_prepare (db) != 0) {
        fprintf (stderr, "keys-svc: the control thread cannot set up its database connection\n");
        db_destroy (&db);
        s_done (pipe, 1);
        return;
    }
    int status = 0;
    keys_admin_t *admin = keys_admin_new (app, db, &status);
    zpoller_t *poller = status == 0 ? zpoller_new (pipe, NULL) : NULL;
    if (!poller) {
        keys_admin_destroy (&admin);
        db_destroy (&db);
        s_done (pipe, status ? status : 1);
        return;
    }
    if (admin)
        keys_admin_attach (admin, poller);
    //  SIGINT/SIGTERM stop the bus workers; this thread stops when the
    //  process tells it to ($TERM from keys_control_destroy), so a command
    //  in progress is finished and answered.
    zpoller_set_nonstop (poller, true);
    zsock_signal (pipe, 0);

    keys_janitor_t janitor = {0};
    s_health_t health = {0};
    int64_t next_tick = zclock_mono () + KEYS_TICK_MS;
    while (1) {
        int64_t wait = next_tick - zclock_mono ();
        void *which = zpoller_wait (poller, wait > 0 ? (int)wait : 0);
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            int term = !command || strcmp (command, "$TERM") == 0;
            zstr_free (&command);
            if (term)
                break;
        } else if (which && admin && keys_admin_handle (admin, which))
            //  Show the command's effect to this replica's signers at once.
            (void)keys_app_reload (app, db, 0);
        if (zclock_mono () >= next_tick) {
            s_tick (app, db, &janitor, &health);
            next_tick = zclock_mono () + KEYS_TICK_MS;
        }
    }
    keys_admin_destroy (&admin);
    zpoller_destroy (&poller);
    db_destroy (&db);
    s_done (pipe, -1);
}

keys_control_t *
keys_control_new (keys_app_t *app, int *exit_code)
{
    *exit_code = 1;
    keys_control_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = zactor_new (s_actor, app);
    int status = self->actor ? zsock_wait (self->actor) : 1;
    if (status != 0) {
        *exit_code = status == 2 ? 2 : 1;
        keys_control_destroy (&self);
        return NULL;
    }
    *exit_code = 0;
    return self;
}

void
keys_control_destroy (keys_control_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zactor_destroy (&(*self_p)->actor);
    free (*self_p);
    *self_p = NULL;
}
