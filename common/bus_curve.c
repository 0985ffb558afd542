/*  bus_curve - CurveZMQ certificates, role folders and the process's ZAP
 *  handler. See bus_curve.h and proto/bus.md, "Security". */
#include "bus_curve.h"

#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "secure.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

//  RFC 27/ZAP: the endpoint libzmq asks for every handshake of a socket
//  with a ZAP domain.
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
//  Z85 of 32 zero bytes: what zcert holds when a key is missing.
#define Z85_ZERO "0000000000000000000000000000000000000000"
#define PATH_MAX_LEN 4096
//  One refusal line per peer and this many milliseconds.
#define LOG_EVERY_MS 10000
#define LOG_SLOTS 128
#define ZAP_DOMAINS 4

struct _bus_curve_t {
    int enabled;
    zcert_t *cert;
    char peers[PATH_MAX_LEN];
    int serving;
};

void
bus_cert_destroy (zcert_t **cert_p)
{
    if (!cert_p || !*cert_p)
        return;
    //  zcert keeps the key in two buffers of its own that it hands out as
    //  const; they are plain heap memory, so wiping them is sound.
    secure_wipe ((void *)zcert_secret_key (*cert_p), 32);
    secure_wipe ((void *)zcert_secret_txt (*cert_p), BUS_KEY_TXT);
    zcert_destroy (cert_p);
}

static int
s_is_dir (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

bus_curve_t *
bus_curve_new (int enabled, const char *cert_path, const char *peers_dir, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    bus_curve_t *self = calloc (1, sizeof *self);
    if (!self) {
        *why = "out of memory";
        return NULL;
    }
    self->enabled = enabled != 0;
    if (!self->enabled)
        return self;
    if (!zsys_has_curve ()) {
        *why = "this libzmq has no CURVE support";
    } else if (!cert_path || !*cert_path) {
        *why = "OSTIARY_BUS_CERT is not set (this process's CURVE certificate with its secret key)";
    } else if (!peers_dir || !*peers_dir) {
        *why = "OSTIARY_BUS_PEERS is not set (the folder of the role folders of public keys)";
    } else if (strlen (peers_dir) >= sizeof self->peers) {
        *why = "OSTIARY_BUS_PEERS is too long";
    } else if (!s_is_dir (peers_dir)) {
        *why = "OSTIARY_BUS_PEERS must be a folder";
    } else {
        self->cert = zcert_load (cert_path);
        if (!self->cert || strcmp (zcert_secret_txt (self->cert), Z85_ZERO) == 0)
            *why =
                "OSTIARY_BUS_CERT must name a CURVE certificate with its secret key (ostiaryctl bus keygen)";
    }
    if (*why) {
        bus_curve_destroy (&self);
        return NULL;
    }
    snprintf (self->peers, sizeof self->peers, "%s", peers_dir);
    return self;
}

bus_curve_t *
bus_curve_open (const config_t *cfg, const char *program, const char **why)
{
    //  The broker and the direct endpoints enforce proto/access.def: an op
    //  without its line there would be refused to everyone.
    const char *what = NULL;
    if (proto_access_check (why, &what)) {
        log_error ("%s: %s: %s", program, *why, what);
        return NULL;
    }
    bus_curve_t *self = bus_curve_new ((int)cfg->bus_curve, cfg->bus_cert, cfg->bus_peers, why);
    if (self && !self->enabled)
        log_warn (
            "%s: CURVE is off on the bus (OSTIARY_BUS_CURVE=0): anyone who reaches a bus port is trusted "
            "with every operation; development only",
            program);
    else if (self)
        log_info ("%s: bus CURVE on, key %.8s..., peers in %s", program, bus_curve_public_key (self),
                  cfg->bus_peers);
    return self;
}

void
bus_curve_destroy (bus_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bus_curve_t *self = *self_p;
    while (self->serving > 0)
        bus_curve_unserve (self);
    bus_cert_destroy (&self->cert);
    free (self);
    *self_p = NULL;
}

int
bus_curve_enabled (const bus_curve_t *self)
{
    return self && self->enabled;
}

const char *
bus_curve_public_key (const bus_curve_t *self)
{
    return bus_curve_enabled (self) ? zcert_public_txt (self->cert) : "";
}

const char *
bus_curve_peers_dir (const bus_curve_t *self)
{
    return bus_curve_enabled (self) ? self->peers : "";
}

//  base/<name of role> into dir (dir_len bytes).
static void
s_role_dir (const char *base, unsigned role, char *dir, size_t dir_len)
{
    snprintf (dir, dir_len, "%s/%s", base, proto_role_name (role));
}

//  Calls fn for each certificate file of folder dir (regular files, not
//  hidden, not ending in _secret: a secret key has no business there).
//  Stops when fn returns non-zero and returns that; -1 when dir is unreadable.
static int
s_each_cert (const char *dir, int (*fn) (const char *path, const struct stat *st, void *arg), void *arg)
{
    DIR *d = opendir (dir);
    if (!d)
        return -1;
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir (d))) {
        size_t len = strlen (entry->d_name);
        if (entry->d_name[0] == '.' || (len >= 7 && strcmp (entry->d_name + len - 7, "_secret") == 0))
            continue;
        char path[PATH_MAX_LEN + 256];
        if ((size_t)snprintf (path, sizeof path, "%s/%s", dir, entry->d_name) >= sizeof path)
            continue;
        struct stat st;
        if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
        rc = fn (path, &st, arg);
    }
    closedir (d);
    return rc;
}

