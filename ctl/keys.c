/*  ctl/keys - `ostiaryctl keys ...`: the operator's side of keys-svc's admin
 *  socket (proto/keys_admin.h), not of the bus.
 *
 *    ostiaryctl keys [OPTIONS] status
 *    ostiaryctl keys [OPTIONS] list
 *    ostiaryctl keys [OPTIONS] rotate [--alg ALG] [--now]
 *    ostiaryctl keys [OPTIONS] retire KID
 *    ostiaryctl keys [OPTIONS] rewrap        (new KEK: $OSTIARY_KEK_NEW or one line on stdin)
 *    ostiaryctl keys cert FILE               (a CURVE certificate: FILE and FILE_secret)
 *
 *  Exit codes: 0 done; 1 keys-svc answered with an error or did not answer;
 *  2 bad usage or input: an unknown command or option, a bad algorithm, an
 *  unknown kid, a malformed KEK. */
#include "b64url.h"
#include "bus_curve.h"
#include "config.h"
#include "ctl.h"
#include "jws.h"
#include "ops.h"
#include "proto/keys_admin.h"
#include "secure.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Default wait for an answer when --timeout is not given. A rotation
//  generates an RSA key; a rewrap decrypts and encrypts every stored key.
#define KEYS_DEFAULT_TIMEOUT_MS 10000
#define Z85_KEY_LEN 40
#define Z85_ZERO "0000000000000000000000000000000000000000"
//  A KEK line on stdin: 43 characters, a newline, and room to detect junk.
#define KEK_LINE_MAX 128

typedef struct {
    const ctl_opts_t *ctl;
    const char *admin;      //  --admin
    const char *cert;       //  --curve-cert: this client's certificate (with secret)
    const char *server_key; //  --server-key: the server's public key (Z85 or certificate file)
    int json;               //  --json
} s_opts_t;

typedef int (*s_cmd_fn) (const s_opts_t *opts, int argc, char **argv);

static int
s_usage (FILE *out)
{
    fprintf (out,
             "usage: ostiaryctl keys [OPTIONS] COMMAND [ARGS]\n"
             "\n"
             "commands (sent to keys-svc's admin socket):\n"
             "  status                   this replica's keyring: generation, signing keys, settings\n"
             "  list                     every key: kid, alg, state, created, activated, retire-after\n"
             "  rotate [--alg ALG]       planned rotation: a new key is published now and signs after\n"
             "                           OSTIARY_KEYS_PUBLISH_DELAY (all algorithms without --alg)\n"
             "  rotate [--alg ALG] --now emergency rotation (a compromised key): a new key signs at once,\n"
             "                           the old one leaves the JWKS at once and its tokens stop verifying\n"
             "  retire KID               retire a next or retiring key now\n"
             "  rewrap                   re-wrap every private key under a new key-encryption key, read\n"
             "                           from $OSTIARY_KEK_NEW or one line of standard input; then restart\n"
             "                           every keys-svc with it as OSTIARY_KEK\n"
             "local command:\n"
             "  cert FILE                make a CURVE certificate: FILE (public) and FILE_secret (0600)\n"
             "\n"
             "options:\n"
             "  --admin ENDPOINT    admin endpoint (default $OSTIARY_KEYS_ADMIN, else\n"
             "                      ipc://$OSTIARY_RUN_DIR/" KEYS_ADMIN_SOCKET_NAME ")\n"
             "  --curve-cert FILE   tcp:// only: this client's certificate, with its secret key\n"
             "                      (default $OSTIARY_KEYS_ADMIN_CURVE_CLIENT_CERT)\n"
             "  --server-key KEY    tcp:// only: keys-svc's public key, Z85 or its certificate file\n"
             "                      (default $OSTIARY_KEYS_ADMIN_CURVE_SERVER_KEY)\n"
             "  --json              print the answer as JSON\n"
             "\n");
    ctl_print_exit_codes (out);
    return CTL_USAGE;
}

static void s_say (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_say (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "ostiaryctl: keys: ");
    vfprintf (stderr, fmt, ap);
    fprintf (stderr, "\n");
    va_end (ap);
}

