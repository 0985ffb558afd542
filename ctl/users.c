/*  ctl/users - `ostiaryctl users ...`: end users of flow-svc over the bus
 *  (flow.user_* of proto/ops.md).
 *
 *    ostiaryctl users add USERNAME [CLAIM OPTIONS] (--password-stdin | --password P | --no-password)
 *    ostiaryctl users list [--json]
 *    ostiaryctl users show (USERNAME | --sub SUB)
 *    ostiaryctl users passwd USERNAME (--password-stdin | --password P)
 *    ostiaryctl users disable USERNAME [--enable]
 *    ostiaryctl users unlock USERNAME
 *
 *  Password hashes never leave flow-svc, so nothing here can print one.
 *  Exit codes: 0 done; 1 flow-svc answered with another error (no such user,
 *  unavailable); 2 bad usage or input (an unknown option, a bad claim value,
 *  a weak password, a username that is taken), with a message on stderr. */
#include "ctl.h"
#include "secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

//  flow-svc refuses longer passwords (flow-svc/password.h).
#define PASSWORD_MAX 1024
#define LIST_PAGE 200

static int
s_usage (FILE *out)
{
    fprintf (
        out,
        "usage: ostiaryctl users add USERNAME [OPTIONS] (--password-stdin | --password P | --no-password)\n"
        "       ostiaryctl users list [--json]\n"
        "       ostiaryctl users show (USERNAME | --sub SUB)\n"
        "       ostiaryctl users passwd USERNAME (--password-stdin | --password P)\n"
        "       ostiaryctl users disable USERNAME [--enable]\n"
        "       ostiaryctl users unlock USERNAME\n"
        "       ostiaryctl users grant-admin USERNAME\n"
        "       ostiaryctl users revoke-admin USERNAME\n"
        "\n"
        "  USERNAME is case-insensitive: 1 to 64 of a-z 0-9 . _ @ + - (stored in lowercase)\n"
        "\n"
        "  add options (OpenID Connect Core 5.1 claims):\n"
        "    --email E  --email-verified  --name N  --given-name G  --family-name F\n"
        "    --middle-name M  --nickname N  --locale L  --zoneinfo Z\n"
        "    --birthdate YYYY-MM-DD  --gender G  --picture URL  --website URL  --profile URL\n"
        "    --phone P  --phone-verified\n"
        "    --street-address S  --locality L  --region R  --postal-code C  --country C\n"
        "    --address-formatted TEXT\n"
        "    --disabled            create the user disabled\n"
        "\n"
        "  passwords:\n"
        "    --password-stdin      read the password from standard input (one line; without\n"
        "                          echo when it is a terminal)\n"
        "    --password P          the password on the command line: for scripts only, since\n"
        "                          other local users can see it in `ps` and shell history\n"
        "    --no-password         (add) a user that cannot log in with a password\n"
        "\n"
        "  passwd revokes the user's sessions; disable revokes them and every token issued to the user\n"
        "  (--enable undoes the flag, not the revocation).\n"
        "  grant-admin gives the user the admin role: the admin client (OSTIARY_ADMIN_CLIENT_ID)\n"
        "  may then be issued the admin scope for them; revoke-admin takes it back, and their\n"
        "  tokens with that scope stop working at the admin API at once (both audited, user_admin).\n"
        "  unlock lifts a brute-force lockout (password and second factor) and clears the failure\n"
        "  counts (audited).\n"
        "\n");
    ctl_print_exit_codes (out);
    return CTL_USAGE;
}

//  ------------------------------------------------------------------ passwords

//  Reads one line from standard input into buf (size PASSWORD_MAX + 2),
//  without echo on a terminal. Returns its length, or -1 after a message.
static long
s_read_password (char *buf, size_t size)
{
    int tty = isatty (STDIN_FILENO);
    struct termios saved, quiet;
    if (tty && tcgetattr (STDIN_FILENO, &saved) == 0) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fprintf (stderr, "Password: ");
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet);
    } else
        tty = 0;
    char *line = fgets (buf, (int)size, stdin);
    if (tty) {
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved);
        fprintf (stderr, "\n");
    }
    if (!line) {
        ctl_bad ("users", "no password on standard input", NULL);
        return -1;
    }
    size_t len = strlen (buf);
    int complete = len > 0 && buf[len - 1] == '\n';
    if (complete)
        buf[--len] = '\0';
    if (complete && len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    //  A line that did not fit, or input with a NUL byte in it, is refused
    //  rather than cut short.
    if ((!complete && !feof (stdin)) || len > PASSWORD_MAX) {
        secure_wipe (buf, size);
        ctl_bad ("users", "the password is longer than 1024 bytes", NULL);
        return -1;
    }
    if (len == 0) {
        ctl_bad ("users", "the password on standard input is empty", NULL);
        return -1;
    }
    return (long)len;
}

