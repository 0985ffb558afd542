/*  clients - `ostiaryctl clients ...`: manages the OAuth clients of token-svc
 *  over the bus (token.client_* of proto/ops.md). Results are printed as
 *  JSON on standard output; a client secret is printed once, when it is
 *  created (add, rotate-secret), and never again. */
#include "ctl.h"
#include "secure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Longest value a flag takes (the service applies the real limits).
#define ARG_MAX_BYTES 4096
#define DEMO_RP "demo-rp"
#define DEMO_PUBLIC "demo-public"

static int
s_usage (FILE *out)
{
    fprintf (
        out,
        "usage: ostiaryctl clients add [OPTIONS]\n"
        "       ostiaryctl clients list [--json]\n"
        "       ostiaryctl clients show CLIENT_ID\n"
        "       ostiaryctl clients remove CLIENT_ID\n"
        "       ostiaryctl clients update CLIENT_ID --version N [OPTIONS]\n"
        "       ostiaryctl clients rotate-secret CLIENT_ID [--overlap SECONDS] [--version N]\n"
        "       ostiaryctl clients seed-demo [--redirect-uri URI] [--secret-file PATH]\n"
        "\n"
        "add options (repeatable ones may be given several times):\n"
        "  --id ID                 client_id (default: generated); A-Z a-z 0-9 . _ ~ -, at most 64\n"
        "  --name NAME             display name shown on the consent page (default: the id)\n"
        "  --type TYPE             confidential (default) or public\n"
        "  --redirect-uri URI      registered redirect URI, matched exactly, except any port for\n"
        "                          http://127.0.0.1 and http://[::1] (repeatable; at least one)\n"
        "  --web-origin ORIGIN     browser origin allowed to call /token, /revoke, /introspect and\n"
        "                          /userinfo cross-origin (CORS), exactly scheme://host[:port] with no\n"
        "                          path or trailing slash (repeatable; default none)\n"
        "  --post-logout-redirect-uri URI\n"
        "                          where /logout may send the user back, matched exactly (repeatable;\n"
        "                          default none)\n"
        "  --backchannel-logout-uri URI\n"
        "                          receives logout tokens when a session the client took part in ends\n"
        "  --backchannel-logout-session-required\n"
        "                          the client needs sid in its logout tokens (they always carry it)\n"
        "  --frontchannel-logout-uri URI\n"
        "                          framed by the page after a logout of a session the client took part in\n"
        "  --frontchannel-logout-session-required\n"
        "                          iss and sid are added to the query of that URI\n"
        "  --refresh-bound-to-session\n"
        "                          refresh tokens issued without offline_access end with the SSO session\n"
        "  --scope SCOPE           allowed scope (repeatable, or space-separated): openid profile email\n"
        "                          address phone offline_access (default: openid)\n"
        "  --grant-type TYPE       authorization_code (default), refresh_token, client_credentials "
        "(repeatable)\n"
        "  --response-type TYPE    code (repeatable; default: code with the authorization_code grant)\n"
        "  --auth-method METHOD    client_secret_basic (default), client_secret_post; none for public "
        "clients\n"
        "  --id-token-alg ALG      RS256 (default), ES256 or EdDSA\n"
        "  --access-token-alg ALG  RS256, ES256 or EdDSA (default: OSTIARY_ACCESS_TOKEN_ALG)\n"
        "  --pkce | --no-pkce      require PKCE (default: the setting pkce_required; always for public "
        "clients)\n"
        "  --first-party           skip the consent page for this client\n"
        "  --always-refresh        a refresh token at every code exchange, even without offline_access\n"
        "                          (with the refresh_token grant)\n"
        "  --resource-server       may introspect the tokens of other clients (RFC 7662)\n"
        "  --refresh-grace SECONDS retry window: a client whose reply was lost may present a consumed\n"
        "                          refresh token again within SECONDS while its successor is unused, and\n"
        "                          gets a fresh one (0 to 300; default OSTIARY_REFRESH_GRACE, 0 = off)\n"
        "  --refresh-grace-uses N  how many retries within the window (0 to 10; default 3)\n"
        "\n"
        "\n"
        "update changes the options given (the add options but --id and --type; a repeatable one\n"
        "replaces the whole list) and keeps the rest. --version N is the version `clients show`\n"
        "printed: when the client changed since, nothing is changed (conflict, exit 1). Also:\n"
        "  --unset NAME            back to the default: access_token_alg, require_pkce (then the\n"
        "                          server's PKCE default applies), backchannel_logout_uri,\n"
        "                          frontchannel_logout_uri,\n"
        "                          access_token_lifetime, id_token_lifetime, refresh_grace,\n"
        "                          refresh_grace_uses (repeatable)\n"
        "  --access-token-lifetime SECONDS, --id-token-lifetime SECONDS\n"
        "                          this client's token lifetimes (1 to 86400; default the server's)\n"
        "  --disable | --enable    a disabled client is refused everywhere; disabling revokes its tokens\n"
        "  --not-first-party       ask users for consent again\n"
        "rotate-secret --overlap SECONDS keeps the old secret working that long (at most 604800,\n"
        "7 days; default 0: it stops at once).\n"
        "\n"
        "A confidential client's secret is generated by the server and printed once (add,\n"
        "rotate-secret); only a keyed hash of it is stored.\n"
        "seed-demo creates the demo clients of `make run` when they are missing (%s, confidential,\n"
        "secret written to --secret-file, default $OSTIARY_RUN_DIR/%s.secret; %s, public, PKCE),\n"
        "with the redirect URI $OSTIARY_ISSUER/demo/callback unless --redirect-uri is given.\n"
        "\n",
        DEMO_RP, DEMO_RP, DEMO_PUBLIC);
    ctl_print_exit_codes (out);
    return CTL_USAGE;
}