//  ---------------------------------------------------------------- endpoint

//  The admin endpoint keys-svc uses with the same environment: the same
//  defaults (config.def) and the same rule (proto/keys_admin.h).
static int
s_endpoint (const s_opts_t *opts, char *out, size_t size)
{
    if (opts->admin) {
        snprintf (out, size, "%s", opts->admin);
        return 0;
    }
    config_t *cfg = config_new ();
    if (!cfg)
        return -1;
    const char *why = NULL;
    const char *admin = getenv ("OSTIARY_KEYS_ADMIN");
    const char *run_dir = getenv ("OSTIARY_RUN_DIR");
    int rc = 0;
    if ((admin && config_set (cfg, "OSTIARY_KEYS_ADMIN", admin, &why) != 0) ||
        (run_dir && config_set (cfg, "OSTIARY_RUN_DIR", run_dir, &why) != 0)) {
        s_say ("OSTIARY_KEYS_ADMIN or OSTIARY_RUN_DIR: %s", why);
        rc = -1;
    } else if (*cfg->keys_admin)
        snprintf (out, size, "%s", cfg->keys_admin);
    else if (keys_admin_default_endpoint (cfg->run_dir, out, size) != 0) {
        s_say ("OSTIARY_RUN_DIR is too long");
        rc = -1;
    }
    config_destroy (&cfg);
    return rc;
}