typedef enum { PW_NONE, PW_STDIN, PW_ARG, PW_REFUSED } s_pw_mode_t;

//  Points *pw at the password of the chosen source: arg, or the line read
//  into buf (size PASSWORD_MAX + 2, which the caller wipes). 0 ok,
//  CTL_USAGE after a message.
static int
s_get_password (s_pw_mode_t mode, const char *arg, char *buf, size_t size, const char **pw)
{
    *pw = arg;
    if (mode == PW_STDIN) {
        if (s_read_password (buf, size) < 0)
            return CTL_USAGE;
        *pw = buf;
    }
    if (!ctl_utf8 (*pw))
        return ctl_bad ("users", "the password must be UTF-8 text", NULL);
    return CTL_OK;
}

//  Wipes the password member of a request body before it is freed.
static void
s_wipe_body (json_t *body)
{
    json_t *pw = json_object_get (body, "password");
    if (json_is_string (pw))
        secure_wipe ((char *)json_string_value (pw), json_string_length (pw));
    json_decref (body);
}

//  ------------------------------------------------------------------ add

typedef enum { OPT_CLAIM, OPT_FLAG, OPT_ADDRESS } s_opt_kind_t;

//  Command-line option → member of the request (a claim or a flag) or of
//  its address.
#define S_IN(m) offsetof (flow_user_add_in_t, m)
#define S_ADDR(m) offsetof (shape_address_t, m)
static const struct {
    const char *option;
    s_opt_kind_t kind;
    size_t member;
    size_t has; //  OPT_FLAG: its has_ member
} s_add_options[] = {
    {"--email", OPT_CLAIM, S_IN (email), 0},
    {"--email-verified", OPT_FLAG, S_IN (email_verified), S_IN (has_email_verified)},
    {"--name", OPT_CLAIM, S_IN (name), 0},
    {"--given-name", OPT_CLAIM, S_IN (given_name), 0},
    {"--family-name", OPT_CLAIM, S_IN (family_name), 0},
    {"--middle-name", OPT_CLAIM, S_IN (middle_name), 0},
    {"--nickname", OPT_CLAIM, S_IN (nickname), 0},
    {"--profile", OPT_CLAIM, S_IN (profile), 0},
    {"--picture", OPT_CLAIM, S_IN (picture), 0},
    {"--website", OPT_CLAIM, S_IN (website), 0},
    {"--gender", OPT_CLAIM, S_IN (gender), 0},
    {"--birthdate", OPT_CLAIM, S_IN (birthdate), 0},
    {"--zoneinfo", OPT_CLAIM, S_IN (zoneinfo), 0},
    {"--locale", OPT_CLAIM, S_IN (locale), 0},
    {"--phone", OPT_CLAIM, S_IN (phone_number), 0},
    {"--phone-verified", OPT_FLAG, S_IN (phone_number_verified), S_IN (has_phone_number_verified)},
    {"--disabled", OPT_FLAG, S_IN (disabled), S_IN (has_disabled)},
    {"--street-address", OPT_ADDRESS, S_ADDR (street_address), 0},
    {"--locality", OPT_ADDRESS, S_ADDR (locality), 0},
    {"--region", OPT_ADDRESS, S_ADDR (region), 0},
    {"--postal-code", OPT_ADDRESS, S_ADDR (postal_code), 0},
    {"--country", OPT_ADDRESS, S_ADDR (country), 0},
    {"--address-formatted", OPT_ADDRESS, S_ADDR (formatted), 0},
};

