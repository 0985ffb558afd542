/*  manual - ostiaryctl's man page (ostiaryctl(1), roff) and its bash
 *  completion, both made from the command table of ctl/main.c, each
 *  family's subcommand table (`FAMILY --commands`) and each family's own
 *  --help text, so that neither can say something the program does not do.
 *  `make` writes them to $(BUILD)/share; `make install` installs them. */
#include "ctl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  What a command prints on stdout for argv (its --help or --commands),
//  captured in a new string (caller frees); NULL when memory ran out.
static char *
s_capture (ctl_cmd_fn fn, int argc, char **argv)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream (&text, &len);
    if (!mem)
        return NULL;
    fflush (stdout);
    FILE *saved = stdout;
    stdout = mem;
    ctl_opts_t opts = {"tcp://127.0.0.1:5555", 0};
    if (fn)
        fn (&opts, argc, argv);
    else
        ctl_usage (mem);
    stdout = saved;
    fclose (mem);
    return text;
}

//  The text of a family's --help (or ostiaryctl's own usage for NULL).
static char *
s_help (const ctl_command_t *cmd)
{
    char *argv[] = {cmd ? (char *)cmd->name : "ostiaryctl", "--help", NULL};
    return s_capture (cmd ? cmd->fn : NULL, 2, argv);
}

//  The names of a family's subcommands, one a line (its --commands).
static char *
s_subcommands (const ctl_command_t *cmd)
{
    char *argv[] = {(char *)cmd->name, CTL_LIST_COMMANDS, NULL};
    return s_capture (cmd->fn, 2, argv);
}

//  Text as roff: each line verbatim in a no-fill block, with backslashes
//  and a leading dot or quote escaped.
static void
s_roff_verbatim (const char *text)
{
    printf (".nf\n");
    int bol = 1;
    for (const char *p = text; p && *p; p++) {
        if (bol && (*p == '.' || *p == '\''))
            printf ("\\&");
        if (*p == '\\')
            printf ("\\e");
        else if (*p == '-')
            printf ("\\-");
        else
            putchar (*p);
        bol = *p == '\n';
    }
    if (!bol)
        putchar ('\n');
    printf (".fi\n");
}

int
ctl_man (void)
{
    size_t count;
    const ctl_command_t *cmds = ctl_commands (&count);
    printf (".\\\" ostiaryctl(1), made by `ostiaryctl --man` from its command table: do not edit.\n"
            ".TH OSTIARYCTL 1 \"\" \"Ostiary\" \"Ostiary manual\"\n"
            ".SH NAME\n"
            "ostiaryctl \\- operate an Ostiary OpenID Connect provider over its bus\n"
            ".SH SYNOPSIS\n"
            ".B ostiaryctl\n"
            "[\\fB\\-\\-bus\\fR \\fIENDPOINT\\fR] [\\fB\\-\\-timeout\\fR \\fIMS\\fR] \\fICOMMAND\\fR "
            "[\\fIARGS\\fR...]\n"
            ".SH DESCRIPTION\n"
            "ostiaryctl sends operations to Ostiary's services over the ZeroMQ bus (CURVE, with the admin "
            "key) and to keys\\-svc's admin socket. Listing commands print a table for people and JSON with "
            "\\fB\\-\\-json\\fR; list fields take an option once per value.\n"
            ".SH COMMANDS\n");
    char *usage = s_help (NULL);
    s_roff_verbatim (usage);
    free (usage);
    for (size_t k = 0; k < count; k++) {
        if (!cmds[k].family)
            continue;
        printf (".SS %s\n", cmds[k].name);
        char *help = s_help (&cmds[k]);
        s_roff_verbatim (help);
        free (help);
    }
    printf (".SH EXIT STATUS\nThe same for every command:\n");
#define CTL_EXIT_ITEM(name, code, meaning) printf (".TP\n.B %d\n%s\n", code, meaning);
    CTL_EXIT_CODES (CTL_EXIT_ITEM)
#undef CTL_EXIT_ITEM
    printf (".SH ENVIRONMENT\n"
            ".TP\n.B OSTIARY_BUS_ENDPOINT\nthe broker (default tcp://127.0.0.1:5555)\n"
            ".TP\n.B OSTIARY_BUS_CERT\nthis tool's CURVE certificate (the admin key for operators)\n"
            ".TP\n.B OSTIARY_BUS_PEERS\nthe folder of the roles' public keys\n"
            ".TP\n.B OSTIARY_RUN_DIR, OSTIARY_KEYS_ADMIN\nwhere keys\\-svc's admin socket is\n"
            ".SH FILES\n"
            ".TP\n.I ../run/ostiaryctl.env\nbeside the folder of the program: the settings `make run` wrote, "
            "loaded when none of the variables above is set\n"
            ".SH SEE ALSO\n"
            "README.md, proto/ops.md (every operation), docs/keys.md\n");
    return CTL_OK;
}