static int
s_z85_key (const char *text)
{
    static const char alphabet[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    return strlen (text) == Z85_KEY_LEN && strspn (text, alphabet) == Z85_KEY_LEN &&
           strcmp (text, Z85_ZERO) != 0;
}

//  CURVE for a tcp:// endpoint: our certificate and the server's key.
//  CTL_OK, or CTL_USAGE after saying what is missing.
static int
s_curve (const s_opts_t *opts, zsock_t *sock, zcert_t **cert_p)
{
    const char *cert_path = opts->cert ? opts->cert : getenv ("OSTIARY_KEYS_ADMIN_CURVE_CLIENT_CERT");
    const char *server = opts->server_key ? opts->server_key : getenv ("OSTIARY_KEYS_ADMIN_CURVE_SERVER_KEY");
    if (!cert_path || !*cert_path || !server || !*server) {
        s_say ("a tcp:// admin endpoint needs CURVE: give --curve-cert FILE (this client's certificate) and "
               "--server-key KEY (keys-svc's public key), or set OSTIARY_KEYS_ADMIN_CURVE_CLIENT_CERT and "
               "OSTIARY_KEYS_ADMIN_CURVE_SERVER_KEY");
        return CTL_USAGE;
    }
    *cert_p = zcert_load (cert_path);
    if (!*cert_p || strcmp (zcert_secret_txt (*cert_p), Z85_ZERO) == 0) {
        s_say ("%s is not a CURVE certificate with a secret key (make one with `ostiaryctl keys cert FILE`)",
               cert_path);
        return CTL_USAGE;
    }
    char key[Z85_KEY_LEN + 1] = "";
    struct stat st;
    if (stat (server, &st) == 0) {
        zcert_t *server_cert = zcert_load (server);
        if (server_cert)
            snprintf (key, sizeof key, "%s", zcert_public_txt (server_cert));
        bus_cert_destroy (&server_cert);
    } else
        snprintf (key, sizeof key, "%s", server);
    if (!s_z85_key (key)) {
        s_say ("the server key must be keys-svc's public key: 40 Z85 characters, or its certificate file");
        return CTL_USAGE;
    }
    zcert_apply (*cert_p, zsock_resolve (sock));
    zsock_set_curve_serverkey (sock, key);
    return CTL_OK;
}

//  ---------------------------------------------------------------- one call

//  Sends {command, args} and waits for the answer. CTL_OK with *result (the
//  "ok" member, caller decrefs); CTL_USAGE for an answer that says the
//  request was wrong (invalid_request, not_found, unknown_op) or bad local
//  settings; CTL_ERROR_REPLY for any other error, no answer or a refusal.
//  The shape of each admin command's result (proto/keys_admin.h); NULL for
//  a name that is not an admin command.
static const schema_t *
s_result_shape (const char *command)
{
    static const struct {
        const char *name;
        const schema_t *shape;
    } shapes[] = {
#define KEYS_ADMIN_CMD(name, args, result, summary) {#name, &schema_shape_keys_admin_##result},
        KEYS_ADMIN_COMMANDS
#undef KEYS_ADMIN_CMD
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp (shapes[i].name, command) == 0)
            return shapes[i].shape;
    return NULL;
}

static int
s_call (const s_opts_t *opts, const char *command, const json_t *args, json_t **result)
{
    *result = NULL;
    char endpoint[512];
    if (s_endpoint (opts, endpoint, sizeof endpoint) != 0)
        return CTL_USAGE;
    if (strcmp (endpoint, "none") == 0) {
        s_say ("the admin socket is off (OSTIARY_KEYS_ADMIN=none)");
        return CTL_USAGE;
    }
    int tcp = strncmp (endpoint, "tcp://", 6) == 0;
    if (!tcp && strncmp (endpoint, "ipc://", 6) != 0) {
        s_say ("the admin endpoint must be ipc://PATH or tcp://HOST:PORT");
        return CTL_USAGE;
    }
    if (!tcp) {
        //  A REQ socket would wait for a listener forever; say at once that
        //  there is none, or that we may not use it.
        struct stat st;
        if (stat (endpoint + 6, &st) != 0 || !S_ISSOCK (st.st_mode)) {
            s_say ("no keys-svc admin socket at %s (is keys-svc running with the same OSTIARY_RUN_DIR or "
                   "OSTIARY_KEYS_ADMIN?)",
                   endpoint + 6);
            return CTL_UNREACHABLE;
        }
        if (access (endpoint + 6, W_OK) != 0) {
            s_say ("%s: permission denied (the admin socket belongs to keys-svc's user)", endpoint + 6);
            return CTL_ERROR_REPLY;
        }
    }
    json_t *request = json_pack ("{s:s, s:O}", "command", command, "args", args);
    char *text = request ? json_dumps (request, JSON_COMPACT) : NULL;
    //  The request may hold a new KEK (rewrap): wipe it from our copies.
    json_t *kek = json_object_get (args, "kek");
    json_decref (request);
    if (!text)
        return CTL_ERROR_REPLY;
    zsock_t *sock = zsock_new (ZMQ_REQ);
    zcert_t *cert = NULL;
    zactor_t *monitor = NULL;
    zpoller_t *poller = NULL;
    int rc = CTL_ERROR_REPLY;
    if (!sock)
        goto done;
    zsock_set_linger (sock, 0);
    zsock_set_maxmsgsize (sock, KEYS_ADMIN_MAX_MSG);
    if (tcp) {
        rc = s_curve (opts, sock, &cert);
        if (rc != CTL_OK)
            goto done;
        rc = CTL_ERROR_REPLY;
        //  A refused handshake is an event on the socket, not an error of
        //  send or receive: watch for it to say so rather than time out.
        monitor = zactor_new (zmonitor, sock);
        if (monitor) {
            zstr_sendx (monitor, "LISTEN", "HANDSHAKE_FAILED_AUTH", "HANDSHAKE_FAILED_PROTOCOL",
                        "HANDSHAKE_FAILED_NO_DETAIL", NULL);
            zstr_send (monitor, "START");
            zsock_wait (monitor);
        }
    }
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        s_say ("cannot connect to %s", endpoint);
        rc = CTL_USAGE;
        goto done;
    }
    if (zstr_send (sock, text) != 0) {
        s_say ("cannot send to %s", endpoint);
        goto done;
    }
    long timeout = opts->ctl->timeout_ms > 0 ? opts->ctl->timeout_ms : KEYS_DEFAULT_TIMEOUT_MS;
    poller = zpoller_new (sock, NULL);
    if (monitor)
        zpoller_add (poller, monitor);
    void *which = zpoller_wait (poller, (int)timeout);
    if (which && which == monitor) {
        char *event = zstr_recv (monitor);
        s_say (
            "%s refused this client (%s): is its certificate in keys-svc's OSTIARY_KEYS_ADMIN_CURVE_CLIENTS, "
            "and is the server key right?",
            endpoint, event ? event : "handshake failed");
        zstr_free (&event);
        goto done;
    }
    if (which != sock) {
        s_say ("no answer from %s within %ld ms (keys-svc not running, busy, or refusing this client)",
               endpoint, timeout);
        rc = CTL_UNREACHABLE;
        goto done;
    }
    char *answer = zstr_recv (sock);
    json_error_t jerr;
    json_t *reply = answer ? json_loads (answer, 0, &jerr) : NULL;
    zstr_free (&answer);
    shape_keys_admin_reply_t got;
    shape_keys_admin_error_t error;
    const schema_t *shape = s_result_shape (command);
    char why[SCHEMA_WHY_MAX] = "not a JSON object";
    if (!reply || shape_keys_admin_reply_unpack (reply, &got, why, sizeof why) != 0 || !got.ok == !got.error)
        s_say ("malformed answer from %s: %s", endpoint, got.ok && got.error ? "both ok and error" : why);
    else if (got.error) {
        shape_keys_admin_error_unpack (got.error, &error, NULL, 0);
        s_say ("%s: %s (%s)", command, error.description[0] ? error.description : "failed", error.code);
        //  keys-svc refused the request (ctl.h's exit code table).
        rc = CTL_ERROR_REPLY;
    } else if (!shape || schema_unpack (shape, got.ok, NULL, why, sizeof why) != 0)
        s_say ("malformed answer from %s to %s: %s", endpoint, command, shape ? why : "no shape");
    else {
        *result = json_incref ((json_t *)got.ok);
        rc = CTL_OK;
    }
    json_decref (reply);
done:
    if (json_is_string (kek))
        secure_wipe (text, strlen (text));
    free (text);
    zpoller_destroy (&poller);
    zactor_destroy (&monitor);
    zsock_destroy (&sock);
    bus_cert_destroy (&cert);
    return rc;
}

