/*  keys_admin - the admin socket: endpoint set-up, CURVE and ZAP, the
 *  command table, the audit log. See keys_admin.h. */
#include "keys_admin.h"
#include "ops.h"

#include "bus_curve.h"
#include "keys_lifecycle.h"
#include "keys_store.h"
#include "log.h"
#include "proto/keys_admin.h"
#include "secure.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

//  Z85 of 32 zero bytes: what zcert holds when a key is missing.
#define Z85_ZERO "0000000000000000000000000000000000000000"
#define Z85_KEY_LEN 40
//  sockaddr_un.sun_path holds 108 bytes with the NUL.
#define IPC_PATH_MAX 107

struct _keys_admin_t {
    keys_app_t *app;
    db_t *db;
    char endpoint[IPC_PATH_MAX + 16];
    int tcp;
    zsock_t *sock;
    //  ipc only: the socket file we made, removed when we close
    char ipc_path[IPC_PATH_MAX + 1];
    dev_t ipc_dev;
    ino_t ipc_ino;
    //  tcp only
    int zap; //  the admin domain is registered with the process's ZAP handler
    zcert_t *cert;
    char clients[4096];
};

//  Where a command runs: the process's keys, a database connection of the
//  calling thread, and the endpoint status reports.
typedef struct {
    keys_app_t *app;
    db_t *db;
    const char *endpoint;
} s_env_t;

typedef int (*s_cmd_fn) (const s_env_t *env, const json_t *args, json_t **result, keys_err_t *err);

//  One command at a time in the process, whichever way it came (the admin
//  socket's control thread, a bus worker): rewrap replaces the process's
//  key-encryption key, which rotate uses.
static pthread_mutex_t s_commands_lock = PTHREAD_MUTEX_INITIALIZER;

static void s_config_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_config_error (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "keys-svc: ");
    vfprintf (stderr, fmt, ap);
    fprintf (stderr, "\n");
    va_end (ap);
}

//  ---------------------------------------------------------------- ipc