//  The public key (Z85) of the certificate at path into key; 0 ok.
static int
s_public_of (const char *path, char *key)
{
    zcert_t *cert = zcert_load (path);
    if (!cert)
        return -1;
    const char *pub = zcert_public_txt (cert);
    int ok = strlen (pub) == BUS_KEY_TXT && strcmp (pub, Z85_ZERO) != 0;
    if (ok)
        memcpy (key, pub, BUS_KEY_TXT + 1);
    bus_cert_destroy (&cert);
    return ok ? 0 : -1;
}

typedef struct {
    zsock_t *sock;
    const char *endpoint;
    int connected;
    int failed;
} s_connect_t;

static int
s_connect_one (const char *path, const struct stat *st, void *arg)
{
    OST_UNUSED (st);
    s_connect_t *c = arg;
    char key[BUS_KEY_TXT + 1];
    if (s_public_of (path, key))
        return 0;
    zsock_set_curve_serverkey (c->sock, key);
    if (zsock_connect (c->sock, "%s", c->endpoint) < 0)
        c->failed = 1;
    else
        c->connected++;
    return 0;
}

int
bus_endpoint_nth (const char *list, int n, char *out, size_t size)
{
    if (!list || n < 0 || !out || size == 0)
        return -1;
    const char *p = list;
    for (int i = 0;; i++) {
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t)(end - p) : strlen (p);
        const char *start = p;
        while (len && (*start == ' ' || *start == '\t')) {
            start++;
            len--;
        }
        while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
            len--;
        if (len == 0 || len > BUS_ENDPOINT_MAX || len >= size)
            return -1;
        if (i == n) {
            memcpy (out, start, len);
            out[len] = 0;
            return 0;
        }
        if (!end)
            return -1;
        p = end + 1;
    }
}

#define BUS_ENDPOINTS_MAX 16

int
bus_endpoint_count (const char *list)
{
    char one[BUS_ENDPOINT_MAX + 1];
    if (!list)
        return -1;
    int n = 1;
    for (const char *c = list; *c; c++)
        if (*c == ',')
            n++;
    if (n > BUS_ENDPOINTS_MAX)
        return -1;
    for (int i = 0; i < n; i++)
        if (bus_endpoint_nth (list, i, one, sizeof one))
            return -1;
    return n;
}