//  A printer reads a result through its command's shape (s_call checked it
//  already), prints it when print is set, and returns its warning or NULL.
typedef const char *(*s_print_fn) (const json_t *result, int print);

//  Calls, then prints: JSON with --json, else through print. A warning
//  always goes to stderr: it says what a command cost.
static int
s_run (const s_opts_t *opts, const char *command, json_t *args, s_print_fn print)
{
    json_t *result = NULL;
    int rc = args ? s_call (opts, command, args, &result) : CTL_ERROR_REPLY;
    json_decref (args);
    if (rc != CTL_OK)
        return rc;
    if (opts->json)
        ctl_print_json (result);
    const char *warning = print (result, !opts->json);
    if (warning)
        fprintf (stderr, "ostiaryctl: warning: %s\n", warning);
    json_decref (result);
    return CTL_OK;
}

//  ---------------------------------------------------------------- printers

static const char *
s_or_dash (const char *s)
{
    return s ? s : "-";
}

static const char *
s_print_status (const json_t *result, int print)
{
    shape_keys_admin_status_t r;
    shape_keys_admin_settings_t settings;
    if (!print || shape_keys_admin_status_unpack (result, &r, NULL, 0) != 0 ||
        shape_keys_admin_settings_unpack (r.settings, &settings, NULL, 0) != 0)
        return NULL;
    printf ("replica      %s\n", r.replica);
    printf ("admin        %s\n", r.admin);
    if (r.has_stored_generation)
        printf ("generation   %lld (stored: %lld)\n", (long long)r.generation,
                (long long)r.stored_generation);
    else
        printf ("generation   %lld (stored: unreadable)\n", (long long)r.generation);
    printf ("signing      ");
    size_t i;
    json_t *v;
    json_array_foreach (r.signing_algs, i, v) printf ("%s%s", i ? " " : "", json_string_value (v));
    printf ("\nkek          %s\n", !r.has_kek_current ? "unknown"
                                   : r.kek_current    ? "current"
                                                      : "STALE: restart with the new KEK");
    printf ("settings     publish delay %lld s, token lifetime max %lld s, rotation %lld days, jwks max-age "
            "%lld s\n",
            (long long)settings.publish_delay, (long long)settings.token_lifetime_max,
            (long long)settings.rotate_days, (long long)settings.jwks_max_age);
    printf ("keys held:\n");
    json_array_foreach (r.keys, i, v)
    {
        shape_keys_admin_held_t k;
        if (shape_keys_admin_held_unpack (v, &k, NULL, 0) == 0)
            printf ("  %-44s %-6s %s\n", k.kid, k.alg, k.state);
    }
    return NULL;
}

