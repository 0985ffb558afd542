/*  ctl/settings - `ostiaryctl settings ...`: the runtime settings of
 *  common/settings.def over the bus (flow.settings_list, flow.settings_set,
 *  token.settings_list and token.settings_set of proto/ops.md: each setting
 *  is stored by the service that applies it). Every replica applies a change
 *  within 5 seconds.
 *
 *    ostiaryctl settings list [--json]
 *    ostiaryctl settings get NAME
 *    ostiaryctl settings set NAME VALUE
 *    ostiaryctl settings reset NAME
 *
 *  Exit codes: 0 done; 1 flow-svc answered with another error
 *  (unavailable); 2 bad usage or input (an unknown setting, a value that is
 *  not an integer or out of range), with a message on stderr. */
#include "ctl.h"
#include "settings_table.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_usage (FILE *out)
{
    fprintf (out, "usage: ostiaryctl settings list [--json]\n"
                  "       ostiaryctl settings get NAME\n"
                  "       ostiaryctl settings set NAME VALUE\n"
                  "       ostiaryctl settings reset NAME\n"
                  "\n"
                  "  the runtime settings (integers, each with its min and max; `list` shows them):\n"
                  "    lockout_threshold       failed password logins that lock an account (5)\n"
                  "    lockout_seconds         how long the account stays locked (900)\n"
                  "    address_threshold       failed logins and wrong codes from one client address per\n"
                  "                            window above which the address is throttled (50)\n"
                  "    address_window_seconds  the length of that window (300)\n"
                  "    code_lockout_threshold  wrong second-factor codes of one account, across flows,\n"
                  "                            that lock its second factor (10)\n"
                  "    code_lockout_seconds    how long the second factor stays locked (900)\n"
                  "    code_mail_cap           code emails to one account per window; above it none is\n"
                  "                            sent (5)\n"
                  "    code_mail_window_seconds  the length of that window (900)\n"
                  "    pkce_required           1: clients without a PKCE choice of their own must send a\n"
                  "                            code_challenge; 0: optional for them (token-svc;\n"
                  "                            default OSTIARY_PKCE_REQUIRED)\n"
                  "  set stores a value, reset goes back to the default; every replica of the service\n"
                  "  that applies it follows within 5 seconds. Both are audited (settings_set,\n"
                  "  token_settings_set).\n"
                  "\n");
    ctl_print_exit_codes (out);
    return CTL_USAGE;
}

//  The settings of one service (op: flow.settings_list or
//  token.settings_list, the same result): a new reference, or NULL with
//  *rc set.
static json_t *
s_fetch_one (const ctl_opts_t *opts, const char *op, int *rc)
{
    flow_settings_list_in_t in = {0};
    json_t *body = flow_settings_list_in_pack (&in);
    json_t *result = NULL;
    *rc = body ? ctl_call_family (opts, "settings", op, body, &result) : CTL_USAGE;
    json_decref (body);
    flow_settings_list_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (*rc == CTL_OK)
        *rc = ctl_unpacked (op, flow_settings_list_out_unpack (result, &out, why, sizeof why), why);
    json_t *list = *rc == CTL_OK ? json_incref ((json_t *)out.settings) : NULL;
    json_decref (result);
    return list;
}

//  Every setting object, flow-svc's then token-svc's (common/settings.def):
//  a new reference, or NULL with *rc set.
static json_t *
s_fetch (const ctl_opts_t *opts, int *rc)
{
    json_t *list = s_fetch_one (opts, "flow.settings_list", rc);
    json_t *more = list ? s_fetch_one (opts, "token.settings_list", rc) : NULL;
    if (list && (!more || json_array_extend (list, more))) {
        json_decref (list);
        list = NULL;
    }
    json_decref (more);
    return list;
}

//  One setting of the list; -1 after a message when it does not unpack.
static int
s_setting (const json_t *obj, shape_setting_t *setting)
{
    char why[SCHEMA_WHY_MAX];
    return ctl_unpacked ("flow.settings_list", shape_setting_unpack (obj, setting, why, sizeof why), why) ==
                   CTL_OK
               ? 0
               : -1;
}