//  Calls op; on an error reply prints it (JSON on stdout, a line on stderr)
//  and returns its exit code (ctl_exit_for).
static int
s_call (const ctl_opts_t *opts, const char *what, const char *op, const json_t *body, json_t **result)
{
    bus_error_t error;
    int rc = ctl_bus_call (opts, op, body, result, &error);
    if (rc != CTL_ERROR_REPLY)
        return rc;
    json_t *out = json_pack ("{s:s, s:s}", "error", error.code, "error_description", error.description);
    char *text = out ? json_dumps (out, JSON_SORT_KEYS) : NULL;
    if (text)
        printf ("%s\n", text);
    free (text);
    json_decref (out);
    fprintf (stderr, "ostiaryctl: clients %s: %s: %s\n", what, error.code, error.description);
    return ctl_exit_for (&error);
}

static int
s_bad (const char *what, const char *message)
{
    fprintf (stderr, "ostiaryctl: clients %s: %s (see ostiaryctl clients --help)\n", what, message);
    return CTL_USAGE;
}

//  Appends value to the list *list (created when missing). The lists of a
//  request are this file's own until s_add_free.
static int
s_append (const json_t **list, const char *value)
{
    if (!*list)
        *list = json_array ();
    json_t *s = json_string (value);
    if (!*list || !s) {
        json_decref (s);
        return -1;
    }
    return json_array_append_new ((json_t *)*list, s);
}

//  --scope takes one scope or a space-separated list of them.
static int
s_append_scopes (const json_t **list, const char *value)
{
    char *copy = strdup (value);
    if (!copy)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r (copy, " ", &save); tok && rc == 0; tok = strtok_r (NULL, " ", &save))
        rc = s_append (list, tok);
    free (copy);
    return rc;
}

//  Frees the lists s_parse_add built.
static void
s_add_free (token_client_add_in_t *in)
{
    json_decref ((json_t *)in->redirect_uris);
    json_decref ((json_t *)in->grant_types);
    json_decref ((json_t *)in->response_types);
    json_decref ((json_t *)in->scopes);
    json_decref ((json_t *)in->allowed_web_origins);
    json_decref ((json_t *)in->post_logout_redirect_uris);
}