static const char *
s_print_list (const json_t *result, int print)
{
    shape_keys_admin_list_t r;
    if (!print || shape_keys_admin_list_unpack (result, &r, NULL, 0) != 0)
        return NULL;
    printf ("%-44s %-6s %-9s %-24s %-24s %s\n", "KID", "ALG", "STATE", "CREATED", "ACTIVATED",
            "RETIRE-AFTER");
    size_t i;
    json_t *v;
    json_array_foreach (r.keys, i, v)
    {
        shape_keys_admin_key_t k;
        if (shape_keys_admin_key_unpack (v, &k, NULL, 0) != 0)
            continue;
        //  A next key has not signed yet: show when it will.
        char activated[40];
        if (strcmp (k.state, "next") == 0)
            snprintf (activated, sizeof activated, "(%s)", s_or_dash (k.activate_after));
        else
            snprintf (activated, sizeof activated, "%s", s_or_dash (k.activated));
        printf ("%-44s %-6s %-9s %-24s %-24s %s\n", k.kid, k.alg, k.state, k.created, activated,
                s_or_dash (k.retire_after));
    }
    return NULL;
}

static const char *
s_print_rotate (const json_t *result, int print)
{
    shape_keys_admin_rotate_result_t r;
    if (shape_keys_admin_rotate_result_unpack (result, &r, NULL, 0) != 0)
        return NULL;
    size_t i;
    json_t *v;
    json_array_foreach (r.keys, i, v)
    {
        shape_keys_admin_rotated_t k;
        if (!print || shape_keys_admin_rotated_unpack (v, &k, NULL, 0) != 0)
            continue;
        if (r.emergency)
            printf ("%s: new key %s signs now; retired at once: %s%s%s\n", k.alg, k.kid,
                    s_or_dash (k.retired), k.discarded ? ", discarded pending " : "",
                    k.discarded ? k.discarded : "");
        else if (k.created)
            printf ("%s: new key %s is published now and signs in %lld s\n", k.alg, k.kid,
                    (long long)k.activate_in);
        else
            printf ("%s: key %s is already pending; it signs in %lld s\n", k.alg, k.kid,
                    (long long)k.activate_in);
    }
    return r.warning;
}

static const char *
s_print_retire (const json_t *result, int print)
{
    shape_keys_admin_retire_result_t r;
    if (shape_keys_admin_retire_result_unpack (result, &r, NULL, 0) != 0)
        return NULL;
    if (print && r.changed)
        printf ("%s key %s: %s -> retired (removed from the JWKS, private part destroyed)\n", r.alg, r.kid,
                r.from);
    else if (print)
        printf ("%s key %s was retired already\n", r.alg, r.kid);
    return r.warning;
}

static const char *
s_print_rewrap (const json_t *result, int print)
{
    shape_keys_admin_rewrap_result_t r;
    if (print && shape_keys_admin_rewrap_result_unpack (result, &r, NULL, 0) == 0)
        printf ("re-wrapped %lld private keys under the new key-encryption key\nnext: %s\n",
                (long long)r.rewrapped, r.next_step);
    return NULL;
}

//  ---------------------------------------------------------------- commands

static int
s_no_args (int argc, const char *name)
{
    if (argc != 1) {
        s_say ("%s takes no arguments", name);
        return -1;
    }
    return 0;
}