static int s_curve_connect_one (const bus_curve_t *self, zsock_t *sock, const char *endpoint,
                                unsigned server_role);

int
bus_curve_connect (const bus_curve_t *self, zsock_t *sock, const char *endpoint, unsigned server_role)
{
    int n = bus_endpoint_count (endpoint);
    if (n < 0) {
        log_error ("bus: malformed endpoint list \"%s\"", endpoint ? endpoint : "");
        return -1;
    }
    char one[BUS_ENDPOINT_MAX + 1];
    for (int i = 0; i < n; i++)
        if (bus_endpoint_nth (endpoint, i, one, sizeof one) ||
            s_curve_connect_one (self, sock, one, server_role))
            return -1;
    return 0;
}

static int
s_curve_connect_one (const bus_curve_t *self, zsock_t *sock, const char *endpoint, unsigned server_role)
{
    if (!bus_curve_enabled (self) || strncmp (endpoint, "inproc://", 9) == 0)
        return zsock_connect (sock, "%s", endpoint) < 0 ? -1 : 0;
    char dir[PATH_MAX_LEN + 32];
    if (!proto_role_name (server_role))
        return -1;
    s_role_dir (self->peers, server_role, dir, sizeof dir);
    zcert_apply (self->cert, zsock_resolve (sock));
    s_connect_t c = {sock, endpoint, 0, 0};
    s_each_cert (dir, s_connect_one, &c);
    if (c.connected == 0)
        log_error ("bus: no public key in %s to connect to %s", dir, endpoint);
    return c.connected > 0 && !c.failed ? 0 : -1;
}

static int s_sign_one (const char *path, const struct stat *st, void *arg);

uint64_t
bus_curve_server_keys (const bus_curve_t *self, unsigned server_role)
{
    if (!bus_curve_enabled (self) || !proto_role_name (server_role))
        return 0;
    char dir[PATH_MAX_LEN + 32];
    s_role_dir (self->peers, server_role, dir, sizeof dir);
    uint64_t h = 14695981039346656037ull;
    s_each_cert (dir, s_sign_one, &h);
    return h;
}

//  ---------------------------------------------------------------- peers

//  How often a holder of the table reads the folders again (bus_peers_tick),
//  and the shortest pause between two looks for a key it does not know.
#define PEERS_REFRESH_MS 1000
#define PEERS_RECHECK_MS 100

struct _bus_peers_t {
    char dir[PATH_MAX_LEN];
    uint64_t signature;
    int loaded;
    uint64_t generation;  //  times the keys were read anew
    int64_t next_refresh; //  bus_peers_tick reads the folders again then
    int64_t next_recheck; //  the earliest look for a key not in the table
    zhash_t *roles;       //  Z85 key → role flag (as a pointer-sized integer)
};

