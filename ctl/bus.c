/*  ctl/bus - `ostiaryctl bus`: the CURVE keys of the bus (proto/bus.md,
 *  "Security").
 *
 *    ostiaryctl bus keygen DIR [ROLE...] [--name NAME]
 *
 *  writes, for each role (all of proto/access.def when none is named) whose
 *  key is not there yet, DIR/NAME.key (the certificate with its secret key,
 *  mode 0600: the role's OSTIARY_BUS_CERT) and DIR/peers/ROLE/NAME.pub (its
 *  public certificate; DIR/peers is every process's OSTIARY_BUS_PEERS).
 *  NAME is the role's name unless --name gives another (one role only):
 *  a second key of a role, for a replica of its own or a rotation. Keys
 *  already there are kept, so running it again changes nothing. */
#include "bus_curve.h"
#include "ctl.h"
#include "proto.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PATH 4096

static int
s_usage (FILE *out)
{
    fprintf (out, "usage: ostiaryctl bus keygen DIR [ROLE...] [--name NAME]\n"
                  "\n"
                  "  keygen  makes the CURVE key of each ROLE (default: every role) that DIR lacks:\n"
                  "          DIR/NAME.key (secret, 0600: that role's OSTIARY_BUS_CERT) and\n"
                  "          DIR/peers/ROLE/NAME.pub (DIR/peers is every process's OSTIARY_BUS_PEERS);\n"
                  "          NAME is the role unless --name gives another (one ROLE only)\n"
                  "\n"
                  "roles: gateway, token, flow, keys, admin (ostiaryctl's own, for operators)\n"
                  "\n");
    ctl_print_exit_codes (out);
    return CTL_USAGE;
}

static int
s_mkdir (const char *path, mode_t mode)
{
    if (mkdir (path, mode) == 0 || errno == EEXIST) {
        struct stat st;
        return stat (path, &st) == 0 && S_ISDIR (st.st_mode) ? 0 : -1;
    }
    return -1;
}

//  A name is a file name without a path: [A-Za-z0-9._-], not starting with '.'.
static int
s_valid_name (const char *name)
{
    if (!name || !*name || name[0] == '.' || strlen (name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

//  0 made, 1 already there, -1 failed (printed).
static int
s_keygen_one (const char *dir, const char *role, const char *name)
{
    char secret[S_PATH], pubdir[S_PATH], pub[S_PATH];
    if (snprintf (secret, sizeof secret, "%s/%s.key", dir, name) >= (int)sizeof secret ||
        snprintf (pubdir, sizeof pubdir, "%s/peers/%s", dir, role) >= (int)sizeof pubdir ||
        snprintf (pub, sizeof pub, "%s/%s.pub", pubdir, name) >= (int)sizeof pub) {
        ctl_bad ("bus", "the folder's name is too long", NULL);
        return -1;
    }
    if (access (secret, F_OK) == 0)
        return 1;
    if (s_mkdir (pubdir, 0755) != 0) {
        fprintf (stderr, "ostiaryctl: bus: cannot make %s: %s\n", pubdir, strerror (errno));
        return -1;
    }
    zcert_t *cert = zcert_new ();
    if (!cert)
        return -1;
    zcert_set_meta (cert, "role", "%s", role);
    zcert_set_meta (cert, "created-by", "ostiaryctl bus keygen");
    //  The secret file is created 0600 from the start.
    mode_t old = umask (077);
    int rc = zcert_save_secret (cert, secret);
    umask (old);
    if (rc == 0) {
        old = umask (022);
        rc = zcert_save_public (cert, pub);
        umask (old);
    }
    if (rc != 0)
        fprintf (stderr, "ostiaryctl: bus: cannot write the key of %s: %s\n", role, strerror (errno));
    else
        printf ("%s %s %s\n", role, name, zcert_public_txt (cert));
    bus_cert_destroy (&cert);
    return rc == 0 ? 0 : -1;
}

static int
s_cmd_keygen (const ctl_opts_t *opts, int argc, char **argv)
{
    OST_UNUSED (opts);
    const char *dir = NULL, *name = NULL;
    const char *roles[16];
    size_t nroles = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (argv[i][0] == '-')
            return ctl_bad ("bus", "unknown option", argv[i]);
        else if (!dir)
            dir = argv[i];
        else if (!proto_role (argv[i]))
            return ctl_bad ("bus", "unknown role (gateway, token, flow, keys or admin)", argv[i]);
        else if (nroles < sizeof roles / sizeof roles[0])
            roles[nroles++] = argv[i];
    }
    if (!dir)
        return s_usage (stderr);
    if (name && (nroles != 1 || !s_valid_name (name)))
        return ctl_bad ("bus", "--name takes a file name ([A-Za-z0-9._-]) and exactly one ROLE", NULL);
    if (nroles == 0)
        for (size_t r = 0; r < proto_role_count (); r++)
            roles[nroles++] = proto_role_name (proto_role_at (r));
    char peers[S_PATH];
    if (snprintf (peers, sizeof peers, "%s/peers", dir) >= (int)sizeof peers)
        return ctl_bad ("bus", "the folder's name is too long", NULL);
    if (s_mkdir (dir, 0700) != 0 || s_mkdir (peers, 0755) != 0) {
        fprintf (stderr, "ostiaryctl: bus: cannot make %s: %s\n", peers, strerror (errno));
        return CTL_ERROR_REPLY;
    }
    for (size_t r = 0; r < nroles; r++)
        if (s_keygen_one (dir, roles[r], name ? name : roles[r]) < 0)
            return CTL_ERROR_REPLY;
    return CTL_OK;
}

static const ctl_subcmd_t s_cmds[] = {
    {"keygen", s_cmd_keygen},
};

int
ctl_bus (const ctl_opts_t *opts, int argc, char **argv)
{
    return ctl_dispatch (opts, "bus", s_cmds, sizeof s_cmds / sizeof s_cmds[0], s_usage, argc, argv);
}