//  The flags of `add` that take a value: flag → member of the request
//  (a string, or a list when it repeats).
#define S_MEMBER(m) offsetof (token_client_add_in_t, m)
static const struct {
    const char *flag;
    size_t member;
    int list;
} s_value_flags[] = {
    {"--id", S_MEMBER (client_id), 0},
    {"--name", S_MEMBER (name), 0},
    {"--type", S_MEMBER (type), 0},
    {"--redirect-uri", S_MEMBER (redirect_uris), 1},
    {"--web-origin", S_MEMBER (allowed_web_origins), 1},
    {"--post-logout-redirect-uri", S_MEMBER (post_logout_redirect_uris), 1},
    {"--backchannel-logout-uri", S_MEMBER (backchannel_logout_uri), 0},
    {"--frontchannel-logout-uri", S_MEMBER (frontchannel_logout_uri), 0},
    {"--scope", S_MEMBER (scopes), 1},
    {"--grant-type", S_MEMBER (grant_types), 1},
    {"--response-type", S_MEMBER (response_types), 1},
    {"--auth-method", S_MEMBER (token_endpoint_auth_method), 0},
    {"--id-token-alg", S_MEMBER (id_token_signed_response_alg), 0},
    {"--access-token-alg", S_MEMBER (access_token_alg), 0},
};

//  Sets a flag's boolean member once. CTL_OK or CTL_USAGE.
static int
s_set_bool (const char *what, bool *member, bool *has, bool value)
{
    if (*has)
        return s_bad (what, "a flag is given twice");
    *member = value;
    *has = true;
    return CTL_OK;
}

//  Fills the token.client_add request from the flags (its strings point
//  into argv). CTL_OK or CTL_USAGE.
static int
s_parse_add (const char *what, int argc, char **argv, token_client_add_in_t *in)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc = -1;
        //  Refresh and introspection settings.
        if (strcmp (arg, "--always-refresh") == 0)
            rc = s_set_bool (what, &in->always_refresh, &in->has_always_refresh, true);
        else if (strcmp (arg, "--resource-server") == 0)
            rc = s_set_bool (what, &in->resource_server, &in->has_resource_server, true);
        else if (strcmp (arg, "--backchannel-logout-session-required") == 0)
            rc = s_set_bool (what, &in->backchannel_logout_session_required,
                             &in->has_backchannel_logout_session_required, true);
        else if (strcmp (arg, "--frontchannel-logout-session-required") == 0)
            rc = s_set_bool (what, &in->frontchannel_logout_session_required,
                             &in->has_frontchannel_logout_session_required, true);
        else if (strcmp (arg, "--refresh-bound-to-session") == 0)
            rc = s_set_bool (what, &in->refresh_bound_to_session, &in->has_refresh_bound_to_session, true);
        else if (strcmp (arg, "--first-party") == 0)
            rc = s_set_bool (what, &in->first_party, &in->has_first_party, true);
        else if (strcmp (arg, "--pkce") == 0 || strcmp (arg, "--no-pkce") == 0)
            rc = s_set_bool (what, &in->require_pkce, &in->has_require_pkce, strcmp (arg, "--no-pkce") != 0);
        if (rc == CTL_USAGE)
            return rc;
        if (rc == CTL_OK)
            continue;
        if (strcmp (arg, "--refresh-grace") == 0 || strcmp (arg, "--refresh-grace-uses") == 0) {
            int uses = strlen (arg) > 15;
            if (i + 1 >= argc)
                return s_bad (what, "--refresh-grace and --refresh-grace-uses need a number");
            const char *value = argv[++i];
            char *end = NULL;
            long n = strtol (value, &end, 10);
            if (!*value || *end || n < 0 || n > 100000)
                return s_bad (what, "--refresh-grace and --refresh-grace-uses need a number");
            bool *has = uses ? &in->has_refresh_grace_uses : &in->has_refresh_grace;
            if (*has)
                return s_bad (what, "a flag is given twice");
            *(uses ? &in->refresh_grace_uses : &in->refresh_grace) = n;
            *has = true;
            continue;
        }
        size_t k = 0, n = sizeof s_value_flags / sizeof s_value_flags[0];
        while (k < n && strcmp (arg, s_value_flags[k].flag) != 0)
            k++;
        if (k == n) {
            fprintf (stderr, "ostiaryctl: clients %s: unknown option %s\n", what, arg);
            return CTL_USAGE;
        }
        if (i + 1 >= argc) {
            fprintf (stderr, "ostiaryctl: clients %s: %s needs a value\n", what, arg);
            return CTL_USAGE;
        }
        const char *value = argv[++i];
        if (strlen (value) > ARG_MAX_BYTES) {
            fprintf (stderr, "ostiaryctl: clients %s: the value of %s is too long\n", what, arg);
            return CTL_USAGE;
        }
        char *member = (char *)in + s_value_flags[k].member;
        if (s_value_flags[k].member == S_MEMBER (scopes))
            rc = s_append_scopes ((const json_t **)member, value);
        else if (s_value_flags[k].list)
            rc = s_append ((const json_t **)member, value);
        else if (*(const char **)member) {
            fprintf (stderr, "ostiaryctl: clients %s: %s is given twice\n", what, arg);
            return CTL_USAGE;
        } else {
            rc = ctl_utf8 (value) ? 0 : -1;
            *(const char **)member = value;
        }
        if (rc) {
            fprintf (stderr, "ostiaryctl: clients %s: the value of %s is not valid UTF-8 text\n", what, arg);
            return CTL_USAGE;
        }
    }
    if (in->type && strcmp (in->type, "confidential") != 0 && strcmp (in->type, "public") != 0)
        return s_bad (what, "--type must be confidential or public");
    return CTL_OK;
}