static int
s_cmd_status (const s_opts_t *opts, int argc, char **argv)
{
    OST_UNUSED (argv);
    if (s_no_args (argc, "status") != 0)
        return CTL_USAGE;
    return s_run (opts, "status", json_object (), s_print_status);
}

static int
s_cmd_list (const s_opts_t *opts, int argc, char **argv)
{
    OST_UNUSED (argv);
    if (s_no_args (argc, "list") != 0)
        return CTL_USAGE;
    return s_run (opts, "list", json_object (), s_print_list);
}

static int
s_cmd_rotate (const s_opts_t *opts, int argc, char **argv)
{
    const char *alg = NULL;
    int now = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--alg") == 0 && i + 1 < argc && !alg)
            alg = argv[++i];
        else if (strcmp (argv[i], "--now") == 0 && !now)
            now = 1;
        else {
            s_say ("rotate takes [--alg ALG] [--now], not %s", argv[i]);
            return CTL_USAGE;
        }
    }
    //  RFC 7515 §4.1.1: algorithm names are case-sensitive.
    jws_alg_t parsed = alg ? jws_alg_parse (alg) : JWS_ALG_NONE;
    if (alg && (parsed == JWS_ALG_NONE || strcmp (jws_alg_name (parsed), alg) != 0)) {
        s_say ("unknown algorithm \"%s\": use RS256, ES256 or EdDSA", alg);
        return CTL_USAGE;
    }
    json_t *args = json_pack ("{s:b}", "now", now);
    if (args && alg)
        json_object_set_new (args, "alg", json_string (alg));
    return s_run (opts, "rotate", args, s_print_rotate);
}

static int
s_cmd_retire (const s_opts_t *opts, int argc, char **argv)
{
    if (argc != 2) {
        s_say ("retire takes the kid of one key (see `ostiaryctl keys list`)");
        return CTL_USAGE;
    }
    //  Kids are RFC 7638 thumbprints: base64url. Anything else names no key.
    const char *kid = argv[1];
    size_t len = strlen (kid);
    if (len == 0 || len > 63 ||
        strspn (kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len) {
        s_say ("unknown kid: a kid is 1 to 63 base64url characters (see `ostiaryctl keys list`)");
        return CTL_USAGE;
    }
    return s_run (opts, "retire", json_pack ("{s:s}", "kid", kid), s_print_retire);
}

//  The new KEK: $OSTIARY_KEK_NEW, else one line of standard input. Never
//  from the command line, where every user can read it in ps. Newly
//  allocated (secure_free_str), or NULL after saying why.
static char *
s_new_kek (void)
{
    char line[KEK_LINE_MAX];
    const char *env = getenv ("OSTIARY_KEK_NEW");
    if (env && *env)
        snprintf (line, sizeof line, "%s", env);
    else {
        if (isatty (STDIN_FILENO))
            fprintf (stderr, "new key-encryption key (43 base64url characters): ");
        if (!fgets (line, sizeof line, stdin))
            line[0] = '\0';
        line[strcspn (line, "\r\n")] = '\0';
    }
    unsigned char raw[33];
    long n = b64url_decode (line, strlen (line), raw, sizeof raw);
    secure_wipe (raw, sizeof raw);
    char *kek = n == 32 ? strdup (line) : NULL;
    secure_wipe (line, sizeof line);
    if (n != 32)
        s_say ("the new key-encryption key must be 32 bytes encoded as base64url without padding (43 "
               "characters), in $OSTIARY_KEK_NEW or on standard input");
    return kek;
}

static int
s_cmd_rewrap (const s_opts_t *opts, int argc, char **argv)
{
    OST_UNUSED (argv);
    if (s_no_args (argc, "rewrap") != 0)
        return CTL_USAGE;
    char *kek = s_new_kek ();
    if (!kek)
        return CTL_USAGE;
    json_t *args = json_object ();
    json_t *value = json_string (kek);
    secure_free_str (&kek);
    if (!args || !value || json_object_set (args, "kek", value) != 0) {
        json_decref (value);
        json_decref (args);
        return CTL_ERROR_REPLY;
    }
    json_t *result = NULL;
    int rc = s_call (opts, "rewrap", args, &result);
    //  jansson's copy of the key, wiped before it is freed.
    secure_wipe ((char *)json_string_value (value), json_string_length (value));
    json_decref (value);
    json_decref (args);
    if (rc == CTL_OK) {
        if (opts->json)
            ctl_print_json (result);
        s_print_rewrap (result, !opts->json);
    }
    json_decref (result);
    return rc;
}

static int
s_cmd_cert (const s_opts_t *opts, int argc, char **argv)
{
    OST_UNUSED (opts);
    if (argc != 2) {
        s_say ("cert takes the file to write");
        return CTL_USAGE;
    }
    const char *path = argv[1];
    char secret[4096];
    if (snprintf (secret, sizeof secret, "%s_secret", path) >= (int)sizeof secret) {
        s_say ("the file name is too long");
        return CTL_USAGE;
    }
    if (access (path, F_OK) == 0 || access (secret, F_OK) == 0) {
        s_say ("%s or %s exists already: not overwriting a certificate", path, secret);
        return CTL_USAGE;
    }
    zcert_t *cert = zcert_new ();
    if (!cert)
        return CTL_ERROR_REPLY;
    zcert_set_meta (cert, "created-by", "ostiaryctl keys cert");
    //  The secret file is created 0600; the public one is then opened up.
    mode_t old = umask (077);
    int rc = zcert_save (cert, path);
    umask (old);
    if (rc != 0 || chmod (path, 0644) != 0) {
        s_say ("cannot write %s: %s", path, strerror (errno));
        bus_cert_destroy (&cert);
        return CTL_ERROR_REPLY;
    }
    printf ("%s\n", zcert_public_txt (cert));
    bus_cert_destroy (&cert);
    return CTL_OK;
}

//  The admin commands of proto/keys_admin.h (each has its s_cmd_ here), then
//  the local ones.
static const struct {
    const char *name;
    s_cmd_fn fn;
} s_commands[] = {
#define KEYS_ADMIN_CMD(name, args, result, summary) {#name, s_cmd_##name},
    KEYS_ADMIN_COMMANDS
#undef KEYS_ADMIN_CMD
    {"cert", s_cmd_cert},
};

static s_cmd_fn
s_handler (const char *name)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp (s_commands[i].name, name) == 0)
            return s_commands[i].fn;
    return NULL;
}