//  Parses the password options shared by add and passwd at argv[*i].
//  1 when argv[*i] was one of them (and *i moved past its value), 0 when
//  not, -1 after a message.
static int
s_password_option (int argc, char **argv, int *i, s_pw_mode_t *mode, const char **arg, int allow_none)
{
    const char *o = argv[*i];
    s_pw_mode_t want;
    if (!strcmp (o, "--password-stdin"))
        want = PW_STDIN;
    else if (!strcmp (o, "--password"))
        want = PW_ARG;
    else if (!strcmp (o, "--no-password") && allow_none)
        want = PW_REFUSED;
    else
        return 0;
    if (*mode != PW_NONE) {
        ctl_bad ("users", "give one of --password-stdin, --password and --no-password", NULL);
        return -1;
    }
    if (want == PW_ARG) {
        if (*i + 1 >= argc) {
            ctl_bad ("users", "--password needs a value", NULL);
            return -1;
        }
        *arg = argv[++*i];
    }
    *mode = want;
    return 1;
}

static int
s_add (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return s_usage (stderr);
    if (!ctl_utf8 (argv[1]))
        return ctl_bad ("users", "the username is not UTF-8 text", NULL);
    flow_user_add_in_t in = {.username = argv[1]};
    shape_address_t address = {0};
    int has_address = 0;
    s_pw_mode_t mode = PW_NONE;
    const char *pw_arg = NULL;
    int rc = CTL_OK;
    for (int i = 2; rc == CTL_OK && i < argc; i++) {
        int p = s_password_option (argc, argv, &i, &mode, &pw_arg, 1);
        if (p < 0)
            rc = CTL_USAGE;
        if (p != 0)
            continue;
        size_t k = 0, n = sizeof s_add_options / sizeof s_add_options[0];
        while (k < n && strcmp (argv[i], s_add_options[k].option) != 0)
            k++;
        if (k == n) {
            rc = ctl_bad ("users", "unknown option", argv[i]);
            break;
        }
        if (s_add_options[k].kind == OPT_FLAG) {
            *(bool *)((char *)&in + s_add_options[k].member) = true;
            *(bool *)((char *)&in + s_add_options[k].has) = true;
            continue;
        }
        if (i + 1 >= argc) {
            rc = ctl_bad ("users", "this option needs a value", argv[i]);
            break;
        }
        if (!ctl_utf8 (argv[++i])) {
            rc = ctl_bad ("users", "a value is not UTF-8 text", argv[i - 1]);
            break;
        }
        char *into = s_add_options[k].kind == OPT_ADDRESS ? (char *)&address : (char *)&in;
        *(const char **)(into + s_add_options[k].member) = argv[i];
        has_address |= s_add_options[k].kind == OPT_ADDRESS;
    }
    if (rc == CTL_OK && mode == PW_NONE)
        rc = ctl_bad ("users", "give the password with --password-stdin or --password (or --no-password)",
                      NULL);
    json_t *address_obj = NULL;
    if (rc == CTL_OK && has_address) {
        address_obj = schema_pack (&schema_shape_address, &address);
        in.address = address_obj;
        rc = address_obj ? CTL_OK : CTL_ERROR_REPLY;
    }
    char buf[PASSWORD_MAX + 2];
    if (rc == CTL_OK && (mode == PW_STDIN || mode == PW_ARG))
        rc = s_get_password (mode, pw_arg, buf, sizeof buf, &in.password);
    json_t *body = rc == CTL_OK ? flow_user_add_in_pack (&in) : NULL;
    secure_wipe (buf, sizeof buf);
    if (rc == CTL_OK && !body)
        rc = CTL_ERROR_REPLY;
    json_t *result = NULL;
    if (rc == CTL_OK)
        rc = ctl_call_family (opts, "users", "flow.user_add", body, &result);
    flow_user_add_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("flow.user_add", flow_user_add_out_unpack (result, &out, why, sizeof why), why);
    if (rc == CTL_OK)
        ctl_print_json (out.user);
    json_decref (result);
    json_decref (address_obj);
    s_wipe_body (body);
    return rc;
}

//  ------------------------------------------------------------------ list, show