static uint64_t
s_mix (uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int
s_sign_one (const char *path, const struct stat *st, void *arg)
{
    uint64_t *h = arg;
    *h = s_mix (*h, path, strlen (path) + 1);
    *h = s_mix (*h, &st->st_size, sizeof st->st_size);
    *h = s_mix (*h, &st->st_mtim, sizeof st->st_mtim);
    *h = s_mix (*h, &st->st_ctim, sizeof st->st_ctim);
    *h = s_mix (*h, &st->st_ino, sizeof st->st_ino);
    return 0;
}

typedef struct {
    zhash_t *roles;
    unsigned role;
} s_load_t;

static int
s_load_one (const char *path, const struct stat *st, void *arg)
{
    OST_UNUSED (st);
    s_load_t *l = arg;
    char key[BUS_KEY_TXT + 1];
    if (s_public_of (path, key))
        return 0;
    uintptr_t prev = (uintptr_t)zhash_lookup (l->roles, key);
    if (prev && prev != l->role) {
        //  One key in two role folders: which role it has cannot be told,
        //  so it has none.
        log_error ("bus: a public key is in the folders of two roles; it is refused (%s)", path);
        zhash_update (l->roles, key, (void *)(uintptr_t)UINT32_MAX);
    } else
        zhash_update (l->roles, key, (void *)(uintptr_t)l->role);
    return 0;
}

bus_peers_t *
bus_peers_new (const char *peers_dir)
{
    bus_peers_t *self = calloc (1, sizeof *self);
    if (!self || !peers_dir || strlen (peers_dir) >= sizeof self->dir) {
        free (self);
        return NULL;
    }
    snprintf (self->dir, sizeof self->dir, "%s", peers_dir);
    self->roles = zhash_new ();
    if (!self->roles) {
        free (self);
        return NULL;
    }
    bus_peers_refresh (self);
    self->next_refresh = zclock_mono () + PEERS_REFRESH_MS;
    return self;
}

void
bus_peers_destroy (bus_peers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhash_destroy (&(*self_p)->roles);
    free (*self_p);
    *self_p = NULL;
}

int
bus_peers_refresh (bus_peers_t *self)
{
    uint64_t h = 14695981039346656037ull;
    int readable = s_is_dir (self->dir);
    for (size_t i = 0; readable && i < proto_role_count (); i++) {
        char dir[PATH_MAX_LEN + 32];
        s_role_dir (self->dir, proto_role_at (i), dir, sizeof dir);
        h = s_mix (h, dir, strlen (dir) + 1);
        s_each_cert (dir, s_sign_one, &h);
    }
    if (self->loaded && h == self->signature)
        return 0;
    if (!readable && self->loaded) {
        //  A folder that cannot be read for a moment (a volume being
        //  remounted) keeps the keys it had: a key is revoked by removing its
        //  file, not by an error.
        log_error ("bus: the peers folder %s cannot be read: keeping the keys read before", self->dir);
        return -1;
    }
    zhash_t *roles = zhash_new ();
    if (!roles)
        return -1;
    for (size_t i = 0; readable && i < proto_role_count (); i++) {
        char dir[PATH_MAX_LEN + 32];
        unsigned role = proto_role_at (i);
        s_role_dir (self->dir, role, dir, sizeof dir);
        s_load_t l = {roles, role};
        s_each_cert (dir, s_load_one, &l);
    }
    zhash_destroy (&self->roles);
    self->roles = roles;
    self->signature = h;
    self->loaded = 1;
    self->generation++;
    if (!readable)
        log_error ("bus: the peers folder %s cannot be read: no key is allowed", self->dir);
    return readable ? 1 : -1;
}

unsigned
bus_peers_role (const bus_peers_t *self, const char *key)
{
    if (!self || !key)
        return 0;
    uintptr_t role = (uintptr_t)zhash_lookup (self->roles, key);
    return proto_role_name ((unsigned)role) ? (unsigned)role : 0;
}

void
bus_peers_tick (bus_peers_t *self)
{
    int64_t now = zclock_mono ();
    if (self && now >= self->next_refresh) {
        self->next_refresh = now + PEERS_REFRESH_MS;
        bus_peers_refresh (self);
    }
}

uint64_t
bus_peers_generation (const bus_peers_t *self)
{
    return self ? self->generation : 0;
}

unsigned
bus_peers_peer_role (bus_peers_t *self, const char *peer)
{
    unsigned role;
    char key[BUS_KEY_TXT + 1];
    if (!self || bus_peer_parse (peer, &role, key))
        return 0;
    if (bus_peers_role (self, key) == role)
        return role;
    int64_t now = zclock_mono ();
    if (now < self->next_recheck)
        return 0;
    self->next_recheck = now + PEERS_RECHECK_MS;
    return bus_peers_refresh (self) == 1 && bus_peers_role (self, key) == role ? role : 0;
}

void
bus_log_forbidden (const char *who, const char *peer, const char *what, const char *name)
{
    //  who is the caller's fixed name ("broker", "direct endpoint"): the
    //  label is one of a few.
    metrics_inc (METRIC_BUS_REFUSALS, METRICS_L (strcmp (who, "broker") == 0 ? "broker" : "direct", "role"));
    if (!bus_log_allowed (peer && *peer ? peer : who))
        return;
    unsigned role = 0;
    char key[BUS_KEY_TXT + 1];
    char fp[BUS_FINGERPRINT_LEN + 1] = "none";
    if (bus_peer_parse (peer, &role, key) == 0)
        bus_key_fingerprint (key, fp);
    log_warn ("%s: forbidden: role %s (key %s) may not %s %s", who, role ? proto_role_name (role) : "none",
              fp, what, name);
}

int
bus_peer_parse (const char *user_id, unsigned *role, char *key)
{
    const char *colon = user_id ? strchr (user_id, ':') : NULL;
    if (!colon || strlen (colon + 1) != BUS_KEY_TXT || colon - user_id > 16)
        return -1;
    char name[17];
    memcpy (name, user_id, (size_t)(colon - user_id));
    name[colon - user_id] = 0;
    *role = proto_role (name);
    if (!*role)
        return -1;
    memcpy (key, colon + 1, BUS_KEY_TXT + 1);
    return 0;
}

void
bus_key_fingerprint (const char *key, char *out)
{
    uint8_t raw[32];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (!key || strlen (key) != BUS_KEY_TXT || !zmq_z85_decode (raw, key)) {
        snprintf (out, BUS_FINGERPRINT_LEN + 1, "?");
        return;
    }
    SHA256 (raw, sizeof raw, digest);
    for (int i = 0; i < BUS_FINGERPRINT_LEN / 2; i++)
        snprintf (out + 2 * i, 3, "%02x", digest[i]);
}

//  ---------------------------------------------------------------- ZAP

typedef struct {
    char domain[64];
    int refs;
    int roles; //  1: role folders (bus); 0: one flat folder
    char dir[PATH_MAX_LEN];
    char log_name[32];
    bus_peers_t *peers; //  roles only
} s_domain_t;

static pthread_mutex_t s_zap_lock = PTHREAD_MUTEX_INITIALIZER;
static s_domain_t s_domains[ZAP_DOMAINS];
static zactor_t *s_zap_actor;

static struct {
    uint64_t hash;
    int64_t at;
} s_logged[LOG_SLOTS];
static pthread_mutex_t s_log_lock = PTHREAD_MUTEX_INITIALIZER;

int
bus_log_allowed (const char *peer)
{
    uint64_t h = s_mix (14695981039346656037ull, peer ? peer : "", peer ? strlen (peer) : 0);
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&s_log_lock);
    size_t slot = (size_t)(h % LOG_SLOTS);
    int allowed = s_logged[slot].hash != h || now - s_logged[slot].at >= LOG_EVERY_MS;
    if (allowed) {
        s_logged[slot].hash = h;
        s_logged[slot].at = now;
    }
    pthread_mutex_unlock (&s_log_lock);
    return allowed;
}

