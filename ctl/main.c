/*  ostiaryctl - the operator's (and the tests') way onto the bus, like
 *  redis-cli: sends one op with a JSON body and prints the reply.
 *
 *    ostiaryctl [--bus ENDPOINT] [--timeout MS] call OP [JSON | -]
 *    ostiaryctl [--bus ENDPOINT] [--timeout MS] ready SERVICE
 *
 *  Exit codes: 0 success, 1 the service answered with an error (printed as
 *  OAuth-style JSON on stdout), 2 bad usage or bad input. */
#include "bus_client.h"
#include "bus_msg.h"
#include "ctl.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Largest JSON body read from the command line or standard input.
#define CTL_MAX_INPUT (1024 * 1024)

static int
s_usage (FILE *out)
{
    fprintf (out, "usage: ostiaryctl [--bus ENDPOINT] [--timeout MS] call OP [JSON | -]\n"
                  "       ostiaryctl [--bus ENDPOINT] [--timeout MS] ready SERVICE\n"
                  "       ostiaryctl ops [--json]\n"
                  "       ostiaryctl clients add|list|show|remove|rotate-secret ...   (clients --help)\n"
                  "       ostiaryctl users add|list|show|passwd|disable|unlock ...    (users --help)\n"
                  "       ostiaryctl keys status|list|rotate|retire|rewrap ...        (keys --help)\n"
                  "       ostiaryctl settings list|get|set|reset ...                (settings --help)\n"
                  "       ostiaryctl audit list|tail ...                             (audit --help)\n"
                  "       ostiaryctl bus keygen DIR                                  (bus --help)\n"
                  "\n"
                  "  call   sends OP (see `ostiaryctl ops`) with a JSON object body (default {},\n"
                  "         - reads it from standard input) and prints the result as JSON\n"
                  "  ready  exits 0 when SERVICE has at least one live worker\n"
                  "  ops    lists the operations of proto/ops.def and the roles that may call each\n"
                  "         (proto/access.def)\n"
                  "\n"
                  "  --bus      broker endpoint (default $OSTIARY_BUS_ENDPOINT or tcp://127.0.0.1:5555)\n"
                  "  --timeout  deadline in milliseconds (default: the op's own)\n"
                  "\n"
                  "The bus uses CURVE: $OSTIARY_BUS_CERT names this tool's certificate (its role is the\n"
                  "folder of $OSTIARY_BUS_PEERS that holds its public key, admin for operators) and\n"
                  "$OSTIARY_BUS_PEERS the folder of the role folders (the broker's key is in gateway/).\n"
                  "OSTIARY_BUS_CURVE=0 talks plain ZeroMQ to a development set-up without CURVE.\n"
                  "When none of OSTIARY_BUS_ENDPOINT, OSTIARY_BUS_CERT, OSTIARY_BUS_PEERS, OSTIARY_RUN_DIR\n"
                  "and OSTIARY_KEYS_ADMIN is set, the ones `make run` wrote to ../run/ostiaryctl.env\n"
                  "(beside the folder of this program) are used: build/rel/bin/ostiaryctl finds the\n"
                  "suite of `make run` by itself.\n"
                  "\n"
                  "\n");
    ctl_print_exit_codes (out);
    return 2;
}

