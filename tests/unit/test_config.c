/*  Unit tests of configuration: defaults, the KEY=VALUE file, the
 *  environment (which wins), per-process validation, and the start-up
 *  command line (--config, --check-config, --help). Secrets must never
 *  appear in anything printed. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

//  Every variable of the table, expanded here as config.c does.
static const char *const s_env_names[] = {
#define CFG(field, env, type, def, min, max, flags, desc) env,
#include "config.def"
#undef CFG
};

//  A valid key-encryption key: 32 bytes of 0x01, base64url.
#define GOOD_KEK "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"

//  --- capturing stdout and stderr -------------------------------------------

typedef struct {
    int fd;
    int saved;
    FILE *file;
} s_capture_t;

static void
s_capture_begin (s_capture_t *cap, int fd)
{
    fflush (stdout);
    fflush (stderr);
    cap->fd = fd;
    cap->file = tmpfile ();
    assert_non_null (cap->file);
    cap->saved = dup (fd);
    assert_true (dup2 (fileno (cap->file), fd) >= 0);
}

static char *
s_capture_end (s_capture_t *cap)
{
    fflush (stdout);
    fflush (stderr);
    dup2 (cap->saved, cap->fd);
    close (cap->saved);
    fseek (cap->file, 0, SEEK_END);
    long size = ftell (cap->file);
    assert_true (size >= 0);
    rewind (cap->file);
    char *text = calloc (1, (size_t)size + 1);
    assert_non_null (text);
    assert_int_equal (fread (text, 1, (size_t)size, cap->file), (size_t)size);
    fclose (cap->file);
    return text;
}

//  --- fixtures ----------------------------------------------------------------

static char s_file[64];

//  Removes every OSTIARY_ setting from the environment, so that the
//  harness's own variables cannot change what a test sees.
static int
s_setup (void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_env_names / sizeof s_env_names[0]; i++)
        unsetenv (s_env_names[i]);
    s_file[0] = '\0';
    return 0;
}

static int
s_teardown (void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_env_names / sizeof s_env_names[0]; i++)
        unsetenv (s_env_names[i]);
    if (s_file[0])
        unlink (s_file);
    return 0;
}

static const char *
s_write_file (const char *text)
{
    snprintf (s_file, sizeof s_file, "/tmp/ostiary-test-config-XXXXXX");
    int fd = mkstemp (s_file);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
    close (fd);
    return s_file;
}

//  --- defaults and config_set -----------------------------------------------

static void
test_config_defaults_are_valid (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    assert_non_null (cfg);
    assert_string_equal (cfg->issuer, "http://127.0.0.1:8080");
    assert_string_equal (cfg->bus_endpoint, "tcp://127.0.0.1:5555");
    assert_int_equal (cfg->http_threads, 512);
    assert_int_equal (cfg->heartbeat_liveness, 3);
    assert_string_equal (cfg->db, "");
    assert_int_equal (config_validate (cfg, 0), 0);
    assert_int_equal (cfg->bus_curve, 1);
    //  The gateway needs nothing that has no default but its bus keys.
    s_capture_t cap;
    s_capture_begin (&cap, STDERR_FILENO);
    int gw = config_validate (cfg, CFG_REQ_GW);
    free (s_capture_end (&cap));
    assert_int_equal (gw, -1);
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_CERT", "/etc/ostiary/bus/gateway.key", NULL), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_PEERS", "/etc/ostiary/bus/peers", NULL), 0);
    assert_int_equal (config_validate (cfg, CFG_REQ_GW), 0);
    config_destroy (&cfg);
    assert_null (cfg);
    config_destroy (&cfg);
}

static void
test_config_set_parses_ints_and_strings (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    const char *why = NULL;
    assert_int_equal (config_set (cfg, "OSTIARY_HTTP_THREADS", "32", &why), 0);
    assert_int_equal (cfg->http_threads, 32);
    assert_int_equal (config_set (cfg, "OSTIARY_HTTP_THREADS", "+8", &why), 0);
    assert_int_equal (cfg->http_threads, 8);
    assert_int_equal (config_set (cfg, "OSTIARY_ISSUER", "https://id.example.com", &why), 0);
    assert_string_equal (cfg->issuer, "https://id.example.com");
    assert_int_equal (config_set (cfg, "OSTIARY_JWKS_MAX_AGE", "0", NULL), 0);
    assert_int_equal (cfg->jwks_max_age, 0);
    config_destroy (&cfg);
}

static void
test_config_rejects_out_of_range_int (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    const char *why = NULL;
    assert_int_equal (config_set (cfg, "OSTIARY_HTTP_THREADS", "0", &why), -1);
    assert_string_equal (why, "out of range");
    assert_int_equal (config_set (cfg, "OSTIARY_HTTP_THREADS", "901", &why), -1);
    assert_int_equal (config_set (cfg, "OSTIARY_HTTP_THREADS", "99999999999999999999999", &why), -1);
    assert_string_equal (why, "out of range");
    assert_int_equal (config_set (cfg, "OSTIARY_HTTP_THREADS", "-1", &why), -1);
    //  A rejected value leaves the setting as it was.
    assert_int_equal (cfg->http_threads, 512);
    assert_int_equal (config_set (cfg, "OSTIARY_HTTP_THREADS", "900", &why), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_HTTP_THREADS", "1", &why), 0);
    config_destroy (&cfg);
}

static void
test_config_rejects_non_integer (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    const char *bad[] = {"", "12abc", " 5", "5 ", "0x10", "1e3", "-", "4.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        assert_int_equal (config_set (cfg, "OSTIARY_WORKERS", bad[i], &why), -1);
        assert_string_equal (why, "not an integer");
    }
    assert_int_equal (cfg->workers, 4);
    config_destroy (&cfg);
}

static void
test_config_rejects_unknown_name_and_control_bytes (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    const char *why = NULL;
    assert_int_equal (config_set (cfg, "OSTIARY_NOPE", "1", &why), -1);
    assert_string_equal (why, "unknown setting");
    assert_int_equal (config_set (cfg, NULL, "1", &why), -1);
    assert_int_equal (config_set (cfg, "OSTIARY_ISSUER", "https://a\n.example", &why), -1);
    assert_string_equal (cfg->issuer, "http://127.0.0.1:8080");
    assert_int_equal (config_set (cfg, "OSTIARY_ISSUER", NULL, &why), -1);
    config_destroy (&cfg);
}

//  --- the file and the environment ------------------------------------------

static void
test_config_file_sets_values (void **state)
{
    (void)state;
    const char *path = s_write_file ("# Ostiary settings\n"
                                     "\n"
                                     "OSTIARY_ISSUER=https://id.example.com\n"
                                     "  OSTIARY_WORKERS = 7  \r\n"
                                     "OSTIARY_DB=\"host=db user=token password=p w\"\n"
                                     "OSTIARY_MODE='production'\n"
                                     "OSTIARY_LOG_LEVEL=debug");
    config_t *cfg = config_new ();
    assert_int_equal (config_load_file (cfg, path), 0);
    assert_string_equal (cfg->issuer, "https://id.example.com");
    assert_int_equal (cfg->workers, 7);
    assert_string_equal (cfg->db, "host=db user=token password=p w");
    assert_string_equal (cfg->mode, "production");
    assert_string_equal (cfg->log_level, "debug");
    config_destroy (&cfg);
}

static void
test_config_file_bad_line_names_file_line_and_variable_not_value (void **state)
{
    (void)state;
    const char *path = s_write_file ("OSTIARY_ISSUER=https://id.example.com\n"
                                     "# comment\n"
                                     "OSTIARY_HTTP_THREADS=hunter2\n");
    config_t *cfg = config_new ();
    s_capture_t cap;
    s_capture_begin (&cap, STDERR_FILENO);
    int rc = config_load_file (cfg, path);
    char *err = s_capture_end (&cap);
    assert_int_equal (rc, -1);
    char where[128];
    snprintf (where, sizeof where, "%s:3: OSTIARY_HTTP_THREADS: not an integer", path);
    assert_non_null (strstr (err, where));
    assert_null (strstr (err, "hunter2"));
    free (err);
    config_destroy (&cfg);
}

static void
test_config_file_rejects_unknown_key_and_missing_equals (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    s_capture_t cap;
    s_capture_begin (&cap, STDERR_FILENO);
    int unknown = config_load_file (cfg, s_write_file ("OSTIARY_ISSUER=https://a.example\nOSTIARY_TYPO=1\n"));
    unlink (s_file);
    int no_equals = config_load_file (cfg, s_write_file ("my-password-on-a-line\n"));
    int missing = config_load_file (cfg, "/nonexistent/ostiary.conf");
    char *err = s_capture_end (&cap);
    assert_int_equal (unknown, -1);
    assert_int_equal (no_equals, -1);
    assert_int_equal (missing, -1);
    assert_non_null (strstr (err, ":2: (key): unknown setting"));
    assert_non_null (strstr (err, ":1: expected KEY=VALUE"));
    assert_non_null (strstr (err, "cannot read /nonexistent/ostiary.conf"));
    assert_null (strstr (err, "my-password"));
    free (err);
    config_destroy (&cfg);
}

static void
test_config_env_sets_known_variables_only (void **state)
{
    (void)state;
    setenv ("OSTIARY_WORKERS", "9", 1);
    setenv ("OSTIARY_KEK", GOOD_KEK, 1);
    setenv ("OSTIARY_NOT_A_SETTING", "x", 1);
    config_t *cfg = config_new ();
    assert_int_equal (config_load_env (cfg), 0);
    assert_int_equal (cfg->workers, 9);
    assert_string_equal (cfg->kek, GOOD_KEK);
    config_destroy (&cfg);
    unsetenv ("OSTIARY_NOT_A_SETTING");
}

static void
test_config_env_bad_value_names_variable_not_value (void **state)
{
    (void)state;
    setenv ("OSTIARY_BUS_MAX_MSG", "s3cr3t-value", 1);
    config_t *cfg = config_new ();
    s_capture_t cap;
    s_capture_begin (&cap, STDERR_FILENO);
    int rc = config_load_env (cfg);
    char *err = s_capture_end (&cap);
    assert_int_equal (rc, -1);
    assert_non_null (strstr (err, "OSTIARY_BUS_MAX_MSG: not an integer"));
    assert_null (strstr (err, "s3cr3t"));
    free (err);
    config_destroy (&cfg);
}

static void
test_config_env_overrides_file (void **state)
{
    (void)state;
    const char *path = s_write_file ("OSTIARY_WORKERS=2\nOSTIARY_ISSUER=https://file.example\n");
    setenv ("OSTIARY_WORKERS", "5", 1);
    char *argv[] = {"token-svc", "--config", (char *)path, NULL};
    int code = -1;
    config_t *cfg = config_load (3, argv, "token-svc", 0, &code);
    assert_non_null (cfg);
    assert_int_equal (code, 0);
    assert_int_equal (cfg->workers, 5);
    assert_string_equal (cfg->issuer, "https://file.example");
    config_destroy (&cfg);

    //  --config=FILE is the same thing.
    char arg[128];
    snprintf (arg, sizeof arg, "--config=%s", path);
    char *argv2[] = {"token-svc", arg, NULL};
    cfg = config_load (2, argv2, "token-svc", 0, &code);
    assert_non_null (cfg);
    assert_int_equal (cfg->workers, 5);
    config_destroy (&cfg);
}

//  --- validation ----------------------------------------------------------------

static void
test_config_validate_requires_what_each_process_needs (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_CERT", "/etc/ostiary/bus/token.key", NULL), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_PEERS", "/etc/ostiary/bus/peers", NULL), 0);
    s_capture_t cap;
    s_capture_begin (&cap, STDERR_FILENO);
    int tok = config_validate (cfg, CFG_REQ_TOK);
    int keys = config_validate (cfg, CFG_REQ_KEYS);
    char *err = s_capture_end (&cap);
    assert_int_equal (tok, -1);
    assert_int_equal (keys, -1);
    assert_non_null (strstr (err, "OSTIARY_DB is required"));
    assert_non_null (strstr (err, "OSTIARY_KEK is required"));
    free (err);

    assert_int_equal (config_set (cfg, "OSTIARY_DB", "dbname=ostiary", NULL), 0);
    //  token-svc also needs the key of its client-secret hashes.
    assert_int_equal (config_validate (cfg, CFG_REQ_TOK), -1);
    assert_int_equal (config_set (cfg, "OSTIARY_CLIENT_SECRET_KEY", GOOD_KEK, NULL), 0);
    assert_int_equal (config_validate (cfg, CFG_REQ_TOK), 0);
    //  flow-svc needs its own key (action tokens, codes, sealed secrets).
    s_capture_begin (&cap, STDERR_FILENO);
    int flow = config_validate (cfg, CFG_REQ_FLOW);
    err = s_capture_end (&cap);
    assert_int_equal (flow, -1);
    assert_non_null (strstr (err, "OSTIARY_FLOW_SECRET_KEY is required"));
    free (err);
    assert_int_equal (config_set (cfg, "OSTIARY_FLOW_SECRET_KEY", GOOD_KEK, NULL), 0);
    assert_int_equal (config_validate (cfg, CFG_REQ_FLOW), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_KEK", GOOD_KEK, NULL), 0);
    assert_int_equal (config_validate (cfg, CFG_REQ_KEYS), 0);
    config_destroy (&cfg);
}

static void
test_config_bus_curve_off_only_in_development (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_CURVE", "0", NULL), 0);
    //  development: no bus keys needed with CURVE off
    assert_int_equal (config_validate (cfg, CFG_REQ_GW), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_MODE", "production", NULL), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_ISSUER", "https://id.example.org", NULL), 0);
    s_capture_t cap;
    s_capture_begin (&cap, STDERR_FILENO);
    int rc = config_validate (cfg, CFG_REQ_GW);
    char *err = s_capture_end (&cap);
    assert_int_equal (rc, -1);
    assert_non_null (strstr (err, "OSTIARY_BUS_CURVE=0 is refused in production"));
    free (err);
    //  production with CURVE: the keys, each named when missing
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_CURVE", "1", NULL), 0);
    s_capture_begin (&cap, STDERR_FILENO);
    rc = config_validate (cfg, CFG_REQ_FLOW);
    err = s_capture_end (&cap);
    assert_int_equal (rc, -1);
    assert_non_null (strstr (err, "OSTIARY_BUS_CERT is required"));
    assert_non_null (strstr (err, "OSTIARY_BUS_PEERS is required"));
    free (err);
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_CERT", "/k/gateway.key", NULL), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_PEERS", "/k/peers", NULL), 0);
    assert_int_equal (config_validate (cfg, CFG_REQ_GW), 0);
    //  a process that is no bus peer (0) needs none
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_CERT", "", NULL), 0);
    assert_int_equal (config_validate (cfg, 0), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_CURVE", "2", NULL), -1);
    config_destroy (&cfg);
}

static void
test_config_validate_rejects_bad_kek_without_printing_it (void **state)
{
    (void)state;
    //  Every 32-byte key is checked the same way.
    const char *names[] = {"OSTIARY_KEK", "OSTIARY_CLIENT_SECRET_KEY", "OSTIARY_FLOW_SECRET_KEY"};
    //  31 bytes, then 32 bytes with padding: neither is the documented form.
    const char *bad[] = {"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ",
                         "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "not base64 at all"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        config_t *cfg = config_new ();
        char expected[80];
        snprintf (expected, sizeof expected, "%s must be 32 bytes", names[k]);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            assert_int_equal (config_set (cfg, names[k], bad[i], NULL), 0);
            s_capture_t cap;
            s_capture_begin (&cap, STDERR_FILENO);
            int rc = config_validate (cfg, 0);
            char *err = s_capture_end (&cap);
            assert_int_equal (rc, -1);
            assert_non_null (strstr (err, expected));
            assert_null (strstr (err, bad[i]));
            free (err);
        }
        assert_int_equal (config_set (cfg, names[k], GOOD_KEK, NULL), 0);
        assert_int_equal (config_validate (cfg, 0), 0);
        config_destroy (&cfg);
    }
}

static void
test_config_validate_rejects_bad_issuer_mode_and_level (void **state)
{
    (void)state;
    const struct {
        const char *env, *value, *message;
    } cases[] = {
        {"OSTIARY_ISSUER", "ftp://id.example", "OSTIARY_ISSUER must be an http or https URL"},
        {"OSTIARY_ISSUER", "https://id.example/?x=1", "OSTIARY_ISSUER must not have a query or fragment"},
        {"OSTIARY_ISSUER", "https://id.example#f", "OSTIARY_ISSUER must not have a query or fragment"},
        {"OSTIARY_ISSUER", "https://", "OSTIARY_ISSUER must name a host"},
        {"OSTIARY_MODE", "staging", "OSTIARY_MODE must be development or production"},
        {"OSTIARY_LOG_LEVEL", "verbose", "OSTIARY_LOG_LEVEL must be"},
        {"OSTIARY_HTTP_LISTEN", "8080", "OSTIARY_HTTP_LISTEN must be host:port"},
        {"OSTIARY_HTTP_LISTEN", "127.0.0.1:70000", "OSTIARY_HTTP_LISTEN must be host:port"},
        {"OSTIARY_METRICS_LISTEN", "9464", "OSTIARY_METRICS_LISTEN must be host:port, empty or off"},
        {"OSTIARY_METRICS_LISTEN", "127.0.0.1:-1", "OSTIARY_METRICS_LISTEN must be host:port, empty or off"},
        {"OSTIARY_METRICS_LISTEN", "127.0.0.1:65536",
         "OSTIARY_METRICS_LISTEN must be host:port, empty or off"},
        {"OSTIARY_METRICS_LISTEN", "no", "OSTIARY_METRICS_LISTEN must be host:port, empty or off"},
        {"OSTIARY_BUS_ENDPOINT", "127.0.0.1:5555", "OSTIARY_BUS_ENDPOINT must be"},
        {"OSTIARY_BUS_ENDPOINT", "tcp://a:1,", "OSTIARY_BUS_ENDPOINT must be"},
        {"OSTIARY_BUS_ENDPOINT", "tcp://a:1,http://b:2", "OSTIARY_BUS_ENDPOINT must be"},
        {"OSTIARY_BUS_ENDPOINT", " , ", "OSTIARY_BUS_ENDPOINT must be"},
        {"OSTIARY_TRUSTED_PROXIES", "10.0.0.0/33", "OSTIARY_TRUSTED_PROXIES must be a comma-separated list"},
        {"OSTIARY_TRUSTED_PROXIES", "10.0.0.0/8,", "OSTIARY_TRUSTED_PROXIES must be a comma-separated list"},
        {"OSTIARY_TRUSTED_PROXIES", "proxy.example",
         "OSTIARY_TRUSTED_PROXIES must be a comma-separated list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config_t *cfg = config_new ();
        assert_int_equal (config_set (cfg, cases[i].env, cases[i].value, NULL), 0);
        s_capture_t cap;
        s_capture_begin (&cap, STDERR_FILENO);
        int rc = config_validate (cfg, 0);
        char *err = s_capture_end (&cap);
        assert_int_equal (rc, -1);
        if (!strstr (err, cases[i].message))
            fail_msg ("%s=%s: got '%s'", cases[i].env, cases[i].value, err);
        free (err);
        config_destroy (&cfg);
    }
}

static void
test_config_metrics_listen_takes_host_port_empty_or_off (void **state)
{
    (void)state;
    const char *good[] = {"", "off", "127.0.0.1:9464", "0.0.0.0:0", "[::1]:9464"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        config_t *cfg = config_new ();
        assert_int_equal (config_set (cfg, "OSTIARY_METRICS_LISTEN", good[i], NULL), 0);
        assert_int_equal (config_validate (cfg, 0), 0);
        config_destroy (&cfg);
    }
}

static void
test_config_accepts_a_list_of_broker_endpoints (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    assert_int_equal (config_set (cfg, "OSTIARY_BUS_ENDPOINT", "tcp://gw-0:5555, tcp://gw-1:5555", NULL), 0);
    assert_int_equal (config_validate (cfg, 0), 0);
    config_destroy (&cfg);
}

static void
test_config_trusted_proxies_take_ipv4_and_ipv6_blocks (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    assert_string_equal (cfg->trusted_proxies, "");
    assert_int_equal (config_set (cfg, "OSTIARY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,fd00::/8", NULL), 0);
    assert_int_equal (config_validate (cfg, 0), 0);
    config_destroy (&cfg);
}

static void
test_config_production_issuer_must_be_https (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    assert_int_equal (config_set (cfg, "OSTIARY_MODE", "production", NULL), 0);
    s_capture_t cap;
    s_capture_begin (&cap, STDERR_FILENO);
    int rc = config_validate (cfg, 0);
    char *err = s_capture_end (&cap);
    assert_int_equal (rc, -1);
    assert_non_null (strstr (err, "OSTIARY_ISSUER must use https in production"));
    free (err);
    assert_int_equal (config_set (cfg, "OSTIARY_ISSUER", "https://id.example.com", NULL), 0);
    assert_int_equal (config_validate (cfg, 0), 0);
    config_destroy (&cfg);
}

//  --- printing and the command line -------------------------------------------

static void
test_config_print_masks_secrets (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    assert_int_equal (config_set (cfg, "OSTIARY_DB", "host=db password=hunter2", NULL), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    assert_non_null (out);
    config_print (cfg, out);
    fclose (out);
    assert_non_null (strstr (text, "OSTIARY_DB=(set)\n"));
    assert_non_null (strstr (text, "OSTIARY_KEK=(unset)\n"));
    assert_non_null (strstr (text, "OSTIARY_HTTP_THREADS=512\n"));
    assert_non_null (strstr (text, "OSTIARY_ISSUER=http://127.0.0.1:8080\n"));
    assert_null (strstr (text, "hunter2"));
    //  One line per setting.
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal (lines, sizeof s_env_names / sizeof s_env_names[0]);
    free (text);
    config_destroy (&cfg);
}

static void
test_config_check_config_masks_secrets (void **state)
{
    (void)state;
    setenv ("OSTIARY_DB", "host=db user=keys password=hunter2", 1);
    setenv ("OSTIARY_KEK", GOOD_KEK, 1);
    setenv ("OSTIARY_BUS_CERT", "/etc/ostiary/bus/keys.key", 1);
    setenv ("OSTIARY_BUS_PEERS", "/etc/ostiary/bus/peers", 1);
    char *argv[] = {"keys-svc", "--check-config", NULL};
    int code = -1;
    s_capture_t out, err;
    s_capture_begin (&out, STDOUT_FILENO);
    s_capture_begin (&err, STDERR_FILENO);
    config_t *cfg = config_load (2, argv, "keys-svc", CFG_REQ_KEYS, &code);
    char *errtext = s_capture_end (&err);
    char *outtext = s_capture_end (&out);
    assert_null (cfg);
    assert_int_equal (code, 0);
    assert_non_null (strstr (outtext, "OSTIARY_DB=(set)\n"));
    assert_non_null (strstr (outtext, "OSTIARY_KEK=(set)\n"));
    assert_non_null (strstr (outtext, "OSTIARY_WORKERS=4\n"));
    assert_null (strstr (outtext, "hunter2"));
    assert_null (strstr (outtext, GOOD_KEK));
    assert_null (strstr (errtext, "hunter2"));
    free (outtext);
    free (errtext);
}

static void
test_config_check_config_exits_2_when_invalid (void **state)
{
    (void)state;
    setenv ("OSTIARY_DB", "host=db password=hunter2", 1);
    setenv ("OSTIARY_KEK", "short-and-secret", 1);
    char *argv[] = {"keys-svc", "--check-config", NULL};
    int code = -1;
    s_capture_t out, err;
    s_capture_begin (&out, STDOUT_FILENO);
    s_capture_begin (&err, STDERR_FILENO);
    config_t *cfg = config_load (2, argv, "keys-svc", CFG_REQ_KEYS, &code);
    char *errtext = s_capture_end (&err);
    char *outtext = s_capture_end (&out);
    assert_null (cfg);
    assert_int_equal (code, 2);
    assert_non_null (strstr (errtext, "OSTIARY_KEK"));
    assert_null (strstr (errtext, "short-and-secret"));
    assert_null (strstr (outtext, "short-and-secret"));
    assert_null (strstr (outtext, "hunter2"));
    free (outtext);
    free (errtext);
}

static void
test_config_help_lists_every_variable (void **state)
{
    (void)state;
    char *argv[] = {"gateway", "--help", NULL};
    int code = -1;
    s_capture_t out;
    s_capture_begin (&out, STDOUT_FILENO);
    config_t *cfg = config_load (2, argv, "gateway", CFG_REQ_GW, &code);
    char *text = s_capture_end (&out);
    assert_null (cfg);
    assert_int_equal (code, 0);
    assert_non_null (strstr (text, "usage: gateway"));
    for (size_t i = 0; i < sizeof s_env_names / sizeof s_env_names[0]; i++)
        assert_non_null (strstr (text, s_env_names[i]));
    //  Descriptions come from config.def.
    assert_non_null (strstr (text, "libpq connection string"));
    assert_non_null (strstr (text, "required by token-svc, flow-svc, keys-svc"));
    free (text);
}

static void
test_config_unknown_argument_is_usage_error (void **state)
{
    (void)state;
    char *cases[][3] = {
        {"flow-svc", "--verbose=p4ss", NULL},
        {"flow-svc", "p4ss", NULL},
        {"flow-svc", "--config", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int code = -1;
        s_capture_t out, err;
        s_capture_begin (&out, STDOUT_FILENO);
        s_capture_begin (&err, STDERR_FILENO);
        config_t *cfg = config_load (2, cases[i], "flow-svc", CFG_REQ_FLOW, &code);
        char *errtext = s_capture_end (&err);
        char *outtext = s_capture_end (&out);
        assert_null (cfg);
        assert_int_equal (code, 2);
        assert_non_null (strstr (errtext, "usage: flow-svc"));
        assert_null (strstr (errtext, "p4ss"));
        assert_string_equal (outtext, "");
        free (outtext);
        free (errtext);
    }
}

static void
test_config_load_fails_with_2_on_missing_required (void **state)
{
    (void)state;
    char *argv[] = {"token-svc", NULL};
    int code = -1;
    s_capture_t err;
    s_capture_begin (&err, STDERR_FILENO);
    config_t *cfg = config_load (1, argv, "token-svc", CFG_REQ_TOK, &code);
    char *errtext = s_capture_end (&err);
    assert_null (cfg);
    assert_int_equal (code, 2);
    assert_non_null (strstr (errtext, "OSTIARY_DB is required"));
    free (errtext);

    setenv ("OSTIARY_DB", "dbname=x", 1);
    setenv ("OSTIARY_CLIENT_SECRET_KEY", GOOD_KEK, 1);
    s_capture_begin (&err, STDERR_FILENO);
    cfg = config_load (1, argv, "token-svc", CFG_REQ_TOK, &code);
    errtext = s_capture_end (&err);
    assert_null (cfg);
    assert_int_equal (code, 2);
    assert_non_null (strstr (errtext, "OSTIARY_BUS_CERT is required while OSTIARY_BUS_CURVE=1"));
    free (errtext);
    setenv ("OSTIARY_BUS_CERT", "/etc/ostiary/bus/token.key", 1);
    setenv ("OSTIARY_BUS_PEERS", "/etc/ostiary/bus/peers", 1);
    cfg = config_load (1, argv, "token-svc", CFG_REQ_TOK, &code);
    assert_non_null (cfg);
    assert_int_equal (code, 0);
    assert_string_equal (cfg->db, "dbname=x");
    config_destroy (&cfg);
}

static void
test_config_log_format_and_otlp_endpoint_are_checked (void **state)
{
    (void)state;
    config_t *cfg = config_new ();
    assert_string_equal (cfg->log_format, "logfmt");
    assert_string_equal (cfg->otlp_endpoint, "");
    assert_int_equal (cfg->otlp_queue, 2048);
    assert_int_equal (cfg->otlp_interval_ms, 1000);
    assert_int_equal (config_set (cfg, "OSTIARY_LOG_FORMAT", "json", NULL), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_OTLP_ENDPOINT", "https://collector:4318/v1/traces", NULL), 0);
    assert_int_equal (config_validate (cfg, 0), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_LOG_FORMAT", "xml", NULL), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_OTLP_ENDPOINT", "collector:4317", NULL), 0);
    s_capture_t cap;
    s_capture_begin (&cap, STDERR_FILENO);
    int rc = config_validate (cfg, 0);
    char *err = s_capture_end (&cap);
    assert_int_equal (rc, -1);
    assert_non_null (strstr (err, "OSTIARY_LOG_FORMAT must be logfmt or json"));
    assert_non_null (strstr (err, "OSTIARY_OTLP_ENDPOINT must be an http:// or https:// URL"));
    free (err);
    assert_int_equal (config_set (cfg, "OSTIARY_OTLP_QUEUE", "8", NULL), -1);
    config_destroy (&cfg);
}

#define T(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)

int
main (void)
{
    const struct CMUnitTest tests[] = {
        T (test_config_defaults_are_valid),
        T (test_config_set_parses_ints_and_strings),
        T (test_config_rejects_out_of_range_int),
        T (test_config_rejects_non_integer),
        T (test_config_rejects_unknown_name_and_control_bytes),
        T (test_config_file_sets_values),
        T (test_config_file_bad_line_names_file_line_and_variable_not_value),
        T (test_config_file_rejects_unknown_key_and_missing_equals),
        T (test_config_env_sets_known_variables_only),
        T (test_config_env_bad_value_names_variable_not_value),
        T (test_config_env_overrides_file),
        T (test_config_validate_requires_what_each_process_needs),
        T (test_config_bus_curve_off_only_in_development),
        T (test_config_validate_rejects_bad_kek_without_printing_it),
        T (test_config_validate_rejects_bad_issuer_mode_and_level),
        T (test_config_log_format_and_otlp_endpoint_are_checked),
        T (test_config_trusted_proxies_take_ipv4_and_ipv6_blocks),
        T (test_config_production_issuer_must_be_https),
        T (test_config_metrics_listen_takes_host_port_empty_or_off),
        T (test_config_accepts_a_list_of_broker_endpoints),
        T (test_config_print_masks_secrets),
        T (test_config_check_config_masks_secrets),
        T (test_config_check_config_exits_2_when_invalid),
        T (test_config_help_lists_every_variable),
        T (test_config_unknown_argument_is_usage_error),
        T (test_config_load_fails_with_2_on_missing_required),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