typedef struct {
    const char *key;
    int found;
} s_find_t;

static int
s_find_one (const char *path, const struct stat *st, void *arg)
{
    OST_UNUSED (st);
    s_find_t *f = arg;
    char key[BUS_KEY_TXT + 1];
    f->found = s_public_of (path, key) == 0 && strcmp (key, f->key) == 0;
    return f->found;
}

int
bus_folder_has_key (const char *dir, const char *key)
{
    s_find_t f = {key, 0};
    if (!dir || !key)
        return 0;
    s_each_cert (dir, s_find_one, &f);
    return f.found;
}

//  The user id for key in domain, "" when refused. Holds s_zap_lock.
static void
s_admit (const char *domain, const char *key, const char *address, char *user, size_t user_len)
{
    user[0] = 0;
    pthread_mutex_lock (&s_zap_lock);
    for (size_t i = 0; i < ZAP_DOMAINS; i++) {
        s_domain_t *d = &s_domains[i];
        if (!d->refs || strcmp (d->domain, domain) != 0)
            continue;
        char fp[BUS_FINGERPRINT_LEN + 1];
        if (d->roles) {
            bus_peers_refresh (d->peers);
            unsigned role = bus_peers_role (d->peers, key);
            if (role)
                snprintf (user, user_len, "%s:%s", proto_role_name (role), key);
            else if (bus_log_allowed (address)) {
                bus_key_fingerprint (key, fp);
                log_warn (
                    "bus: refused a CURVE peer from %s: key %s is in no role folder of OSTIARY_BUS_PEERS",
                    address, fp);
            }
        } else {
            if (bus_folder_has_key (d->dir, key))
                snprintf (user, user_len, "%s", key);
            else if (bus_log_allowed (address))
                log_warn ("%s: refused CURVE client %s from %s: its key is not in the allow-list",
                          d->log_name, key, address);
        }
        break;
    }
    pthread_mutex_unlock (&s_zap_lock);
}