static char *
s_read_stdin (void)
{
    char *buf = malloc (CTL_MAX_INPUT + 1);
    if (!buf)
        return NULL;
    size_t len = fread (buf, 1, CTL_MAX_INPUT + 1, stdin);
    if (len > CTL_MAX_INPUT) {
        free (buf);
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

static int
s_print_error (const bus_error_t *error)
{
    json_t *out = json_pack ("{s:s,s:s}", "error", error->code, "error_description", error->description);
    char *text = out ? json_dumps (out, JSON_SORT_KEYS) : NULL;
    if (text)
        printf ("%s\n", text);
    fprintf (stderr, "ostiaryctl: %s: %s\n", error->code, error->description);
    free (text);
    json_decref (out);
    return ctl_exit_for (error);
}

int
ctl_exit_for (const bus_error_t *error)
{
    if (error && (error->err == OST_ERR_TEMPORARILY_UNAVAILABLE || error->err == OST_ERR_DEADLINE_EXCEEDED))
        return CTL_UNREACHABLE;
    return CTL_ERROR_REPLY;
}

void
ctl_print_exit_codes (FILE *out)
{
    fprintf (out, "exit codes (the same for every command):\n");
#define CTL_EXIT_LINE(name, code, meaning) fprintf (out, "  %d  %s\n", code, meaning);
    CTL_EXIT_CODES (CTL_EXIT_LINE)
#undef CTL_EXIT_LINE
}

void
ctl_print_json (const json_t *value)
{
    char *out = json_dumps (value, JSON_INDENT (2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    printf ("%s\n", out ? out : "null");
    free (out);
}

//  The CURVE set-up, loaded by the first bus client and kept to the end.
static bus_curve_t *s_curve;

static void
s_curve_free (void)
{
    bus_curve_destroy (&s_curve);
}

bus_client_t *
ctl_bus_client (const ctl_opts_t *opts)
{
    if (!s_curve) {
        const char *flag = getenv ("OSTIARY_BUS_CURVE");
        int enabled = !(flag && strcmp (flag, "0") == 0);
        const char *why = NULL;
        if (!enabled && strcmp (getenv ("OSTIARY_MODE") ? getenv ("OSTIARY_MODE") : "", "production") == 0) {
            fprintf (stderr, "ostiaryctl: OSTIARY_BUS_CURVE=0 is refused in production mode\n");
            return NULL;
        }
        s_curve = bus_curve_new (enabled, getenv ("OSTIARY_BUS_CERT"), getenv ("OSTIARY_BUS_PEERS"), &why);
        if (!s_curve) {
            fprintf (stderr, "ostiaryctl: %s\n", why);
            return NULL;
        }
        atexit (s_curve_free);
    }
    bus_client_t *client = bus_client_new (opts->bus, 0, s_curve);
    if (!client)
        fprintf (stderr, "ostiaryctl: cannot use bus endpoint %s\n", opts->bus);
    return client;
}

int
ctl_bus_call (const ctl_opts_t *opts, const char *op, const json_t *body, json_t **result, bus_error_t *error)
{
    *result = NULL;
    bus_client_t *client = ctl_bus_client (opts);
    if (!client)
        return CTL_USAGE;
    int rc = bus_client_call (client, op, body, (int)opts->timeout_ms, result, error);
    bus_client_destroy (&client);
    //  Whichever command asked, the same hint (besides its own message).
    if (rc && error && error->err == OST_ERR_FORBIDDEN)
        fprintf (stderr,
                 "ostiaryctl: the role of the key in OSTIARY_BUS_CERT may not call %s (the roles of each op: "
                 "`ostiaryctl ops`; operators use the admin key)\n",
                 op);
    return rc ? CTL_ERROR_REPLY : CTL_OK;
}

int
ctl_call (const ctl_opts_t *opts, const char *op, const json_t *body, json_t **result)
{
    bus_error_t error;
    int rc = ctl_bus_call (opts, op, body, result, &error);
    return rc == CTL_ERROR_REPLY ? s_print_error (&error) : rc;
}

int
ctl_call_family (const ctl_opts_t *opts, const char *family, const char *op, const json_t *body,
                 json_t **result)
{
    bus_error_t error;
    int rc = ctl_bus_call (opts, op, body, result, &error);
    if (rc != CTL_ERROR_REPLY)
        return rc;
    fprintf (stderr, "ostiaryctl: %s: %s (%s)\n", family, error.description, error.code);
    return ctl_exit_for (&error);
}

int
ctl_unpacked (const char *op, int unpacked, const char *why)
{
    if (unpacked == 0)
        return CTL_OK;
    log_error ("%s answered a result outside proto/ops.def: %s", op, why);
    fprintf (stderr, "ostiaryctl: %s: server_error: the answer does not fit the op's result\n", op);
    return CTL_ERROR_REPLY;
}

int
ctl_utf8 (const char *text)
{
    json_t *s = json_string (text);
    int ok = s != NULL;
    json_decref (s);
    return ok;
}

int
ctl_dispatch (const ctl_opts_t *opts, const char *family, const ctl_subcmd_t *cmds, size_t ncmds,
              int (*usage) (FILE *out), int argc, char **argv)
{
    if (argc < 2)
        return usage (stderr);
    if (!strcmp (argv[1], CTL_LIST_COMMANDS)) {
        for (size_t k = 0; k < ncmds; k++)
            printf ("%s\n", cmds[k].name);
        return CTL_OK;
    }
    if (!strcmp (argv[1], "--help") || !strcmp (argv[1], "help")) {
        usage (stdout);
        return CTL_OK;
    }
    for (size_t k = 0; k < ncmds; k++)
        if (!strcmp (argv[1], cmds[k].name))
            return cmds[k].fn (opts, argc - 1, argv + 1);
    fprintf (stderr, "ostiaryctl: %s: unknown command %s\n", family, argv[1]);
    return usage (stderr);
}

int
ctl_bad (const char *family, const char *what, const char *detail)
{
    fprintf (stderr, "ostiaryctl: %s: %s%s%s\n", family, what, detail ? ": " : "", detail ? detail : "");
    return CTL_USAGE;
}

static int
s_cmd_ops (const ctl_opts_t *opts, int argc, char **argv)
{
    (void)opts;
    int as_json = argc == 2 && strcmp (argv[1], "--json") == 0;
    if (argc != 1 && !as_json)
        return s_usage (stderr);
    if (as_json) {
        json_t *all = json_array ();
        for (size_t k = 0; all && k < proto_op_count (); k++) {
            const op_def_t *op = proto_op_at (k);
            json_t *roles = json_array ();
            unsigned allowed = proto_op_roles (op->name);
            for (size_t r = 0; roles && r < proto_role_count (); r++)
                if (allowed & proto_role_at (r))
                    json_array_append_new (roles, json_string (proto_role_name (proto_role_at (r))));
            json_array_append_new (
                all, json_pack ("{s:s,s:s,s:s,s:I,s:i,s:o}", "op", op->name, "service", op->service, "kind",
                                op->kind == OP_READ ? "READ" : "WRITE", "max_body", (json_int_t)op->max_body,
                                "timeout_ms", op->timeout_ms, "roles", roles ? roles : json_array ()));
        }
        if (!all)
            return CTL_ERROR_REPLY;
        ctl_print_json (all);
        json_decref (all);
        return CTL_OK;
    }
    for (size_t k = 0; k < proto_op_count (); k++) {
        const op_def_t *op = proto_op_at (k);
        char roles[64] = "";
        unsigned allowed = proto_op_roles (op->name);
        for (size_t r = 0; r < proto_role_count (); r++)
            if (allowed & proto_role_at (r))
                snprintf (roles + strlen (roles), sizeof roles - strlen (roles), "%s%s", roles[0] ? "," : "",
                          proto_role_name (proto_role_at (r)));
        printf ("%-28s %-6s %-5s max body %-6zu timeout %-5d roles %s\n", op->name, op->service,
                op->kind == OP_READ ? "READ" : "WRITE", op->max_body, op->timeout_ms, roles);
    }
    return CTL_OK;
}

static int
s_cmd_ready (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc != 2)
        return s_usage (stderr);
    if (!proto_valid_service (argv[1])) {
        fprintf (stderr, "ostiaryctl: invalid service name\n");
        return CTL_USAGE;
    }
    bus_client_t *client = ctl_bus_client (opts);
    if (!client)
        return CTL_USAGE;
    int ready =
        bus_client_service_ready (client, argv[1], opts->timeout_ms > 0 ? (int)opts->timeout_ms : 2000);
    bus_client_destroy (&client);
    printf ("%s\n", ready == 1 ? "ready" : ready == 0 ? "not ready" : "no answer from the broker");
    return ready == 1 ? CTL_OK : ready == 0 ? CTL_ERROR_REPLY : CTL_UNREACHABLE;
}

static int
s_cmd_call (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        return s_usage (stderr);
    const char *op = argv[1];
    if (!proto_op (op)) {
        fprintf (stderr, "ostiaryctl: unknown operation %s (see `ostiaryctl ops`)\n", op);
        return CTL_USAGE;
    }
    char *input = NULL;
    const char *text = "{}";
    if (argc == 3) {
        if (strcmp (argv[2], "-") == 0) {
            input = s_read_stdin ();
            if (!input) {
                fprintf (stderr, "ostiaryctl: standard input is larger than %d bytes\n", CTL_MAX_INPUT);
                return CTL_USAGE;
            }
            text = input;
        } else
            text = argv[2];
    }
    if (strlen (text) > CTL_MAX_INPUT) {
        fprintf (stderr, "ostiaryctl: the JSON body is larger than %d bytes\n", CTL_MAX_INPUT);
        free (input);
        return CTL_USAGE;
    }
    json_error_t jerr;
    json_t *body = json_loads (text, JSON_REJECT_DUPLICATES, &jerr);
    free (input);
    if (!json_is_object (body)) {
        fprintf (stderr, "ostiaryctl: the body must be a JSON object (%s)\n",
                 body ? "not an object" : jerr.text);
        json_decref (body);
        return CTL_USAGE;
    }
    json_t *result = NULL;
    int rc = ctl_call (opts, op, body, &result);
    json_decref (body);
    if (rc == CTL_OK)
        ctl_print_json (result);
    json_decref (result);
    return rc;
}

//  The command table: one line per command family.
static const ctl_command_t s_commands[] = {
    {"call", s_cmd_call, 0},       {"ready", s_cmd_ready, 0}, {"ops", s_cmd_ops, 0},
    {"keys", ctl_keys, 1},         {"users", ctl_users, 1},   {"clients", ctl_clients, 1},
    {"settings", ctl_settings, 1}, {"bus", ctl_bus, 1},       {"audit", ctl_audit, 1},
};

//  The settings a run names and ostiaryctl uses: when the environment sets
//  none of them, it names no suite, and the run this binary was built for
//  (below) is the one meant.
static const char *const s_run_vars[] = {"OSTIARY_BUS_ENDPOINT", "OSTIARY_BUS_CERT", "OSTIARY_BUS_PEERS",
                                         "OSTIARY_RUN_DIR", "OSTIARY_KEYS_ADMIN"};

//  `make run` writes its suite's settings to <build>/run/ostiaryctl.env
//  (KEY=VALUE lines), beside <build>/bin where this program is: with none of
//  s_run_vars set, they are loaded from there when the file exists, so that
//  build/rel/bin/ostiaryctl acts on the suite `make run` started.
static void
s_load_run_env (void)
{
    for (size_t k = 0; k < sizeof s_run_vars / sizeof s_run_vars[0]; k++)
        if (getenv (s_run_vars[k]))
            return;
    char path[4096];
    ssize_t len = readlink ("/proc/self/exe", path, sizeof path - 32);
    if (len <= 0)
        return;
    path[len] = '\0';
    //  <build>/bin/ostiaryctl -> <build>/run/ostiaryctl.env
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr (path, '/');
        if (!slash)
            return;
        *slash = '\0';
    }
    strcat (path, "/run/ostiaryctl.env");
    FILE *file = fopen (path, "re");
    if (!file)
        return;
    char line[4096];
    while (fgets (line, sizeof line, file)) {
        line[strcspn (line, "\r\n")] = '\0';
        char *eq = strchr (line, '=');
        if (!eq || strncmp (line, "OSTIARY_", 8) != 0)
            continue;
        *eq = '\0';
        setenv (line, eq + 1, 0);
    }
    fclose (file);
}

const ctl_command_t *
ctl_commands (size_t *count)
{
    *count = sizeof s_commands / sizeof s_commands[0];
    return s_commands;
}

int
ctl_usage (FILE *out)
{
    return s_usage (out);
}

int
main (int argc, char **argv)
{
    s_load_run_env ();
    ctl_opts_t opts = {getenv ("OSTIARY_BUS_ENDPOINT"), 0};
    if (!opts.bus || !*opts.bus)
        opts.bus = "tcp://127.0.0.1:5555";
    int i = 1;
    for (; i < argc && strncmp (argv[i], "--", 2) == 0; i++) {
        if (strcmp (argv[i], "--help") == 0) {
            s_usage (stdout);
            return CTL_OK;
        } else if (strcmp (argv[i], "--man") == 0)
            return ctl_man ();
        else if (strcmp (argv[i], "--completion") == 0)
            return ctl_completion ();
        else if (strcmp (argv[i], CTL_LIST_COMMANDS) == 0) {
            for (size_t k = 0; k < sizeof s_commands / sizeof s_commands[0]; k++)
                printf ("%s\n", s_commands[k].name);
            return CTL_OK;
        } else if (strcmp (argv[i], "--bus") == 0 && i + 1 < argc)
            opts.bus = argv[++i];
        else if (strcmp (argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            opts.timeout_ms = strtol (argv[++i], &end, 10);
            if (*end || opts.timeout_ms <= 0 || opts.timeout_ms > 600000) {
                fprintf (stderr, "ostiaryctl: --timeout takes milliseconds between 1 and 600000\n");
                return CTL_USAGE;
            }
        } else {
            fprintf (stderr, "ostiaryctl: unknown option %s\n", argv[i]);
            return s_usage (stderr);
        }
    }
    if (i >= argc)
        return s_usage (stderr);
    log_init ("ostiaryctl", OST_LOG_WARN);
    for (size_t k = 0; k < sizeof s_commands / sizeof s_commands[0]; k++)
        if (strcmp (argv[i], s_commands[k].name) == 0)
            return s_commands[k].fn (&opts, argc - i, argv + i);
    fprintf (stderr, "ostiaryctl: unknown command %s\n", argv[i]);
    return s_usage (stderr);
}