static int
s_add (const ctl_opts_t *opts, int argc, char **argv)
{
    token_client_add_in_t in = {0};
    int rc = s_parse_add ("add", argc, argv, &in);
    json_t *body = rc == CTL_OK ? token_client_add_in_pack (&in) : NULL;
    if (rc == CTL_OK && !body)
        rc = CTL_ERROR_REPLY;
    json_t *result = NULL;
    if (rc == CTL_OK)
        rc = s_call (opts, "add", "token.client_add", body, &result);
    json_decref (body);
    s_add_free (&in);
    token_client_add_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("token.client_add", token_client_add_out_unpack (result, &out, why, sizeof why),
                           why);
    if (rc == CTL_OK) {
        ctl_print_json (result);
        if (out.client_secret)
            fprintf (stderr, "ostiaryctl: the client secret is shown this once; store it now\n");
    }
    json_decref (result);
    return rc;
}

//  list: a table for people, --json (token.client_list's answer) for scripts.
static int
s_list (const ctl_opts_t *opts, int argc, char **argv)
{
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--json"))
            as_json = 1;
        else
            return s_bad ("list", "unknown option");
    }
    json_t *result = NULL;
    int rc = s_call (opts, "list", "token.client_list", NULL, &result);
    token_client_list_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("token.client_list", token_client_list_out_unpack (result, &out, why, sizeof why),
                           why);
    if (rc == CTL_OK && as_json)
        ctl_print_json (result);
    else if (rc == CTL_OK) {
        printf ("%-32s %-12s %-11s %-20s %s\n", "CLIENT_ID", "TYPE", "CONSENT", "AUTH", "NAME");
        size_t i;
        json_t *c;
        json_array_foreach (out.clients, i, c)
        {
            shape_client_t client;
            rc = ctl_unpacked ("token.client_list", shape_client_unpack (c, &client, why, sizeof why), why);
            if (rc != CTL_OK)
                break;
            printf ("%-32s %-12s %-11s %-20s %s\n", client.client_id, client.type,
                    client.first_party ? "first-party" : "asked", client.token_endpoint_auth_method,
                    client.name);
        }
    }
    json_decref (result);
    return rc;
}

//  The requests of show, remove and rotate-secret: NULL when id is not
//  UTF-8 text (or memory ran out).
static json_t *
s_get_body (const char *id)
{
    token_client_get_in_t in = {.client_id = id};
    return token_client_get_in_pack (&in);
}

static json_t *
s_remove_body (const char *id)
{
    token_client_remove_in_t in = {.client_id = id};
    return token_client_remove_in_pack (&in);
}

static json_t *
s_rotate_body (const char *id)
{
    token_client_rotate_secret_in_t in = {.client_id = id};
    return token_client_rotate_secret_in_pack (&in);
}

//  show, remove, rotate-secret: one op on one client_id, whose result is
//  printed as it is.
static int
s_one (const ctl_opts_t *opts, int argc, char **argv, const char *op, json_t *(*pack) (const char *id))
{
    if (argc != 2 || argv[1][0] == '-')
        return s_bad (argv[0], "give exactly one CLIENT_ID");
    if (strlen (argv[1]) > ARG_MAX_BYTES)
        return s_bad (argv[0], "CLIENT_ID is too long");
    json_t *body = pack (argv[1]);
    if (!body)
        return s_bad (argv[0], "CLIENT_ID is not valid UTF-8 text");
    json_t *result = NULL;
    int rc = s_call (opts, argv[0], op, body, &result);
    json_decref (body);
    if (rc == CTL_OK)
        ctl_print_json (result);
    json_decref (result);
    return rc;
}