//  RFC 27/ZAP: request = version, request id, domain, address, identity,
//  mechanism, credentials; reply = version, request id, status code, status
//  text, user id, metadata. Malformed requests are answered 400, never
//  asserted on.
static void
s_zap_answer (zsock_t *zap)
{
    zmsg_t *request = zmsg_recv (zap);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credentials = zmsg_pop (request);
    char user[BUS_PEER_MAX + 1] = "";
    if (version && strcmp (version, "1.0") == 0 && domain && mechanism && strcmp (mechanism, "CURVE") == 0 &&
        credentials && zframe_size (credentials) == 32) {
        char key[BUS_KEY_TXT + 1];
        if (zmq_z85_encode (key, zframe_data (credentials), 32))
            s_admit (domain, key, address ? address : "?", user, sizeof user);
    } else if (bus_log_allowed (address ? address : "?"))
        log_warn ("bus: refused a %s handshake from %s", mechanism ? mechanism : "malformed",
                  address ? address : "?");
    if (!user[0])
        metrics_inc (METRIC_BUS_REFUSALS, METRICS_L ("zap", "handshake"));
    const char *code = user[0] ? "200" : "400";
    zstr_sendx (zap, "1.0", sequence ? sequence : "", code, user[0] ? "OK" : "No access", user, "", NULL);
    zframe_destroy (&credentials);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zmsg_destroy (&request);
}

static void
s_zap_main (zsock_t *pipe, void *args)
{
    zsock_t *zap = args;
    zpoller_t *poller = zpoller_new (pipe, zap, NULL);
    //  Without its handler a CURVE server admits every key (libzmq built
    //  without draft options ignores ZMQ_ZAP_ENFORCE_DOMAIN): the handler
    //  never stops before its owner says so, not on SIGINT/SIGTERM (nonstop)
    //  while the sockets it guards still listen, and never runs half set up.
    if (!poller)
        abort ();
    zpoller_set_nonstop (poller, true);
    zsock_signal (pipe, 0);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == zap)
            s_zap_answer (zap);
        else if (which == pipe) {
            char *command = zstr_recv (pipe);
            int stop = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (stop)
                break;
        }
        //  NULL: an interrupted wait; the context ending shows on the pipe.
    }
    zpoller_destroy (&poller);
    zsock_destroy (&zap);
}

//  Starts the handler when it is not running. Holds s_zap_lock. 0 ok.
static int
s_zap_start (void)
{
    if (s_zap_actor)
        return 0;
    //  Bound here, so that a failure is the caller's error; handed to the
    //  actor's thread (thread creation is the barrier ZeroMQ asks for).
    zsock_t *zap = zsock_new (ZMQ_REP);
    if (!zap || zsock_bind (zap, ZAP_ENDPOINT) != 0) {
        zsock_destroy (&zap);
        return -1;
    }
    s_zap_actor = zactor_new (s_zap_main, zap);
    if (!s_zap_actor) {
        zsock_destroy (&zap);
        return -1;
    }
    return 0;
}