static int
s_list (const ctl_opts_t *opts, int argc, char **argv)
{
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--json"))
            as_json = 1;
        else
            return ctl_bad ("users", "unknown option", argv[i]);
    }
    json_t *all = json_array ();
    char *after = NULL;
    int rc = all ? CTL_OK : CTL_USAGE;
    char why[SCHEMA_WHY_MAX];
    //  Page by page (flow.user_list gives at most LIST_PAGE users a call).
    while (rc == CTL_OK) {
        flow_user_list_in_t in = {.limit = LIST_PAGE, .has_limit = true, .after = after};
        json_t *body = flow_user_list_in_pack (&in);
        json_t *result = NULL;
        rc = body ? ctl_call_family (opts, "users", "flow.user_list", body, &result) : CTL_USAGE;
        json_decref (body);
        flow_user_list_out_t out;
        if (rc == CTL_OK)
            rc = ctl_unpacked ("flow.user_list", flow_user_list_out_unpack (result, &out, why, sizeof why),
                               why);
        if (rc == CTL_OK)
            json_array_extend (all, (json_t *)out.users);
        free (after);
        after = rc == CTL_OK && out.next ? strdup (out.next) : NULL;
        json_decref (result);
        if (!after)
            break;
    }
    free (after);
    if (rc == CTL_OK && as_json)
        ctl_print_json (all);
    else if (rc == CTL_OK) {
        printf ("%-32s %-24s %-8s %s\n", "USERNAME", "SUB", "STATUS", "EMAIL");
        size_t i;
        json_t *u;
        json_array_foreach (all, i, u)
        {
            shape_user_t user;
            rc = ctl_unpacked ("flow.user_list", shape_user_unpack (u, &user, why, sizeof why), why);
            if (rc != CTL_OK)
                break;
            printf ("%-32s %-24s %-8s %s\n", user.username, user.sub, user.disabled ? "disabled" : "active",
                    user.email ? user.email : "-");
        }
    }
    json_decref (all);
    return rc;
}

static int
s_show (const ctl_opts_t *opts, int argc, char **argv)
{
    flow_user_get_in_t in = {0};
    if (argc == 2 && argv[1][0] != '-')
        in.username = argv[1];
    else if (argc == 3 && !strcmp (argv[1], "--sub"))
        in.sub = argv[2];
    else
        return s_usage (stderr);
    json_t *body = flow_user_get_in_pack (&in);
    if (!body)
        return ctl_bad ("users", "the argument is not UTF-8 text", NULL);
    json_t *result = NULL;
    int rc = ctl_call_family (opts, "users", "flow.user_get", body, &result);
    flow_user_get_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("flow.user_get", flow_user_get_out_unpack (result, &out, why, sizeof why), why);
    if (rc == CTL_OK)
        ctl_print_json (out.user);
    json_decref (result);
    json_decref (body);
    return rc;
}

//  ------------------------------------------------------------------ passwd, disable

static int
s_passwd (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return s_usage (stderr);
    s_pw_mode_t mode = PW_NONE;
    const char *pw_arg = NULL;
    for (int i = 2; i < argc; i++) {
        int p = s_password_option (argc, argv, &i, &mode, &pw_arg, 0);
        if (p < 0)
            return CTL_USAGE;
        if (p == 0)
            return ctl_bad ("users", "unknown option", argv[i]);
    }
    if (mode == PW_NONE)
        return ctl_bad ("users", "give the new password with --password-stdin or --password", NULL);
    if (!ctl_utf8 (argv[1]))
        return ctl_bad ("users", "the username is not UTF-8 text", NULL);
    flow_user_passwd_in_t in = {.username = argv[1]};
    char buf[PASSWORD_MAX + 2];
    int rc = s_get_password (mode, pw_arg, buf, sizeof buf, &in.password);
    json_t *body = rc == CTL_OK ? flow_user_passwd_in_pack (&in) : NULL;
    secure_wipe (buf, sizeof buf);
    if (rc == CTL_OK && !body)
        rc = CTL_ERROR_REPLY;
    json_t *result = NULL;
    if (rc == CTL_OK)
        rc = ctl_call_family (opts, "users", "flow.user_passwd", body, &result);
    if (rc == CTL_OK)
        printf ("password changed for %s; the user's sessions were revoked\n", argv[1]);
    json_decref (result);
    s_wipe_body (body);
    return rc;
}

