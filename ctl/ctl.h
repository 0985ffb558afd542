/*  ctl - shared pieces of ostiaryctl's commands. Each command family
 *  (clients, users, keys, settings) lives in its own file and has one line in the
 *  command table of ctl/main.c. */
#ifndef CTL_H
#define CTL_H

#include "bus_client.h"

#include <jansson.h>

//  Exit codes of every command.
enum { CTL_OK = 0, CTL_ERROR_REPLY = 1, CTL_USAGE = 2 };

typedef struct {
    const char *bus;  //  broker endpoint
    long timeout_ms;  //  0 = the op's default
} ctl_opts_t;

//  A command gets the words after its name (argv[0] is the command name).
typedef int (*ctl_cmd_fn) (const ctl_opts_t *opts, int argc, char **argv);

//  Calls op with body (not consumed). On success returns CTL_OK with *result
//  (caller decrefs); on an error reply prints it (JSON on stdout, a line on
//  stderr) and returns CTL_ERROR_REPLY; CTL_USAGE when the bus cannot be used.
int ctl_call (const ctl_opts_t *opts, const char *op, const json_t *body, json_t **result);
//  Prints a JSON value, indented, with sorted keys.
void ctl_print_json (const json_t *value);

//  The command families (one file each).
int ctl_keys (const ctl_opts_t *opts, int argc, char **argv); //  ctl/keys.c: keys-svc's admin socket
int ctl_users (const ctl_opts_t *opts, int argc, char **argv); //  ctl/users.c: flow-svc's end users
int ctl_clients (const ctl_opts_t *opts, int argc, char **argv); //  ctl/clients.c: token-svc's OAuth clients
int ctl_settings (const ctl_opts_t *opts, int argc, char **argv); //  ctl/settings.c: flow-svc's runtime settings

#endif