int
ctl_keys (const ctl_opts_t *ctl, int argc, char **argv)
{
    s_opts_t opts = {ctl, NULL, NULL, NULL, 0};
    //  Options may come before or after the command; the command's own
    //  words keep their order.
    char **words = calloc ((size_t)argc + 1, sizeof *words);
    if (!words)
        return CTL_ERROR_REPLY;
    int nwords = 0;
    int rc = CTL_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp (a, "--help") == 0) {
            s_usage (stdout);
            rc = CTL_OK;
            goto done;
        } else if (strcmp (a, CTL_LIST_COMMANDS) == 0) {
            for (size_t k = 0; k < sizeof s_commands / sizeof s_commands[0]; k++)
                printf ("%s\n", s_commands[k].name);
            rc = CTL_OK;
            goto done;
        } else if (strcmp (a, "--json") == 0)
            opts.json = 1;
        else if (strcmp (a, "--admin") == 0 && i + 1 < argc)
            opts.admin = argv[++i];
        else if (strcmp (a, "--curve-cert") == 0 && i + 1 < argc)
            opts.cert = argv[++i];
        else if (strcmp (a, "--server-key") == 0 && i + 1 < argc)
            opts.server_key = argv[++i];
        else if (strncmp (a, "--", 2) == 0 && nwords == 0) {
            s_say ("unknown option %s", a);
            s_usage (stderr);
            goto done;
        } else
            words[nwords++] = argv[i];
    }
    if (nwords == 0) {
        s_usage (stderr);
        goto done;
    }
    s_cmd_fn fn = s_handler (words[0]);
    if (!fn) {
        s_say ("unknown command %s", words[0]);
        s_usage (stderr);
        goto done;
    }
    rc = fn (&opts, nwords, words);
done:
    free (words);
    return rc;
}