//  ------------------------------------------------------------- update, rotate-secret

//  A number flag's value within [min, max]. CTL_OK or CTL_USAGE.
static int
s_number (const char *what, const char *flag, const char *value, long long min, long long max, int64_t *out,
          bool *has)
{
    char *end = NULL;
    errno = 0;
    long long n = value ? strtoll (value, &end, 10) : 0;
    if (!value || !*value || *end || errno || n < min || n > max) {
        fprintf (stderr, "ostiaryctl: clients %s: %s needs a number from %lld to %lld\n", what, flag, min,
                 max);
        return CTL_USAGE;
    }
    if (*has)
        return s_bad (what, "a flag is given twice");
    *out = n;
    *has = true;
    return CTL_OK;
}

//  Fills the token.client_update request: the flags of `add` (but --id and
//  --type) give new values, the others are update's own. Its strings point
//  into argv; *unset is this function's (json_decref it). CTL_OK or
//  CTL_USAGE.
static int
s_parse_update (int argc, char **argv, token_client_update_in_t *in, token_client_add_in_t *add,
                json_t **unset)
{
    if (argc < 2 || argv[1][0] == '-' || strlen (argv[1]) > ARG_MAX_BYTES)
        return s_bad ("update", "give one CLIENT_ID, then the changes");
    in->client_id = argv[1];
    //  The flags of add are handed to s_parse_add (argv[0] stands for the
    //  command name it skips).
    char **rest = calloc ((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return CTL_ERROR_REPLY;
    int nrest = 0, rc = CTL_OK;
    rest[nrest++] = argv[0];
    for (int i = 2; i < argc && rc == CTL_OK; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp (arg, "--version") == 0)
            rc = s_number ("update", arg, value, 1, INT64_MAX, &in->version, &in->has_version), i++;
        else if (strcmp (arg, "--access-token-lifetime") == 0)
            rc = s_number ("update", arg, value, 1, 86400, &in->access_token_lifetime,
                           &in->has_access_token_lifetime),
            i++;
        else if (strcmp (arg, "--id-token-lifetime") == 0)
            rc =
                s_number ("update", arg, value, 1, 86400, &in->id_token_lifetime, &in->has_id_token_lifetime),
            i++;
        else if (strcmp (arg, "--disable") == 0 || strcmp (arg, "--enable") == 0)
            rc = s_set_bool ("update", &in->disabled, &in->has_disabled, strcmp (arg, "--disable") == 0);
        else if (strcmp (arg, "--not-first-party") == 0)
            rc = s_set_bool ("update", &add->first_party, &add->has_first_party, false);
        else if (strcmp (arg, "--unset") == 0) {
            if (!value || s_append ((const json_t **)unset, value))
                rc = s_bad ("update", "--unset needs a member name");
            i++;
        } else if (strcmp (arg, "--id") == 0 || strcmp (arg, "--type") == 0)
            rc = s_bad ("update", "the client_id and the type of a client cannot change");
        else
            rest[nrest++] = argv[i];
    }
    if (rc == CTL_OK)
        rc = s_parse_add ("update", nrest, rest, add);
    free (rest);
    if (rc == CTL_OK && !in->has_version)
        rc = s_bad ("update", "--version is required: the version shown by `clients show`");
    if (rc != CTL_OK)
        return rc;
    in->name = add->name;
    in->redirect_uris = add->redirect_uris;
    in->grant_types = add->grant_types;
    in->response_types = add->response_types;
    in->scopes = add->scopes;
    in->token_endpoint_auth_method = add->token_endpoint_auth_method;
    in->id_token_signed_response_alg = add->id_token_signed_response_alg;
    in->access_token_alg = add->access_token_alg;
    in->require_pkce = add->require_pkce;
    in->has_require_pkce = add->has_require_pkce;
    in->first_party = add->first_party;
    in->has_first_party = add->has_first_party;
    in->always_refresh = add->always_refresh;
    in->has_always_refresh = add->has_always_refresh;
    in->resource_server = add->resource_server;
    in->has_resource_server = add->has_resource_server;
    in->refresh_grace = add->refresh_grace;
    in->has_refresh_grace = add->has_refresh_grace;
    in->refresh_grace_uses = add->refresh_grace_uses;
    in->has_refresh_grace_uses = add->has_refresh_grace_uses;
    in->allowed_web_origins = add->allowed_web_origins;
    in->post_logout_redirect_uris = add->post_logout_redirect_uris;
    in->backchannel_logout_uri = add->backchannel_logout_uri;
    in->backchannel_logout_session_required = add->backchannel_logout_session_required;
    in->has_backchannel_logout_session_required = add->has_backchannel_logout_session_required;
    in->frontchannel_logout_uri = add->frontchannel_logout_uri;
    in->frontchannel_logout_session_required = add->frontchannel_logout_session_required;
    in->has_frontchannel_logout_session_required = add->has_frontchannel_logout_session_required;
    in->refresh_bound_to_session = add->refresh_bound_to_session;
    in->has_refresh_bound_to_session = add->has_refresh_bound_to_session;
    in->unset = *unset;
    return CTL_OK;
}

static int
s_update (const ctl_opts_t *opts, int argc, char **argv)
{
    token_client_update_in_t in = {0};
    token_client_add_in_t add = {0};
    json_t *unset = NULL;
    int rc = s_parse_update (argc, argv, &in, &add, &unset);
    json_t *body = rc == CTL_OK ? token_client_update_in_pack (&in) : NULL;
    if (rc == CTL_OK && !body)
        rc = s_bad ("update", "CLIENT_ID is not valid UTF-8 text");
    json_t *result = NULL;
    if (rc == CTL_OK)
        rc = s_call (opts, "update", "token.client_update", body, &result);
    json_decref (body);
    json_decref (unset);
    s_add_free (&add);
    token_client_update_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("token.client_update",
                           token_client_update_out_unpack (result, &out, why, sizeof why), why);
    if (rc == CTL_OK)
        ctl_print_json (result);
    json_decref (result);
    return rc;
}

static int
s_rotate (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-' || strlen (argv[1]) > ARG_MAX_BYTES)
        return s_bad ("rotate-secret", "give exactly one CLIENT_ID");
    token_client_rotate_secret_in_t in = {.client_id = argv[1]};
    int rc = CTL_OK;
    for (int i = 2; i < argc && rc == CTL_OK; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp (argv[i], "--overlap") == 0)
            rc = s_number ("rotate-secret", argv[i], value, 0, 604800, &in.overlap_seconds,
                           &in.has_overlap_seconds);
        else if (strcmp (argv[i], "--version") == 0)
            rc = s_number ("rotate-secret", argv[i], value, 1, INT64_MAX, &in.version, &in.has_version);
        else
            rc = s_bad ("rotate-secret", "unknown option");
        i++;
    }
    json_t *body = rc == CTL_OK ? token_client_rotate_secret_in_pack (&in) : NULL;
    if (rc == CTL_OK && !body)
        rc = s_bad ("rotate-secret", "CLIENT_ID is not valid UTF-8 text");
    json_t *result = NULL;
    if (rc == CTL_OK)
        rc = s_call (opts, "rotate-secret", "token.client_rotate_secret", body, &result);
    json_decref (body);
    if (rc == CTL_OK) {
        ctl_print_json (result);
        fprintf (stderr, "ostiaryctl: the client secret is shown this once; store it now\n");
    }
    json_decref (result);
    return rc;
}