//  The socket's folder must be a folder owned by us (or root) that nobody
//  else can write: then nobody else can put a file where our socket goes,
//  and with the socket at 0600 nobody else can connect.
static int
s_ipc_folder (const char *path)
{
    char dir[IPC_PATH_MAX + 1];
    snprintf (dir, sizeof dir, "%s", path);
    char *slash = strrchr (dir, '/');
    if (!slash || slash == dir) {
        s_config_error ("the admin socket %s must be in a folder of its own (not /)", path);
        return -1;
    }
    *slash = '\0';
    if (mkdir (dir, 0700) != 0 && errno != EEXIST) {
        s_config_error ("cannot create the admin socket folder %s: %s (set OSTIARY_RUN_DIR)", dir,
                        strerror (errno));
        return -1;
    }
    struct stat st;
    if (lstat (dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
        s_config_error ("the admin socket folder %s is not a folder", dir);
        return -1;
    }
    if ((st.st_uid != geteuid () && st.st_uid != 0) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        s_config_error ("the admin socket folder %s must belong to this user (or root) and be writable by "
                        "nobody else (set OSTIARY_RUN_DIR to a private folder)",
                        dir);
        return -1;
    }
    return 0;
}

//  1 when a process accepts connections on the socket file at path. libzmq
//  removes whatever is at the path when it binds, so without this check a
//  second keys-svc on the same host would silently take the first one's
//  admin socket away.
static int
s_ipc_live (const char *path)
{
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf (addr.sun_path, sizeof addr.sun_path, "%s", path);
    int live = connect (fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close (fd);
    return live;
}

//  0 bound, 1 served by another replica, -1 configuration error.
static int
s_bind_ipc (keys_admin_t *self, const char *path)
{
    if (path[0] != '/' || strlen (path) > IPC_PATH_MAX) {
        s_config_error ("OSTIARY_KEYS_ADMIN: an ipc:// endpoint needs an absolute path of at most %d bytes",
                        IPC_PATH_MAX);
        return -1;
    }
    if (s_ipc_folder (path) != 0)
        return -1;
    if (s_ipc_live (path))
        return 1;
    //  The socket file gets 0600 from its creation on (umask), not after a
    //  window; start-up runs before any other thread of ours makes files.
    mode_t old = umask (0177);
    int rc = zsock_bind (self->sock, "ipc://%s", path);
    umask (old);
    struct stat st;
    if (rc != 0 || chmod (path, 0600) != 0 || lstat (path, &st) != 0) {
        s_config_error ("cannot listen on the admin socket %s: %s", path, strerror (errno));
        return -1;
    }
    snprintf (self->ipc_path, sizeof self->ipc_path, "%s", path);
    self->ipc_dev = st.st_dev;
    self->ipc_ino = st.st_ino;
    return 0;
}

//  ---------------------------------------------------------------- tcp, CURVE

static int
s_bind_tcp (keys_admin_t *self, const config_t *cfg)
{
    if (!*cfg->keys_admin_curve_cert || !*cfg->keys_admin_curve_clients) {
        s_config_error ("a tcp:// admin endpoint must use CURVE: set OSTIARY_KEYS_ADMIN_CURVE_CERT (the "
                        "server certificate) and OSTIARY_KEYS_ADMIN_CURVE_CLIENTS (the allowed clients)");
        return -1;
    }
    struct stat st;
    if (stat (cfg->keys_admin_curve_clients, &st) != 0 || !S_ISDIR (st.st_mode)) {
        s_config_error ("OSTIARY_KEYS_ADMIN_CURVE_CLIENTS must be a folder of client certificates");
        return -1;
    }
    snprintf (self->clients, sizeof self->clients, "%s", cfg->keys_admin_curve_clients);
    self->cert = zcert_load (cfg->keys_admin_curve_cert);
    if (!self->cert || strcmp (zcert_secret_txt (self->cert), Z85_ZERO) == 0) {
        s_config_error ("OSTIARY_KEYS_ADMIN_CURVE_CERT must name a CURVE certificate with its secret key "
                        "(make one with `ostiaryctl keys cert FILE`)");
        return -1;
    }
    //  The ZAP handler first: libzmq lets every CURVE client that knows our
    //  public key in when no handler answers (RFC 27: ZAP is optional, and
    //  Debian's libzmq ignores ZMQ_ZAP_ENFORCE_DOMAIN). The process's one
    //  handler (common/bus_curve) serves this domain from the allow-list
    //  folder, read again on every handshake; s_request checks it again on
    //  every command.
    if (bus_zap_add_folder (KEYS_ADMIN_ZAP_DOMAIN, self->clients, "admin") != 0) {
        s_config_error ("cannot install the admin socket's authentication handler");
        return -1;
    }
    self->zap = 1;
    zsock_set_zap_enforce_domain (self->sock, 1);
    zsock_set_zap_domain (self->sock, KEYS_ADMIN_ZAP_DOMAIN);
    zsock_set_curve_server (self->sock, 1);
    zcert_apply (self->cert, zsock_resolve (self->sock));
    if (zsock_bind (self->sock, "%s", self->endpoint) < 0) {
        s_config_error ("cannot listen on the admin endpoint %s: %s", self->endpoint,
                        zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------- set-up

keys_admin_t *
keys_admin_new (keys_app_t *app, db_t *db, int *status)
{
    *status = 2;
    const config_t *cfg = keys_app_config (app);
    keys_admin_t *self = calloc (1, sizeof *self);
    if (!self) {
        *status = 1;
        return NULL;
    }
    self->app = app;
    self->db = db;
    if (strcmp (cfg->keys_admin, "none") == 0) {
        log_info ("admin socket off (OSTIARY_KEYS_ADMIN=none)");
        free (self);
        *status = 0;
        return NULL;
    }
    int rc = 0;
    if (!*cfg->keys_admin)
        rc = keys_admin_default_endpoint (cfg->run_dir, self->endpoint, sizeof self->endpoint);
    else if (strlen (cfg->keys_admin) < sizeof self->endpoint)
        snprintf (self->endpoint, sizeof self->endpoint, "%s", cfg->keys_admin);
    else
        rc = -1;
    if (rc != 0) {
        s_config_error ("the admin endpoint (OSTIARY_KEYS_ADMIN or OSTIARY_RUN_DIR) is too long");
        keys_admin_destroy (&self);
        return NULL;
    }
    self->tcp = strncmp (self->endpoint, "tcp://", 6) == 0;
    if (!self->tcp && strncmp (self->endpoint, "ipc://", 6) != 0) {
        s_config_error ("OSTIARY_KEYS_ADMIN must be ipc://PATH, tcp://HOST:PORT or none");
        keys_admin_destroy (&self);
        return NULL;
    }
    self->sock = zsock_new (ZMQ_REP);
    if (!self->sock) {
        *status = 1;
        keys_admin_destroy (&self);
        return NULL;
    }
    zsock_set_linger (self->sock, 0);
    zsock_set_maxmsgsize (self->sock, KEYS_ADMIN_MAX_REQUEST);
    //  A client that vanishes mid-request must not leave the reply blocking.
    zsock_set_sndtimeo (self->sock, 1000);
    rc = self->tcp ? s_bind_tcp (self, cfg) : s_bind_ipc (self, self->endpoint + 6);
    if (rc == 1) {
        log_warn (
            "admin socket %s is served by another live keys-svc on this host: this replica runs without "
            "one (give it its own OSTIARY_KEYS_ADMIN to reach it)",
            self->endpoint);
        keys_admin_destroy (&self);
        *status = 0;
        return NULL;
    }
    if (rc != 0) {
        keys_admin_destroy (&self);
        return NULL;
    }
    log_info ("admin socket on %s%s", self->endpoint, self->tcp ? " (CURVE, allow-listed clients only)" : "");
    *status = 0;
    return self;
}

void
keys_admin_destroy (keys_admin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    keys_admin_t *self = *self_p;
    //  The admin socket before its ZAP handler: no handshake may find the
    //  handler gone while the socket still listens. (libzmq removes the ipc
    //  socket file when the socket closes.)
    zsock_destroy (&self->sock);
    if (self->zap)
        bus_zap_release (KEYS_ADMIN_ZAP_DOMAIN);
    //  Our socket file goes with us (libzmq leaves it), but only if it is
    //  still ours: a replica started since may have bound the path anew.
    struct stat st;
    if (self->ipc_path[0] && lstat (self->ipc_path, &st) == 0 && st.st_dev == self->ipc_dev &&
        st.st_ino == self->ipc_ino)
        unlink (self->ipc_path);
    bus_cert_destroy (&self->cert);
    free (self);
    *self_p = NULL;
}

void
keys_admin_attach (keys_admin_t *self, zpoller_t *poller)
{
    zpoller_add (poller, self->sock);
}

const char *
keys_admin_endpoint (const keys_admin_t *self)
{
    return self->endpoint;
}

//  ---------------------------------------------------------------- commands

//  Checks a command's arguments against its shape in proto/ops/keys.def
//  (a member it does not take is an error, not a silently ignored option)
//  and fills value. -1 with err set when they do not fit.
static int
s_args (const schema_t *shape, const json_t *args, void *value, keys_err_t *err)
{
    char why[SCHEMA_WHY_MAX];
    if (schema_unpack (shape, args, value, why, sizeof why) == 0)
        return 0;
    err->err = OST_ERR_INVALID_REQUEST;
    snprintf (err->description, sizeof err->description, "invalid arguments: %s", why);
    return -1;
}

static int
s_cmd_status (const s_env_t *env, const json_t *args, json_t **result, keys_err_t *err)
{
    shape_keys_admin_none_t none;
    if (s_args (&schema_shape_keys_admin_none, args, &none, err) != 0)
        return -1;
    const keys_settings_t *settings = keys_app_settings (env->app);
    keys_snap_t *snap = keys_app_snapshot (env->app);
    const keyring_t *ring = keys_snap_ring (snap);
    int64_t stored = 0;
    int have_stored = keys_store_generation (env->db, &stored) == DB_OK;
    int kek = keys_app_kek_current (env->app, env->db);
    json_t *algs = json_array ();
    for (size_t i = 0; algs && i < keyring_nalgs; i++)
        if (settings->algs & (1u << keyring_algs[i]))
            json_array_append_new (algs, json_string (jws_alg_name (keyring_algs[i])));
    *result = json_pack (
        "{s:s, s:s, s:I, s:o*, s:o*, s:o*, s:I, s:o, s:{s:I, s:I, s:I, s:I, s:o*}}", "replica",
        keys_app_replica (env->app), "admin", env->endpoint, "generation",
        (json_int_t)keys_snap_generation (snap), "stored_generation",
        have_stored ? json_integer (stored) : json_null (), "signing_algs", keyring_signing_algs (ring),
        "keys", keyring_describe (ring), "published", (json_int_t)keyring_published (ring), "kek_current",
        kek < 0 ? json_null () : json_boolean (kek), "settings", "jwks_max_age",
        (json_int_t)settings->jwks_max_age, "publish_delay", (json_int_t)settings->publish_delay,
        "token_lifetime_max", (json_int_t)settings->token_lifetime_max, "rotate_days",
        (json_int_t)settings->rotate_days, "algs", algs);
    keys_snap_release (&snap);
    if (!*result) {
        err->err = OST_ERR_SERVER_ERROR;
        snprintf (err->description, sizeof err->description, "out of memory");
        return -1;
    }
    return 0;
}

static int
s_cmd_list (const s_env_t *env, const json_t *args, json_t **result, keys_err_t *err)
{
    shape_keys_admin_none_t none;
    if (s_args (&schema_shape_keys_admin_none, args, &none, err) != 0)
        return -1;
    json_t *list = NULL;
    if (keys_store_list (env->db, &list) != DB_OK) {
        err->err = OST_ERR_TEMPORARILY_UNAVAILABLE;
        snprintf (err->description, sizeof err->description, "cannot read the keys; try again");
        return -1;
    }
    *result = json_pack ("{s:o}", "keys", list);
    return *result ? 0 : -1;
}

static int
s_cmd_rotate (const s_env_t *env, const json_t *args, json_t **result, keys_err_t *err)
{
    shape_keys_admin_rotate_t a;
    if (s_args (&schema_shape_keys_admin_rotate, args, &a, err) != 0)
        return -1;
    const keys_settings_t *settings = keys_app_settings (env->app);
    const char *name = a.alg;
    unsigned algs = settings->algs;
    if (name) {
        jws_alg_t alg = jws_alg_parse (name);
        //  RFC 7515 §4.1.1: case-sensitive names; "none" is never a key.
        if (alg == JWS_ALG_NONE || strcmp (jws_alg_name (alg), name) != 0) {
            err->err = OST_ERR_INVALID_REQUEST;
            snprintf (err->description, sizeof err->description,
                      "unknown algorithm \"%.32s\": use RS256, ES256 or EdDSA", name);
            return -1;
        }
        if (!(settings->algs & (1u << alg))) {
            err->err = OST_ERR_INVALID_REQUEST;
            snprintf (err->description, sizeof err->description,
                      "%s is not in OSTIARY_KEYS_ALGS: keys-svc keeps no key of it", name);
            return -1;
        }
        algs = 1u << alg;
    }
    return keys_lifecycle_rotate (env->app, env->db, algs, a.now, result, err);
}

//  Our kids are RFC 7638 thumbprints: base64url, as the table's CHECK says.
static int
s_kid_valid (const char *kid)
{
    size_t len = strlen (kid);
    if (len == 0 || len >= KEYRING_KID_MAX)
        return 0;
    return strspn (kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

static int
s_cmd_retire (const s_env_t *env, const json_t *args, json_t **result, keys_err_t *err)
{
    shape_keys_admin_retire_t a;
    if (s_args (&schema_shape_keys_admin_retire, args, &a, err) != 0)
        return -1;
    const char *kid = a.kid;
    if (!s_kid_valid (kid)) {
        err->err = OST_ERR_NOT_FOUND;
        snprintf (err->description, sizeof err->description,
                  "no key has this kid (a kid is 1 to 63 base64url characters)");
        return -1;
    }
    return keys_lifecycle_retire (env->app, env->db, kid, result, err);
}

static int
s_cmd_rewrap (const s_env_t *env, const json_t *args, json_t **result, keys_err_t *err)
{
    shape_keys_admin_rewrap_t a;
    if (s_args (&schema_shape_keys_admin_rewrap, args, &a, err) != 0)
        return -1;
    kek_t *kek = kek_new (a.kek);
    if (!kek) {
        err->err = OST_ERR_INVALID_REQUEST;
        snprintf (err->description, sizeof err->description,
                  "the new key-encryption key must be 32 bytes encoded as base64url without padding");
        return -1;
    }
    int rc = keys_lifecycle_rewrap (env->app, env->db, &kek, result, err);
    kek_destroy (&kek);
    return rc;
}

//  The command table: name -> handler and the shape of its result, expanded
//  from proto/keys_admin.h, which ostiaryctl expands too.
static const struct {
    const char *name;
    s_cmd_fn fn;
    const schema_t *result;
} s_commands[] = {
#define KEYS_ADMIN_CMD(name, args, result, summary) {#name, s_cmd_##name, &schema_shape_keys_admin_##result},
    KEYS_ADMIN_COMMANDS
#undef KEYS_ADMIN_CMD
};

//  Arguments as recorded in the audit log and the log: secrets replaced.
static json_t *
s_public_args (const json_t *args)
{
    json_t *copy = json_deep_copy (args);
    if (copy && json_object_get (copy, "kek"))
        json_object_set_new (copy, "kek", json_string ("(given)"));
    return copy;
}

//  The audit event of an admin command (docs/audit.md): rotate, retire and
//  rewrap are key changes of their own, every other command (status, list,
//  an unknown or refused one) is key_admin. The arguments never hold the
//  key-encryption key (rewrap's is left out).
static db_status_t
s_audit (const s_env_t *env, const char *peer, const char *command, const json_t *args, const json_t *result,
         int ok, const char *code, const char *description)
{
    static const struct {
        const char *command;
        audit_event_t event;
    } events[] = {
        {"rotate", AUDIT_EV_key_rotate}, {"retire", AUDIT_EV_key_retire}, {"rewrap", AUDIT_EV_key_rewrap}};
    audit_event_t event = AUDIT_EV_key_admin;
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        if (strcmp (command, events[i].command) == 0)
            event = events[i].event;
    json_t *public_args = json_deep_copy (args);
    if (public_args)
        json_object_del (public_args, "kek");
    json_t *details =
        json_pack ("{s:s, s:o, s:s}", "command", command, "args", public_args ? public_args : json_object (),
                   "replica", keys_app_replica (env->app));
    if (details && code)
        json_object_set_new (details, "error", json_string (code));
    if (details && description && *description)
        json_object_set_new (details, "description", json_string (description));
    //  The key the command is about: retire's, or the one key a rotation of
    //  one algorithm made or found pending (none when it rotated several).
    const char *subject = json_string_value (json_object_get (args, "kid"));
    if (!subject && ok)
        subject = json_string_value (json_object_get (result, "kid"));
    const json_t *rotated = ok ? json_object_get (result, "keys") : NULL;
    if (!subject && json_array_size (rotated) == 1)
        subject = json_string_value (json_object_get (json_array_get (rotated, 0), "kid"));
    audit_record_t record = {.event = event,
                             .outcome = ok                                        ? AUDIT_SUCCESS
                                        : code && strcmp (code, "forbidden") == 0 ? AUDIT_REFUSED
                                                                                  : AUDIT_FAILURE,
                             .actor = peer,
                             .subject = subject,
                             .details = details};
    //  What a client sent to an unknown command is not checked by a shape:
    //  arguments the record may not hold (a member named like a secret, or
    //  a kid too long) are left out, and the command is still recorded.
    if (details && audit_check (&record, "keys", NULL, 0) != 0) {
        json_object_del (details, "args");
        json_object_set_new (details, "args_withheld", json_true ());
        if (subject && strlen (subject) > AUDIT_TEXT_MAX)
            record.subject = NULL;
    }
    db_status_t st = details ? keys_store_audit (env->db, &record) : DB_ERROR;
    json_decref (details);
    return st;
}

//  A command name fit for the log and the audit table: what the client sent,
//  bounded and with anything unprintable replaced.
static void
s_clean (const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; in && in[n] && n + 1 < size; n++)
        out[n] = in[n] > 0x20 && in[n] < 0x7f && in[n] != '"' && in[n] != '\\' ? in[n] : '?';
    out[n] = '\0';
}

//  Runs the command name (command: the same, cleaned for the log) with
//  args: the command table, then the result checked against its shape.
static int
s_dispatch (const s_env_t *env, const char *rid, const char *name, const char *command, const json_t *args,
            json_t **result, keys_err_t *err)
{
    size_t i = 0;
    size_t n = sizeof s_commands / sizeof s_commands[0];
    while (i < n && strcmp (s_commands[i].name, name) != 0)
        i++;
    //  A command of the admin socket has a request id and a log context of
    //  its own; one that came over the bus keeps its op's.
    if (rid) {
        char op[64];
        snprintf (op, sizeof op, "admin.%s", i < n ? s_commands[i].name : "unknown");
        log_set_context (rid, op);
    }
    if (i == n) {
        err->err = OST_ERR_UNKNOWN_OP;
        snprintf (err->description, sizeof err->description,
                  "unknown admin command \"%s\": use status, list, rotate, retire or rewrap", command);
        return -1;
    }
    int rc = s_commands[i].fn (env, args, result, err);
    //  What ostiaryctl will read is checked here first: an answer outside
    //  its shape is a bug of ours, never sent.
    char why[SCHEMA_WHY_MAX];
    if (rc == 0 && *result && schema_unpack (s_commands[i].result, *result, NULL, why, sizeof why)) {
        log_error ("admin: %s built a result outside its shape: %s", command, why);
        json_decref (*result);
        *result = NULL;
        rc = -1;
        err->err = OST_ERR_SERVER_ERROR;
        snprintf (err->description, sizeof err->description, "keys-svc could not answer");
    }
    if (rc == 0 && !*result) {
        rc = -1;
        err->err = OST_ERR_SERVER_ERROR;
        snprintf (err->description, sizeof err->description, "out of memory");
    }
    return rc;
}

//  The log line and the audit record of a command, whatever its outcome
//  (rc), after the command's own transaction, so a refused or failed
//  command is recorded too. The arguments are logged without secrets.
static void
s_record (const s_env_t *env, const char *peer, const char *command, const json_t *args, int rc,
          const json_t *result, const keys_err_t *err)
{
    const err_def_t *def = proto_err (err->err);
    json_t *public_args = s_public_args (args);
    json_t *empty = public_args ? NULL : json_object ();
    char *args_text = public_args ? json_dumps (public_args, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (rc == 0)
        log_info ("admin: %s %s from %s: ok", command, args_text ? args_text : "{}", peer);
    else
        log_warn ("admin: %s %s from %s: %s: %s", command, args_text ? args_text : "{}", peer,
                  def ? def->code : "server_error", err->description);
    if (s_audit (env, peer, command, public_args ? public_args : empty, result, rc == 0,
                 rc == 0 ? NULL : (def ? def->code : "server_error"),
                 rc == 0 ? "" : err->description) != DB_OK)
        log_error ("admin: the audit log could not be written for %s", command);
    free (args_text);
    json_decref (public_args);
    json_decref (empty);
}

int
keys_admin_run (keys_app_t *app, db_t *db, const char *peer, const char *name, const json_t *args,
                json_t **result, keys_err_t *err)
{
    s_env_t env = {app, db, "bus"};
    char command[KEYS_ADMIN_MAX_COMMAND + 1];
    s_clean (name, command, sizeof command);
    *result = NULL;
    err->err = OST_ERR_INVALID_REQUEST;
    err->description[0] = '\0';
    pthread_mutex_lock (&s_commands_lock);
    int rc = s_dispatch (&env, NULL, name, command, args, result, err);
    s_record (&env, peer, command, args, rc, *result, err);
    pthread_mutex_unlock (&s_commands_lock);
    if (rc != 0) {
        json_decref (*result);
        *result = NULL;
    }
    return rc;
}

static void
s_request (keys_admin_t *self)
{
    zmsg_t *msg = zmsg_recv (self->sock);
    if (!msg)
        return;
    char peer[64] = "local";
    zframe_t *frame = zmsg_first (msg);
    //  tcp: only a client whose key is in the allow-list now (the handshake
    //  checked it once; a key removed since loses its connection's rights).
    int allowed = 1;
    if (self->tcp) {
        const char *user = frame ? zframe_meta (frame, "User-Id") : NULL;
        snprintf (peer, sizeof peer, "%s", user && *user ? user : "unknown");
        allowed = user && *user && bus_folder_has_key (self->clients, user);
    }
    char rid[33] = "";
    if (secure_request_id (rid) != 0)
        rid[0] = '\0';
    keys_err_t err = {OST_ERR_INVALID_REQUEST, ""};
    json_t *request = NULL;
    json_t *result = NULL;
    char command[KEYS_ADMIN_MAX_COMMAND + 1] = "(none)";
    const json_t *args = NULL;
    json_t *empty = json_object ();
    int rc = -1;
    s_env_t env = {self->app, self->db, self->endpoint};
    pthread_mutex_lock (&s_commands_lock);
    if (!allowed) {
        err.err = OST_ERR_FORBIDDEN;
        snprintf (err.description, sizeof err.description, "this client's key is not in the allow-list");
    } else if (zmsg_size (msg) != 1 || !frame || zframe_size (frame) > KEYS_ADMIN_MAX_REQUEST)
        snprintf (err.description, sizeof err.description, "a request is one frame holding a JSON object");
    else {
        json_error_t jerr;
        request = json_loadb ((const char *)zframe_data (frame), zframe_size (frame), JSON_REJECT_DUPLICATES,
                              &jerr);
        const char *name = json_string_value (json_object_get (request, "command"));
        args = json_object_get (request, "args");
        if (!json_is_object (request) || !name)
            snprintf (err.description, sizeof err.description,
                      "a request is a JSON object {\"command\": NAME, \"args\": {...}}");
        else if (args && !json_is_object (args))
            snprintf (err.description, sizeof err.description, "args must be a JSON object");
        else {
            s_clean (name, command, sizeof command);
            if (!args)
                args = empty;
            if (!empty)
                snprintf (err.description, sizeof err.description, "out of memory");
            else
                rc = s_dispatch (&env, rid, name, command, args, &result, &err);
        }
    }
    //  The request may carry a key-encryption key (rewrap): wipe both copies
    //  of it before the memory goes back. The frame and the jansson string
    //  are heap buffers we own until they are freed.
    json_t *kek =
        json_object_get (request, "args") ? json_object_get (json_object_get (request, "args"), "kek") : NULL;
    if (json_is_string (kek))
        secure_wipe ((char *)json_string_value (kek), json_string_length (kek));
    if (frame)
        secure_wipe (zframe_data (frame), zframe_size (frame));
    zmsg_destroy (&msg);
    if (rc == 0 && !result) {
        rc = -1;
        err.err = OST_ERR_SERVER_ERROR;
        snprintf (err.description, sizeof err.description, "out of memory");
    }
    const err_def_t *def = proto_err (err.err);
    json_t *reply = rc == 0 ? json_pack ("{s:O}", "ok", result)
                            : json_pack ("{s:{s:s, s:s}}", "error", "code", def ? def->code : "server_error",
                                         "description", err.description);
    s_record (&env, peer, command, args ? args : empty, rc, result, &err);
    pthread_mutex_unlock (&s_commands_lock);
    char *text = reply ? json_dumps (reply, JSON_COMPACT) : NULL;
    if (!text || zstr_send (self->sock, text) != 0) {
        //  REP must answer every request; a fixed text when all else fails.
        if (!text)
            zstr_send (self->sock,
                       "{\"error\":{\"code\":\"server_error\",\"description\":\"out of memory\"}}");
        else
            log_warn ("admin: the reply could not be sent (the client went away)");
    }
    free (text);
    json_decref (reply);
    json_decref (result);
    json_decref (request);
    json_decref (empty);
    log_set_context (NULL, NULL);
}

int
keys_admin_handle (keys_admin_t *self, void *which)
{
    if (which == self->sock) {
        s_request (self);
        return 1;
    }
    return 0;
}
