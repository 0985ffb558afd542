/*  config - settings from defaults, an optional KEY=VALUE file and the
 *  environment (later wins). Every setting is one line of config.def; this
 *  file expands that table into a descriptor array and works from it, so a
 *  new setting never needs code here.
 *  Error messages name the variable and the problem, never the value: a
 *  value may be a password inside a connection string or a key. */
#include "config.h"

#include "bus_curve.h"

#include "b64url.h"
#include "cidr.h"
#include "log.h"
#include "secure.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

//  Longest value we accept for any setting; connection strings and URLs are
//  far shorter, and a bound keeps a broken file from becoming a huge string.
#define CONFIG_VALUE_MAX 4096

typedef enum { s_type_STR, s_type_INT } s_type_t;

typedef struct {
    const char *env;
    s_type_t type;
    const char *def;
    long min;
    long max;
    int flags;
    const char *desc;
    size_t offset;
} s_setting_t;

static const s_setting_t s_settings[] = {
#define CFG(field, env, type, def, min, max, flags, desc)                                                    \
    {env, s_type_##type, def, min, max, flags, desc, offsetof (config_t, field)},
#include "config.def"
#undef CFG
};
#define S_NSETTINGS (sizeof s_settings / sizeof s_settings[0])

//  Which process each CFG_REQ_x flag stands for, for the help text.
static const struct {
    int flag;
    const char *process;
} s_processes[] = {
    {CFG_REQ_GW, "gateway"},
    {CFG_REQ_TOK, "token-svc"},
    {CFG_REQ_FLOW, "flow-svc"},
    {CFG_REQ_KEYS, "keys-svc"},
};

static char **
s_str_slot (const config_t *self, const s_setting_t *s)
{
    return (char **)((char *)self + s->offset);
}

static long *
s_int_slot (const config_t *self, const s_setting_t *s)
{
    return (long *)((char *)self + s->offset);
}

static const s_setting_t *
s_lookup (const char *env_name)
{
    if (!env_name)
        return NULL;
    for (size_t i = 0; i < S_NSETTINGS; i++)
        if (strcmp (s_settings[i].env, env_name) == 0)
            return &s_settings[i];
    return NULL;
}

//  Strict decimal parse: optional sign, digits, nothing else. 0 ok, -1 not a
//  number, -2 does not fit a long.
static int
s_parse_long (const char *text, long *out)
{
    const char *p = text;
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit ((unsigned char)*p))
        return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit ((unsigned char)*q))
            return -1;
    errno = 0;
    long v = strtol (text, NULL, 10);
    if (errno == ERANGE)
        return -2;
    *out = v;
    return 0;
}