//  ------------------------------------------------------------- seed-demo

//  Writes secret to path, readable by its owner only. 0 ok, -1 failure.
static int
s_write_secret (const char *path, const char *secret)
{
    //  The folder (OSTIARY_RUN_DIR) may not exist before keys-svc made it.
    char *dir = strdup (path);
    char *slash = dir ? strrchr (dir, '/') : NULL;
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir (dir, 0700) != 0 && errno != EEXIST) {
            free (dir);
            return -1;
        }
    }
    free (dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen (secret);
    int ok = fchmod (fd, 0600) == 0 && write (fd, secret, len) == (ssize_t)len && write (fd, "\n", 1) == 1;
    return close (fd) == 0 && ok ? 0 : -1;
}

//  1 when the client exists, 0 when not, -1 on another error (printed).
static int
s_exists (const ctl_opts_t *opts, const char *id)
{
    bus_client_t *client = ctl_bus_client (opts);
    if (!client)
        return -1;
    json_t *body = s_get_body (id);
    json_t *result = NULL;
    bus_error_t error;
    int rc = bus_client_call (client, "token.client_get", body, (int)opts->timeout_ms, &result, &error);
    bus_client_destroy (&client);
    json_decref (body);
    json_decref (result);
    if (rc == 0)
        return 1;
    if (error.err == OST_ERR_NOT_FOUND)
        return 0;
    fprintf (stderr, "ostiaryctl: clients seed-demo: %s: %s\n", error.code, error.description);
    return -1;
}