static int
s_disable (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc < 2 || argc > 3 || argv[1][0] == '-')
        return s_usage (stderr);
    int enable = 0;
    if (argc == 3) {
        if (strcmp (argv[2], "--enable") != 0)
            return ctl_bad ("users", "unknown option", argv[2]);
        enable = 1;
    }
    flow_user_disable_in_t in = {.username = argv[1], .disabled = !enable, .has_disabled = true};
    json_t *body = flow_user_disable_in_pack (&in);
    if (!body)
        return ctl_bad ("users", "the username is not UTF-8 text", NULL);
    json_t *result = NULL;
    int rc = ctl_call_family (opts, "users", "flow.user_disable", body, &result);
    flow_user_disable_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("flow.user_disable", flow_user_disable_out_unpack (result, &out, why, sizeof why),
                           why);
    if (rc == CTL_OK && enable)
        printf ("%s enabled\n", argv[1]);
    else if (rc == CTL_OK)
        printf (
            "%s disabled; their sessions, %lld refresh-token families and %lld access tokens were revoked\n",
            argv[1], (long long)out.families, (long long)out.access_tokens);
    json_decref (result);
    json_decref (body);
    return rc;
}

//  docs/flows.md, "Lockout": flow.user_unlock lifts the locks (password and second
//  factor) and clears the counts.
static int
s_unlock (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return s_usage (stderr);
    flow_user_unlock_in_t in = {.username = argv[1]};
    json_t *body = flow_user_unlock_in_pack (&in);
    if (!body)
        return ctl_bad ("users", "the username is not UTF-8 text", NULL);
    json_t *result = NULL;
    int rc = ctl_call_family (opts, "users", "flow.user_unlock", body, &result);
    flow_user_unlock_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("flow.user_unlock", flow_user_unlock_out_unpack (result, &out, why, sizeof why),
                           why);
    //  Either lock counts: the password's or the second factor's.
    bool pw = rc == CTL_OK && out.was_locked;
    bool codes = rc == CTL_OK && out.second_factor_was_locked;
    if (rc == CTL_OK)
        printf ("%s %s\n", argv[1],
                pw && codes ? "unlocked (password and second factor)"
                : pw        ? "unlocked"
                : codes     ? "unlocked (second factor)"
                            : "was not locked; its failure counts were cleared");
    json_decref (result);
    json_decref (body);
    return rc;
}

//  grant-admin and revoke-admin: flow.user_set_admin.
static int
s_set_admin (const ctl_opts_t *opts, int argc, char **argv, bool admin)
{
    if (argc != 2 || argv[1][0] == '-')
        return s_usage (stderr);
    flow_user_set_admin_in_t in = {.username = argv[1], .admin = admin, .has_admin = true};
    json_t *body = flow_user_set_admin_in_pack (&in);
    if (!body)
        return ctl_bad ("users", "the username is not UTF-8 text", NULL);
    json_t *result = NULL;
    int rc = ctl_call_family (opts, "users", "flow.user_set_admin", body, &result);
    flow_user_set_admin_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("flow.user_set_admin",
                           flow_user_set_admin_out_unpack (result, &out, why, sizeof why), why);
    if (rc == CTL_OK)
        printf ("%s %s the admin role\n", argv[1], out.admin ? "holds" : "no longer holds");
    json_decref (result);
    json_decref (body);
    return rc;
}

static int
s_grant_admin (const ctl_opts_t *opts, int argc, char **argv)
{
    return s_set_admin (opts, argc, argv, true);
}

static int
s_revoke_admin (const ctl_opts_t *opts, int argc, char **argv)
{
    return s_set_admin (opts, argc, argv, false);
}

//  The subcommand table.
static const ctl_subcmd_t s_commands[] = {
    {"add", s_add},
    {"list", s_list},
    {"show", s_show},
    {"passwd", s_passwd},
    {"disable", s_disable},
    {"unlock", s_unlock},
    {"grant-admin", s_grant_admin},
    {"revoke-admin", s_revoke_admin},
};

int
ctl_users (const ctl_opts_t *opts, int argc, char **argv)
{
    return ctl_dispatch (opts, "users", s_commands, sizeof s_commands / sizeof s_commands[0], s_usage, argc,
                         argv);
}