config_t *
config_new (void)
{
    config_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    for (size_t i = 0; i < S_NSETTINGS; i++) {
        const char *why;
        if (config_set (self, s_settings[i].env, s_settings[i].def, &why) != 0) {
            //  Only an allocation can fail here: config.def's defaults are
            //  checked by test_config_defaults_are_valid.
            config_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
config_destroy (config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    config_t *self = *self_p;
    for (size_t i = 0; i < S_NSETTINGS; i++)
        if (s_settings[i].type == s_type_STR)
            secure_free_str (s_str_slot (self, &s_settings[i]));
    free (self);
    *self_p = NULL;
}

int
config_set (config_t *self, const char *env_name, const char *value, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    const s_setting_t *s = s_lookup (env_name);
    if (!s) {
        *why = "unknown setting";
        return -1;
    }
    if (!value) {
        *why = "no value";
        return -1;
    }
    size_t len = strnlen (value, CONFIG_VALUE_MAX + 1);
    if (len > CONFIG_VALUE_MAX) {
        *why = "value too long";
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f) {
            *why = "value contains a control character";
            return -1;
        }
    if (s->type == s_type_INT) {
        long v;
        int rc = s_parse_long (value, &v);
        if (rc == -1) {
            *why = "not an integer";
            return -1;
        }
        if (rc == -2 || v < s->min || v > s->max) {
            *why = "out of range";
            return -1;
        }
        *s_int_slot (self, s) = v;
        return 0;
    }
    char *copy = strdup (value);
    if (!copy) {
        *why = "out of memory";
        return -1;
    }
    char **slot = s_str_slot (self, s);
    secure_free_str (slot);
    *slot = copy;
    return 0;
}

//  Trims ASCII white space at both ends of s, in place; returns the start.
static char *
s_trim (char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen (s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

int
config_load_file (config_t *self, const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fprintf (stderr, "config: cannot read %s: %s\n", path, strerror (errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    int rc = 0;
    while (getline (&line, &cap, file) >= 0) {
        lineno++;
        char *text = s_trim (line);
        if (*text == '\0' || *text == '#')
            continue;
        char *eq = strchr (text, '=');
        if (!eq) {
            fprintf (stderr, "config: %s:%d: expected KEY=VALUE\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = s_trim (text);
        char *value = s_trim (eq + 1);
        //  Docker's and systemd's env files allow one pair of quotes around a
        //  value; strip it so the same file works in both places.
        size_t vlen = strlen (value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }
        const char *why;
        if (config_set (self, key, value, &why) != 0) {
            //  The key is printed only when it is one of ours; an unknown key
            //  could be a value pasted on the wrong line.
            fprintf (stderr, "config: %s:%d: %s: %s\n", path, lineno, s_lookup (key) ? key : "(key)", why);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror (file)) {
        fprintf (stderr, "config: error reading %s\n", path);
        rc = -1;
    }
    //  The file may hold the database password and the key-encryption key.
    if (line)
        secure_wipe (line, cap);
    free (line);
    fclose (file);
    return rc;
}

int
config_load_env (config_t *self)
{
    int rc = 0;
    for (size_t i = 0; i < S_NSETTINGS; i++) {
        const char *value = getenv (s_settings[i].env);
        if (!value)
            continue;
        const char *why;
        if (config_set (self, s_settings[i].env, value, &why) != 0) {
            fprintf (stderr, "config: environment %s: %s\n", s_settings[i].env, why);
            rc = -1;
        }
    }
    return rc;
}

//  An issuer is an http(s) URL with a host and neither query nor fragment
//  (OpenID Connect Discovery §3, RFC 8414 §2). Returns a fixed reason or NULL.
static const char *
s_check_issuer (const char *url, int production)
{
    const char *host;
    if (strncmp (url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp (url, "http://", 7) == 0) {
        if (production)
            return "must use https in production";
        host = url + 7;
    } else
        return "must be an http or https URL";
    if (*host == '\0' || *host == '/')
        return "must name a host";
    if (strpbrk (url, "?#"))
        return "must not have a query or fragment";
    return NULL;
}

//  host:port with a port in 1..65535.
//  One broker endpoint, or a list of them (bus_endpoint_nth): each a
//  tcp://, ipc:// or inproc:// endpoint.
static int
s_valid_bus_endpoints (const char *list)
{
    int n = bus_endpoint_count (list);
    char one[BUS_ENDPOINT_MAX + 1];
    for (int i = 0; i < n; i++) {
        if (bus_endpoint_nth (list, i, one, sizeof one))
            return 0;
        if (strncmp (one, "tcp://", 6) != 0 && strncmp (one, "ipc://", 6) != 0 &&
            strncmp (one, "inproc://", 9) != 0)
            return 0;
    }
    return n > 0;
}

static int
s_valid_listen (const char *listen)
{
    const char *colon = strrchr (listen, ':');
    if (!colon || colon == listen)
        return 0;
    long port;
    if (s_parse_long (colon + 1, &port) != 0 || colon[1] == '-' || colon[1] == '+')
        return 0;
    return port >= 1 && port <= 65535;
}

//  host:port with a port in 0..65535 (0: any free port).
static int
s_valid_listen_any (const char *listen)
{
    const char *colon = strrchr (listen, ':');
    if (!colon || colon == listen)
        return 0;
    long port;
    if (s_parse_long (colon + 1, &port) != 0 || colon[1] == '-' || colon[1] == '+')
        return 0;
    return port >= 0 && port <= 65535;
}

int
config_validate (const config_t *self, int req_flag)
{
    int rc = 0;
    for (size_t i = 0; i < S_NSETTINGS; i++) {
        const s_setting_t *s = &s_settings[i];
        if (s->type == s_type_STR && (s->flags & req_flag & ~CFG_SECRET)) {
            const char *v = *s_str_slot (self, s);
            if (!v || !*v) {
                fprintf (stderr, "config: %s is required by this process\n", s->env);
                rc = -1;
            }
        }
    }
    int production = strcmp (self->mode, "production") == 0;
    if (!production && strcmp (self->mode, "development") != 0) {
        fprintf (stderr, "config: OSTIARY_MODE must be development or production\n");
        rc = -1;
    }
    if (log_level_parse (self->log_level) < 0) {
        fprintf (stderr, "config: OSTIARY_LOG_LEVEL must be debug, info, warn or error\n");
        rc = -1;
    }
    if (log_format_parse (self->log_format) < 0) {
        fprintf (stderr, "config: OSTIARY_LOG_FORMAT must be logfmt or json\n");
        rc = -1;
    }
    if (self->otlp_endpoint[0] && strncmp (self->otlp_endpoint, "http://", 7) != 0 &&
        strncmp (self->otlp_endpoint, "https://", 8) != 0) {
        fprintf (stderr, "config: OSTIARY_OTLP_ENDPOINT must be an http:// or https:// URL\n");
        rc = -1;
    }
    const char *why = s_check_issuer (self->issuer, production);
    if (why) {
        fprintf (stderr, "config: OSTIARY_ISSUER %s\n", why);
        rc = -1;
    }
    if (!s_valid_listen (self->http_listen)) {
        fprintf (stderr, "config: OSTIARY_HTTP_LISTEN must be host:port\n");
        rc = -1;
    }
    if (*self->metrics_listen && strcmp (self->metrics_listen, "off") != 0 &&
        !s_valid_listen_any (self->metrics_listen)) {
        fprintf (stderr, "config: OSTIARY_METRICS_LISTEN must be host:port, empty or off\n");
        rc = -1;
    }
    //  The message names the problem, never the value (config.c's rule).
    cidr_set_t *proxies = cidr_set_new (self->trusted_proxies, &why);
    if (!proxies) {
        fprintf (stderr,
                 "config: OSTIARY_TRUSTED_PROXIES must be a comma-separated list of IPv4 or IPv6 CIDR "
                 "blocks (e.g. 10.0.0.0/8,fd00::/8): %s\n",
                 why);
        rc = -1;
    }
    cidr_set_destroy (&proxies);
    if (!s_valid_bus_endpoints (self->bus_endpoint)) {
        fprintf (stderr, "config: OSTIARY_BUS_ENDPOINT must be a tcp://, ipc:// or inproc:// endpoint, or a "
                         "comma-separated list of at most 16 of them (one per gateway)\n");
        rc = -1;
    }
    //  The bus authenticates its peers in every mode; only a development
    //  set-up may turn that off (and says so at every start).
    if (!self->bus_curve && production) {
        fprintf (stderr,
                 "config: OSTIARY_BUS_CURVE=0 is refused in production mode: the bus must use CURVE\n");
        rc = -1;
    }
    if (self->bus_curve && (req_flag & (CFG_REQ_GW | CFG_REQ_TOK | CFG_REQ_FLOW | CFG_REQ_KEYS))) {
        if (!*self->bus_cert) {
            fprintf (stderr,
                     "config: OSTIARY_BUS_CERT is required while OSTIARY_BUS_CURVE=1 (this process's CURVE "
                     "certificate; make a key set with `ostiaryctl bus keygen DIR`)\n");
            rc = -1;
        }
        if (!*self->bus_peers) {
            fprintf (stderr,
                     "config: OSTIARY_BUS_PEERS is required while OSTIARY_BUS_CURVE=1 (the folder of the "
                     "role folders of public keys)\n");
            rc = -1;
        }
    }
    //  The 32-byte keys are checked wherever they are set, so that a typo is
    //  found by --check-config rather than when a service first uses one.
    const struct {
        const char *value, *env;
    } keys[] = {{self->kek, "OSTIARY_KEK"},
                {self->client_secret_key, "OSTIARY_CLIENT_SECRET_KEY"},
                {self->flow_secret_key, "OSTIARY_FLOW_SECRET_KEY"},
                {self->console_key, "OSTIARY_CONSOLE_KEY"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!keys[i].value || !*keys[i].value)
            continue;
        unsigned char key[33];
        long n = b64url_decode (keys[i].value, strlen (keys[i].value), key, sizeof key);
        secure_wipe (key, sizeof key);
        if (n != 32) {
            fprintf (stderr, "config: %s must be 32 bytes in base64url without padding\n", keys[i].env);
            rc = -1;
        }
    }
    return rc;
}

void
config_print (const config_t *self, FILE *out)
{
    for (size_t i = 0; i < S_NSETTINGS; i++) {
        const s_setting_t *s = &s_settings[i];
        if (s->type == s_type_INT)
            fprintf (out, "%s=%ld\n", s->env, *s_int_slot (self, s));
        else {
            const char *v = *s_str_slot (self, s);
            if (s->flags & CFG_SECRET)
                fprintf (out, "%s=%s\n", s->env, v && *v ? "(set)" : "(unset)");
            else
                fprintf (out, "%s=%s\n", s->env, v ? v : "");
        }
    }
}

static void
s_usage (FILE *out, const char *program)
{
    fprintf (out,
             "usage: %s [--config FILE] [--check-config] [--help]\n"
             "\n"
             "  --config FILE   read KEY=VALUE lines from FILE; the environment overrides them\n"
             "  --check-config  validate the settings, print them (secrets masked) and exit\n"
             "  --help          print this help and exit\n"
             "\n"
             "Settings (environment variables, or lines of the --config file):\n",
             program);
    for (size_t i = 0; i < S_NSETTINGS; i++) {
        const s_setting_t *s = &s_settings[i];
        fprintf (out, "  %s (", s->env);
        if (s->type == s_type_INT)
            fprintf (out, "integer %ld..%ld, default %s", s->min, s->max, s->def);
        else if (s->flags & CFG_SECRET)
            fprintf (out, "secret");
        else
            fprintf (out, "default \"%s\"", s->def);
        const char *sep = "; required by ";
        for (size_t p = 0; p < sizeof s_processes / sizeof s_processes[0]; p++)
            if (s->flags & s_processes[p].flag) {
                fprintf (out, "%s%s", sep, s_processes[p].process);
                sep = ", ";
            }
        fprintf (out, ")\n      %s\n", s->desc);
    }
}

config_t *
config_load (int argc, char **argv, const char *program, int req_flag, int *exit_code)
{
    int dummy;
    if (!exit_code)
        exit_code = &dummy;
    if (!program)
        program = argc > 0 && argv[0] ? argv[0] : "ostiary";
    const char *path = NULL;
    int check = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_usage (stdout, program);
            *exit_code = 0;
            return NULL;
        } else if (strcmp (arg, "--check-config") == 0)
            check = 1;
        else if (strcmp (arg, "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp (arg, "--config=", 9) == 0 && arg[9])
            path = arg + 9;
        else {
            if (strcmp (arg, "--config") == 0)
                fprintf (stderr, "%s: --config needs a FILE\n", program);
            else if (arg[0] == '-')
                //  Only the option's name: what follows '=' may be a secret.
                fprintf (stderr, "%s: unknown option %.*s\n", program, (int)strcspn (arg, "="), arg);
            else
                //  A stray word may be a value typed on the wrong line of a
                //  script (a password, say): it is not echoed.
                fprintf (stderr, "%s: unexpected argument\n", program);
            s_usage (stderr, program);
            *exit_code = 2;
            return NULL;
        }
    }

    config_t *self = config_new ();
    if (!self) {
        fprintf (stderr, "%s: out of memory\n", program);
        *exit_code = 2;
        return NULL;
    }
    int rc = 0;
    if (path && config_load_file (self, path) != 0)
        rc = -1;
    if (rc == 0 && config_load_env (self) != 0)
        rc = -1;
    if (rc == 0 && config_validate (self, req_flag) != 0)
        rc = -1;
    if (check) {
        config_print (self, stdout);
        fflush (stdout);
        if (rc == 0)
            fprintf (stderr, "%s: configuration OK\n", program);
        config_destroy (&self);
        *exit_code = rc == 0 ? 0 : 2;
        return NULL;
    }
    if (rc != 0) {
        config_destroy (&self);
        *exit_code = 2;
        return NULL;
    }
    *exit_code = 0;
    return self;
}