//  A new array of the strings of list (ending with NULL); NULL when memory
//  ran out.
static json_t *
s_strings (const char *const *list)
{
    json_t *array = json_array ();
    for (; array && *list; list++)
        if (json_array_append_new (array, json_string (*list))) {
            json_decref (array);
            return NULL;
        }
    return array;
}

//  Registers a demo client (token.client_add) and prints nothing; its
//  secret, when it has one, goes to *secret (free ()). CTL_OK or the
//  error's code (printed).
static int
s_seed_add (const ctl_opts_t *opts, token_client_add_in_t *in, const char *redirect,
            const char *const *scopes, char **secret)
{
    const char *redirects[] = {redirect, NULL};
    json_t *uris = s_strings (redirects), *scope_list = s_strings (scopes);
    in->redirect_uris = uris;
    in->scopes = scope_list;
    json_t *body = uris && scope_list ? token_client_add_in_pack (in) : NULL;
    json_decref (uris);
    json_decref (scope_list);
    if (!body)
        return s_bad ("seed-demo", "the redirect URI is not valid UTF-8 text");
    json_t *result = NULL;
    int rc = s_call (opts, "seed-demo", "token.client_add", body, &result);
    json_decref (body);
    token_client_add_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("token.client_add", token_client_add_out_unpack (result, &out, why, sizeof why),
                           why);
    if (rc == CTL_OK && out.client_secret && !(*secret = strdup (out.client_secret)))
        rc = CTL_ERROR_REPLY;
    json_decref (result);
    return rc;
}

//  Gives the demo client a new secret (token.client_rotate_secret) in
//  *secret (free ()). CTL_OK or the error's code (printed).
static int
s_seed_rotate (const ctl_opts_t *opts, const char *id, char **secret)
{
    json_t *body = s_rotate_body (id);
    json_t *result = NULL;
    int rc = body ? s_call (opts, "seed-demo", "token.client_rotate_secret", body, &result) : CTL_ERROR_REPLY;
    json_decref (body);
    token_client_rotate_secret_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc == CTL_OK)
        rc = ctl_unpacked ("token.client_rotate_secret",
                           token_client_rotate_secret_out_unpack (result, &out, why, sizeof why), why);
    if (rc == CTL_OK && !(*secret = strdup (out.client_secret)))
        rc = CTL_ERROR_REPLY;
    json_decref (result);
    return rc;
}

