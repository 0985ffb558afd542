/*  ctl - shared pieces of ostiaryctl's commands. Each command family
 *  (clients, users, keys, settings, audit) lives in its own file and has one line in the
 *  command table of ctl/main.c. */
#ifndef CTL_H
#define CTL_H

#include "bus_client.h"
#include "ops.h"

#include <jansson.h>
#include <stdio.h>

//  Exit codes of every command: the one table (usage texts and the man page
//  print it). CTL_EXIT (name, code, meaning).
#define CTL_EXIT_CODES(X)                                                                                    \
    X (CTL_OK, 0, "success")                                                                                 \
    X (CTL_ERROR_REPLY, 1,                                                                                   \
       "refused or failed: the service answered with an error (its code and description on stderr), or the " \
       "action failed (a file could not be written)")                                                        \
    X (CTL_USAGE, 2,                                                                                         \
       "usage or configuration error: unknown command or option, bad input, missing setting or key")         \
    X (CTL_UNREACHABLE, 3, "unreachable: no answer from the bus, the service or keys-svc's admin socket")

#define CTL_EXIT_ENUM(name, code, meaning) name = code,
enum { CTL_EXIT_CODES (CTL_EXIT_ENUM) };
#undef CTL_EXIT_ENUM

//  The exit code of a bus error: CTL_UNREACHABLE when nothing answered (no
//  broker, no live worker, the deadline passed), else CTL_ERROR_REPLY.
int ctl_exit_for (const bus_error_t *error);
//  Prints the exit code table ("exit codes:" and one line per code) to out.
void ctl_print_exit_codes (FILE *out);

typedef struct {
    const char *bus; //  broker endpoint
    long timeout_ms; //  0 = the op's default
} ctl_opts_t;

//  A command gets the words after its name (argv[0] is the command name).
typedef int (*ctl_cmd_fn) (const ctl_opts_t *opts, int argc, char **argv);

//  A bus client to opts->bus with the CURVE set-up of the environment
//  (OSTIARY_BUS_CURVE, OSTIARY_BUS_CERT, OSTIARY_BUS_PEERS), loaded once.
//  NULL after printing why.
OST_WUR bus_client_t *ctl_bus_client (const ctl_opts_t *opts);

//  Calls op with body (not consumed). On success returns CTL_OK with *result
//  (caller decrefs); on an error reply prints it (JSON on stdout, a line on
//  stderr) and returns CTL_ERROR_REPLY; CTL_USAGE when the bus cannot be used.
OST_WUR int ctl_call (const ctl_opts_t *opts, const char *op, const json_t *body, json_t **result);
//  Calls op with body (not consumed) over a fresh client, printing nothing
//  but a line when the bus cannot be used: CTL_OK with *result (caller
//  decrefs), CTL_ERROR_REPLY with *error filled (ctl_exit_for says which
//  code it exits with), or CTL_USAGE.
OST_WUR int ctl_bus_call (const ctl_opts_t *opts, const char *op, const json_t *body, json_t **result,
                          bus_error_t *error);
//  Calls op with body (not consumed) for a command family whose messages
//  start "ostiaryctl: FAMILY: ". On an error reply prints one line on stderr
//  (no JSON) and returns ctl_exit_for of it; CTL_USAGE when the bus cannot be
//  used.
OST_WUR int ctl_call_family (const ctl_opts_t *opts, const char *family, const char *op, const json_t *body,
                             json_t **result);
//  After `<op>_out_unpack (result, &out, why, …)` returned unpacked: CTL_OK
//  when it is 0. A result outside op's table, which the bus client never
//  hands over, is logged with why and is a server error (CTL_ERROR_REPLY).
int ctl_unpacked (const char *op, int unpacked, const char *why);
//  1 when text is UTF-8 that a JSON string (so a request) can carry, else 0.
int ctl_utf8 (const char *text);
//  Prints "ostiaryctl: FAMILY: WHAT[: DETAIL]" on stderr; returns CTL_USAGE.
int ctl_bad (const char *family, const char *what, const char *detail);
//  Prints a JSON value, indented, with sorted keys.
void ctl_print_json (const json_t *value);

//  One subcommand of a command family.
typedef struct {
    const char *name;
    ctl_cmd_fn fn;
} ctl_subcmd_t;

//  Runs the subcommand argv[1] of family from cmds (it gets argc - 1 words
//  from argv + 1); `--help` or `help` prints usage on stdout; no or an
//  unknown subcommand prints usage on stderr (returned: CTL_USAGE).
int ctl_dispatch (const ctl_opts_t *opts, const char *family, const ctl_subcmd_t *cmds, size_t ncmds,
                  int (*usage) (FILE *out), int argc, char **argv);

//  The command table of ctl/main.c: every command, in order (the man page
//  and the shell completion are made from it, ctl/manual.c).
typedef struct {
    const char *name;
    ctl_cmd_fn fn;
    int family; //  1: a family of subcommands with its own --help and --commands
} ctl_command_t;
const ctl_command_t *ctl_commands (size_t *count);
//  Hidden option of every command family: `FAMILY --commands` prints the
//  names of its subcommands, one a line (what the completion offers).
#define CTL_LIST_COMMANDS "--commands"
//  ctl/manual.c: `ostiaryctl --man` prints the man page ostiaryctl(1),
//  `ostiaryctl --completion` the bash completion script, both from the
//  command table and each family's --help.
int ctl_man (void);
//  The usage of ostiaryctl itself (its commands, options, environment).
int ctl_usage (FILE *out);
int ctl_completion (void);

//  The command families (one file each).
int ctl_keys (const ctl_opts_t *opts, int argc, char **argv);    //  ctl/keys.c: keys-svc's admin socket
int ctl_users (const ctl_opts_t *opts, int argc, char **argv);   //  ctl/users.c: flow-svc's end users
int ctl_clients (const ctl_opts_t *opts, int argc, char **argv); //  ctl/clients.c: token-svc's OAuth clients
int ctl_settings (const ctl_opts_t *opts, int argc,
                  char **argv);                                //  ctl/settings.c: flow-svc's runtime settings
int ctl_bus (const ctl_opts_t *opts, int argc, char **argv);   //  ctl/bus.c: the bus's CURVE keys
int ctl_audit (const ctl_opts_t *opts, int argc, char **argv); //  ctl/audit.c: every service's audit trail

#endif