static int
s_list (const ctl_opts_t *opts, int argc, char **argv)
{
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--json"))
            as_json = 1;
        else
            return ctl_bad ("settings", "unknown option", argv[i]);
    }
    int rc;
    json_t *list = s_fetch (opts, &rc);
    if (rc != CTL_OK)
        return rc;
    if (as_json)
        ctl_print_json (list);
    else {
        printf ("%-24s %10s %10s %10s %10s  %s\n", "NAME", "VALUE", "DEFAULT", "MIN", "MAX", "DESCRIPTION");
        size_t i;
        json_t *s;
        json_array_foreach (list, i, s)
        {
            shape_setting_t setting;
            if (s_setting (s, &setting)) {
                rc = CTL_ERROR_REPLY;
                break;
            }
            printf ("%-24s %10" PRId64 " %10" PRId64 " %10" PRId64 " %10" PRId64 "  %s\n", setting.name,
                    setting.value, setting.default_, setting.min, setting.max, setting.description);
        }
    }
    json_decref (list);
    return rc;
}

//  Prints the value alone, so that scripts can use it as it is.
static int
s_get (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return s_usage (stderr);
    int rc;
    json_t *list = s_fetch (opts, &rc);
    if (rc != CTL_OK)
        return rc;
    size_t i;
    json_t *s;
    shape_setting_t setting;
    int found = 0;
    json_array_foreach (list, i, s)
    {
        if (s_setting (s, &setting)) {
            rc = CTL_ERROR_REPLY;
            break;
        }
        if (!strcmp (setting.name, argv[1])) {
            found = 1;
            break;
        }
    }
    if (found)
        printf ("%" PRId64 "\n", setting.value);
    else if (rc == CTL_OK)
        rc = ctl_bad ("settings", "no such setting (see `ostiaryctl settings list`)", argv[1]);
    json_decref (list);
    return rc;
}

//  set NAME VALUE, reset NAME: flow.settings_set with value, or with value
//  null (has_value false) for the default.
static int
s_store (const ctl_opts_t *opts, const flow_settings_set_in_t *in)
{
    json_t *body = flow_settings_set_in_pack (in);
    //  The op asks for "value": null to reset, and refuses a request
    //  without the member (a forgotten value must not reset a setting); a
    //  packed request leaves an absent value out, so it is set here.
    if (body && !in->has_value && json_object_set_new (body, "value", json_null ())) {
        json_decref (body);
        body = NULL;
    }
    if (!body)
        return ctl_bad ("settings", "the name is not UTF-8 text", NULL);
    //  The service that owns the setting stores it (common/settings.def);
    //  an unknown name goes to flow-svc, which refuses it. Both ops take
    //  and answer the same members.
    const setting_def_t *def = settings_def (settings_find (in->name));
    const char *op = def && !strcmp (def->service, "token") ? "token.settings_set" : "flow.settings_set";
    json_t *result = NULL;
    int rc = ctl_call_family (opts, "settings", op, body, &result);
    json_decref (body);
    flow_settings_set_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked (op, flow_settings_set_out_unpack (result, &out, why, sizeof why), why);
    if (rc == CTL_OK)
        printf ("%s = %" PRId64 "%s\n", in->name, out.value,
                out.value == out.default_ ? " (the default)" : "");
    json_decref (result);
    return rc;
}

static int
s_set (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc != 3 || argv[1][0] == '-')
        return s_usage (stderr);
    //  The whole word must be a decimal integer: "5x" or "" is refused,
    //  never read as 5 or 0. flow-svc checks the range.
    errno = 0;
    char *end = NULL;
    long long value = strtoll (argv[2], &end, 10);
    if (!*argv[2] || *end || errno == ERANGE)
        return ctl_bad ("settings", "VALUE must be an integer", argv[2]);
    flow_settings_set_in_t in = {.name = argv[1], .value = value, .has_value = true};
    return s_store (opts, &in);
}

static int
s_reset (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return s_usage (stderr);
    flow_settings_set_in_t in = {.name = argv[1]};
    return s_store (opts, &in);
}

//  The subcommand table.
static const ctl_subcmd_t s_commands[] = {
    {"list", s_list},
    {"get", s_get},
    {"set", s_set},
    {"reset", s_reset},
};

int
ctl_settings (const ctl_opts_t *opts, int argc, char **argv)
{
    return ctl_dispatch (opts, "settings", s_commands, sizeof s_commands / sizeof s_commands[0], s_usage,
                         argc, argv);
}