static int
s_seed_demo (const ctl_opts_t *opts, int argc, char **argv)
{
    const char *redirect = NULL, *secret_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp (argv[i], "--redirect-uri") == 0)
            redirect = argv[++i];
        else if (i + 1 < argc && strcmp (argv[i], "--secret-file") == 0)
            secret_file = argv[++i];
        else
            return s_bad ("seed-demo", "unknown option or missing value");
    }
    char default_redirect[1024], default_file[1024];
    if (!redirect) {
        const char *issuer = getenv ("OSTIARY_ISSUER");
        if (!issuer || !*issuer)
            issuer = "http://127.0.0.1:8080";
        size_t len = strlen (issuer);
        while (len > 0 && issuer[len - 1] == '/')
            len--;
        if (snprintf (default_redirect, sizeof default_redirect, "%.*s/demo/callback", (int)len, issuer) >=
            (int)sizeof default_redirect)
            return s_bad ("seed-demo", "OSTIARY_ISSUER is too long");
        redirect = default_redirect;
    }
    if (!secret_file) {
        const char *run = getenv ("OSTIARY_RUN_DIR");
        if (!run || !*run)
            run = "/tmp/ostiary";
        if (snprintf (default_file, sizeof default_file, "%s/%s.secret", run, DEMO_RP) >=
            (int)sizeof default_file)
            return s_bad ("seed-demo", "OSTIARY_RUN_DIR is too long");
        secret_file = default_file;
    }

    //  The confidential demo client: created once; its secret goes to a file
    //  (mode 0600), never to standard output (which `make run` logs). When
    //  the file was lost, the secret is rotated and written again.
    int exists = s_exists (opts, DEMO_RP);
    if (exists < 0)
        return CTL_ERROR_REPLY;
    char *secret = NULL;
    int rc = CTL_OK;
    if (!exists) {
        static const char *const scopes[] = {"openid", "profile", "email", "address", "phone", NULL};
        token_client_add_in_t in = {
            .client_id = DEMO_RP,
            .name = "Ostiary demo relying party",
            .type = "confidential",
            .token_endpoint_auth_method = "client_secret_basic",
            .first_party = false,
            .has_first_party = true,
        };
        rc = s_seed_add (opts, &in, redirect, scopes, &secret);
    } else if (access (secret_file, R_OK) != 0)
        rc = s_seed_rotate (opts, DEMO_RP, &secret);
    if (rc != CTL_OK)
        return rc;
    if (secret && s_write_secret (secret_file, secret)) {
        fprintf (stderr, "ostiaryctl: clients seed-demo: cannot write %s: %s\n", secret_file,
                 strerror (errno));
        secure_free_str (&secret);
        return CTL_ERROR_REPLY;
    }
    secure_free_str (&secret);
    printf ("%s: confidential client (client_secret_basic), redirect URI %s, secret in %s\n", DEMO_RP,
            redirect, secret_file);

    //  The public demo client: PKCE, no secret, first-party (no consent page).
    exists = s_exists (opts, DEMO_PUBLIC);
    if (exists < 0)
        return CTL_ERROR_REPLY;
    if (!exists) {
        static const char *const scopes[] = {"openid", "profile", "email", NULL};
        token_client_add_in_t in = {
            .client_id = DEMO_PUBLIC,
            .name = "Ostiary demo public client",
            .type = "public",
            .first_party = true,
            .has_first_party = true,
        };
        rc = s_seed_add (opts, &in, redirect, scopes, &secret);
        secure_free_str (&secret);
        if (rc != CTL_OK)
            return rc;
    }
    printf ("%s: public client (PKCE, first-party), redirect URI %s\n", DEMO_PUBLIC, redirect);
    return CTL_OK;
}

//  ------------------------------------------------------------- dispatch

static const struct {
    const char *name;
    int (*fn) (const ctl_opts_t *opts, int argc, char **argv);
    const char *op;                   //  for the one-client commands
    json_t *(*pack) (const char *id); //  their request
} s_subcommands[] = {
    {"add", s_add, NULL, NULL},
    {"list", s_list, NULL, NULL},
    {"show", NULL, "token.client_get", s_get_body},
    {"remove", NULL, "token.client_remove", s_remove_body},
    {"update", s_update, NULL, NULL},
    {"rotate-secret", s_rotate, NULL, NULL},
    {"seed-demo", s_seed_demo, NULL, NULL},
};

int
ctl_clients (const ctl_opts_t *opts, int argc, char **argv)
{
    if (argc >= 2 &&
        (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0)) {
        s_usage (stdout);
        return CTL_OK;
    }
    if (argc < 2)
        return s_usage (stderr);
    if (strcmp (argv[1], CTL_LIST_COMMANDS) == 0) {
        for (size_t k = 0; k < sizeof s_subcommands / sizeof s_subcommands[0]; k++)
            printf ("%s\n", s_subcommands[k].name);
        return CTL_OK;
    }
    for (size_t k = 0; k < sizeof s_subcommands / sizeof s_subcommands[0]; k++)
        if (strcmp (argv[1], s_subcommands[k].name) == 0) {
            for (int i = 2; i < argc; i++)
                if (strcmp (argv[i], "--help") == 0) {
                    s_usage (stdout);
                    return CTL_OK;
                }
            return s_subcommands[k].fn
                       ? s_subcommands[k].fn (opts, argc - 1, argv + 1)
                       : s_one (opts, argc - 1, argv + 1, s_subcommands[k].op, s_subcommands[k].pack);
        }
    fprintf (stderr, "ostiaryctl: clients: unknown command %s\n", argv[1]);
    return s_usage (stderr);
}