//  The --options a help text names, space-separated, each once.
static void
s_options (const char *help, char *out, size_t size)
{
    out[0] = '\0';
    for (const char *p = help; p && (p = strstr (p, "--")) != NULL;) {
        const char *end = p + 2;
        while (isalnum ((unsigned char)*end) || *end == '-')
            end++;
        size_t len = (size_t)(end - p);
        if (len > 2 && len < 64) {
            char option[64];
            memcpy (option, p, len);
            option[len] = '\0';
            char padded[68];
            snprintf (padded, sizeof padded, " %s ", option);
            char have[4096 + 2];
            snprintf (have, sizeof have, " %s ", out);
            if (!strstr (have, padded) && strlen (out) + len + 2 < size)
                snprintf (out + strlen (out), size - strlen (out), "%s%s", out[0] ? " " : "", option);
        }
        p = end;
    }
}

//  A newline-separated list as one space-separated line.
static void
s_words (char *text)
{
    for (char *p = text; p && *p; p++)
        if (*p == '\n')
            *p = ' ';
}

int
ctl_completion (void)
{
    size_t count;
    const ctl_command_t *cmds = ctl_commands (&count);
    printf ("# bash completion of ostiaryctl, made by `ostiaryctl --completion` from its command table:\n"
            "# do not edit. Installed as $(PREFIX)/share/bash-completion/completions/ostiaryctl.\n"
            "_ostiaryctl() {\n"
            "    local cur=${COMP_WORDS[COMP_CWORD]} i cmd= sub=\n"
            "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
            "        case ${COMP_WORDS[i]} in\n"
            "            --bus | --timeout) ((i++)) ;;\n"
            "            -*) ;;\n"
            "            *) if [ -z \"$cmd\" ]; then cmd=${COMP_WORDS[i]}; elif [ -z \"$sub\" ]; then "
            "sub=${COMP_WORDS[i]}; fi ;;\n"
            "        esac\n"
            "    done\n"
            "    local words\n"
            "    case $cmd in\n"
            "        \"\") words=\"");
    for (size_t k = 0; k < count; k++)
        printf ("%s%s", k ? " " : "", cmds[k].name);
    printf (" --bus --timeout --help\" ;;\n");
    for (size_t k = 0; k < count; k++) {
        if (!cmds[k].family) {
            //  ops takes --json; call and ready take an op or a service name.
            printf ("        %s) words=\"%s\" ;;\n", cmds[k].name,
                    strcmp (cmds[k].name, "ops") == 0 ? "--json" : "");
            continue;
        }
        char *sub = s_subcommands (&cmds[k]);
        char *help = s_help (&cmds[k]);
        char options[4096];
        s_options (help, options, sizeof options);
        s_words (sub);
        printf ("        %s) if [ -z \"$sub\" ]; then words=\"%s--help\"; else words=\"%s\"; fi ;;\n",
                cmds[k].name, sub ? sub : "", options);
        free (sub);
        free (help);
    }
    printf ("    esac\n"
            "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
            "}\n"
            "complete -o default -F _ostiaryctl ostiaryctl\n");
    return CTL_OK;
}
