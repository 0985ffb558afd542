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
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Largest JSON body read from the command line or standard input.
#define CTL_MAX_INPUT (1024 * 1024)

static int
s_usage (FILE *out)
{
    fprintf (out, "usage: ostiaryctl [--bus ENDPOINT] [--timeout MS] call OP [JSON | -]\n"
                  "       ostiaryctl [--bus ENDPOINT] [--timeout MS] ready SERVICE\n"
                  "       ostiaryctl ops\n"
                  "\n"
                  "  call   sends OP (see `ostiaryctl ops`) with a JSON object body (default {},\n"
                  "         - reads it from standard input) and prints the result as JSON\n"
                  "  ready  exits 0 when SERVICE has at least one live worker\n"
                  "  ops    lists the operations of proto/ops.def\n"
                  "\n"
                  "  --bus      broker endpoint (default $OSTIARY_BUS_ENDPOINT or tcp://127.0.0.1:5555)\n"
                  "  --timeout  deadline in milliseconds (default: the op's own)\n"
                  "\n"
                  "exit codes: 0 ok, 1 error reply, 2 usage or input error\n");
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
    return 1;
}

int
main (int argc, char **argv)
{
    const char *bus = getenv ("OSTIARY_BUS_ENDPOINT");
    if (!bus || !*bus)
        bus = "tcp://127.0.0.1:5555";
    long timeout = 0;
    int i = 1;
    for (; i < argc && strncmp (argv[i], "--", 2) == 0; i++) {
        if (strcmp (argv[i], "--help") == 0) {
            s_usage (stdout);
            return 0;
        }
        else if (strcmp (argv[i], "--bus") == 0 && i + 1 < argc)
            bus = argv[++i];
        else if (strcmp (argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            timeout = strtol (argv[++i], &end, 10);
            if (*end || timeout <= 0 || timeout > 600000) {
                fprintf (stderr, "ostiaryctl: --timeout takes milliseconds between 1 and 600000\n");
                return 2;
            }
        }
        else {
            fprintf (stderr, "ostiaryctl: unknown option %s\n", argv[i]);
            return s_usage (stderr);
        }
    }
    if (i >= argc)
        return s_usage (stderr);
    const char *command = argv[i++];
    log_init ("ostiaryctl", OST_LOG_WARN);

    if (strcmp (command, "ops") == 0 && i == argc) {
        for (size_t k = 0; k < proto_op_count (); k++) {
            const op_def_t *op = proto_op_at (k);
            printf ("%-24s %-6s %-5s max body %zu, timeout %d ms\n", op->name, op->service,
                    op->kind == OP_READ ? "READ" : "WRITE", op->max_body, op->timeout_ms);
        }
        return 0;
    }
    if (strcmp (command, "ready") == 0 && i + 1 == argc) {
        if (!proto_valid_service (argv[i])) {
            fprintf (stderr, "ostiaryctl: invalid service name\n");
            return 2;
        }
        bus_client_t *client = bus_client_new (bus, 0);
        if (!client) {
            fprintf (stderr, "ostiaryctl: cannot use bus endpoint %s\n", bus);
            return 2;
        }
        int ready = bus_client_service_ready (client, argv[i], timeout > 0 ? (int) timeout : 2000);
        bus_client_destroy (&client);
        printf ("%s\n", ready == 1 ? "ready" : ready == 0 ? "not ready" : "no answer from the broker");
        return ready == 1 ? 0 : 1;
    }
    if (strcmp (command, "call") != 0 || i >= argc || argc - i > 2)
        return s_usage (stderr);

    const char *op = argv[i++];
    if (!proto_op (op)) {
        fprintf (stderr, "ostiaryctl: unknown operation %s (see `ostiaryctl ops`)\n", op);
        return 2;
    }
    char *input = NULL;
    const char *text = "{}";
    if (i < argc) {
        if (strcmp (argv[i], "-") == 0) {
            input = s_read_stdin ();
            if (!input) {
                fprintf (stderr, "ostiaryctl: standard input is larger than %d bytes\n", CTL_MAX_INPUT);
                return 2;
            }
            text = input;
        }
        else
            text = argv[i];
    }
    if (strlen (text) > CTL_MAX_INPUT) {
        fprintf (stderr, "ostiaryctl: the JSON body is larger than %d bytes\n", CTL_MAX_INPUT);
        free (input);
        return 2;
    }
    json_error_t jerr;
    json_t *body = json_loads (text, JSON_REJECT_DUPLICATES, &jerr);
    free (input);
    if (!json_is_object (body)) {
        fprintf (stderr, "ostiaryctl: the body must be a JSON object (%s)\n", body ? "not an object" : jerr.text);
        json_decref (body);
        return 2;
    }
    bus_client_t *client = bus_client_new (bus, 0);
    if (!client) {
        fprintf (stderr, "ostiaryctl: cannot use bus endpoint %s\n", bus);
        json_decref (body);
        return 2;
    }
    json_t *result = NULL;
    bus_error_t error;
    int rc = bus_client_call (client, op, body, (int) timeout, &result, &error);
    json_decref (body);
    bus_client_destroy (&client);
    if (rc)
        return s_print_error (&error);
    char *out = json_dumps (result, JSON_INDENT (2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    printf ("%s\n", out ? out : "null");
    free (out);
    json_decref (result);
    return 0;
}