static int
s_zap_add (const char *domain, const char *dir, int roles, const char *log_name)
{
    if (!domain || !dir || strlen (domain) >= sizeof s_domains[0].domain || strlen (dir) >= PATH_MAX_LEN)
        return -1;
    int rc = -1;
    pthread_mutex_lock (&s_zap_lock);
    s_domain_t *free_slot = NULL;
    for (size_t i = 0; i < ZAP_DOMAINS; i++) {
        s_domain_t *d = &s_domains[i];
        if (d->refs && strcmp (d->domain, domain) == 0) {
            //  One folder per domain in a process.
            if (strcmp (d->dir, dir) == 0 && d->roles == roles) {
                d->refs++;
                rc = 0;
            }
            free_slot = NULL;
            goto done;
        }
        if (!d->refs && !free_slot)
            free_slot = d;
    }
    if (free_slot && s_zap_start () == 0) {
        memset (free_slot, 0, sizeof *free_slot);
        snprintf (free_slot->domain, sizeof free_slot->domain, "%s", domain);
        snprintf (free_slot->dir, sizeof free_slot->dir, "%s", dir);
        snprintf (free_slot->log_name, sizeof free_slot->log_name, "%s", log_name ? log_name : "bus");
        free_slot->roles = roles;
        free_slot->peers = roles ? bus_peers_new (dir) : NULL;
        if (!roles || free_slot->peers) {
            free_slot->refs = 1;
            rc = 0;
        }
    }
done:
    pthread_mutex_unlock (&s_zap_lock);
    return rc;
}

int
bus_zap_add_roles (const char *domain, const char *peers_dir)
{
    return s_zap_add (domain, peers_dir, 1, "bus");
}

int
bus_zap_add_folder (const char *domain, const char *dir, const char *log_name)
{
    return s_zap_add (domain, dir, 0, log_name);
}

void
bus_zap_release (const char *domain)
{
    zactor_t *stop = NULL;
    pthread_mutex_lock (&s_zap_lock);
    int live = 0;
    for (size_t i = 0; i < ZAP_DOMAINS; i++) {
        s_domain_t *d = &s_domains[i];
        if (d->refs && domain && strcmp (d->domain, domain) == 0 && --d->refs == 0)
            bus_peers_destroy (&d->peers);
        live += d->refs > 0;
    }
    if (!live) {
        stop = s_zap_actor;
        s_zap_actor = NULL;
    }
    pthread_mutex_unlock (&s_zap_lock);
    //  Outside the lock: the handler may be answering a handshake with it.
    zactor_destroy (&stop);
}

int
bus_curve_serve (bus_curve_t *self, zsock_t *sock)
{
    if (!bus_curve_enabled (self))
        return 0;
    //  The ZAP handler first: without one libzmq lets every CURVE client
    //  that knows our public key in (RFC 27: ZAP is optional). Enforcement
    //  is asked for too, but Debian's libzmq (no draft options) ignores it:
    //  the handler's own life (s_zap_main) is what keeps it answering.
    if (bus_zap_add_roles (BUS_ZAP_DOMAIN, self->peers) != 0)
        return -1;
    self->serving++;
    zsock_set_zap_domain (sock, BUS_ZAP_DOMAIN);
    zsock_set_zap_enforce_domain (sock, 1);
    zsock_set_curve_server (sock, 1);
    zcert_apply (self->cert, zsock_resolve (sock));
    return 0;
}

void
bus_curve_unserve (bus_curve_t *self)
{
    if (self && self->serving > 0) {
        self->serving--;
        bus_zap_release (BUS_ZAP_DOMAIN);
    }
}
