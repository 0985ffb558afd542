/*  migrate - applies migrations/<service>/NNN_name.sql in order, each once,
 *  each in its own transaction, under a session-level advisory lock so that
 *  replicas starting together do not race (ARCHITECTURE.md, "Processes").
 *
 *  Forward-only rules, checked before anything is applied:
 *  - two files with the same number are an error;
 *  - a file that is not applied but is numbered below the highest applied
 *    version is an error (it would run after migrations written later than
 *    it, against a schema its author never saw);
 *  - an applied version whose file now has another name is an error (a
 *    renumbered file would otherwise be skipped silently);
 *  - numbers may skip (001, 002, 005): only the order matters. */
#include "migrate.h"

#include "log.h"
#include "proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  A migration is DDL and small data fixes; anything bigger is a mistake.
#define MIGRATE_FILE_MAX (1024 * 1024)
//  Nine digits keep every version inside PostgreSQL's int.
#define MIGRATE_DIGITS_MAX 9
#define MIGRATE_NAME_MAX 128

typedef struct {
    long version;
    char name[MIGRATE_NAME_MAX];
    char file[MIGRATE_NAME_MAX + 32];
} s_file_t;

typedef struct {
    long version;
    char *name;
} s_applied_t;

//  dir "/" name into out; -1 (logged) when it does not fit.
static int
s_join (char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf (out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) {
        log_error ("migrate: path too long under %.64s", dir);
        return -1;
    }
    return 0;
}

//  Classifies a directory entry: 1 a migration (version and name filled),
//  0 not a migration (hidden or not .sql), -1 a .sql file named wrongly.
static int
s_parse_file_name (const char *fname, s_file_t *out)
{
    size_t len = strlen (fname);
    if (fname[0] == '.' || len < 4 || strcmp (fname + len - 4, ".sql") != 0)
        return 0;
    size_t digits = strspn (fname, "0123456789");
    if (digits == 0 || digits > MIGRATE_DIGITS_MAX || fname[digits] != '_')
        return -1;
    const char *name = fname + digits + 1;
    size_t nlen = len - digits - 1 - 4;
    if (nlen == 0 || nlen >= MIGRATE_NAME_MAX)
        return -1;
    for (size_t i = 0; i < nlen; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return -1;
    }
    out->version = strtol (fname, NULL, 10);
    memcpy (out->name, name, nlen);
    out->name[nlen] = '\0';
    //  Bounded by the checks above (9 digits, a name under 128 bytes).
    if (len >= sizeof out->file)
        return -1;
    memcpy (out->file, fname, len + 1);
    return 1;
}

static int
s_cmp_file (const void *a, const void *b)
{
    long va = ((const s_file_t *)a)->version;
    long vb = ((const s_file_t *)b)->version;
    return (va > vb) - (va < vb);
}

//  Lists dir's migrations, sorted by version. NULL (and *count 0) on error.
static s_file_t *
s_list (const char *dir, size_t *count)
{
    *count = 0;
    DIR *d = opendir (dir);
    if (!d) {
        log_error ("migrate: cannot open %s: %s", dir, strerror (errno));
        return NULL;
    }
    size_t n = 0, cap = 16;
    s_file_t *files = malloc (cap * sizeof *files);
    int ok = files != NULL;
    struct dirent *entry;
    while (ok && (entry = readdir (d))) {
        s_file_t file;
        int kind = s_parse_file_name (entry->d_name, &file);
        if (kind == 0)
            continue;
        if (kind < 0) {
            log_error ("migrate: %s/%s is not named NNN_name.sql", dir, entry->d_name);
            ok = 0;
            break;
        }
        if (n == cap) {
            s_file_t *bigger = realloc (files, 2 * cap * sizeof *files);
            if (!bigger) {
                ok = 0;
                break;
            }
            files = bigger;
            cap *= 2;
        }
        files[n++] = file;
    }
    closedir (d);
    if (ok && n > 0)
        qsort (files, n, sizeof *files, s_cmp_file);
    for (size_t i = 1; ok && i < n; i++)
        if (files[i].version == files[i - 1].version) {
            log_error ("migrate: %s: %s and %s share version %ld", dir, files[i - 1].file, files[i].file,
                       files[i].version);
            ok = 0;
        }
    if (!ok) {
        free (files);
        return NULL;
    }
    *count = n;
    return files;
}

//  Reads a whole migration file as a NUL-terminated string, at most
//  MIGRATE_FILE_MAX bytes. NULL on error (logged).
static char *
s_read_file (const char *path)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error ("migrate: cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    char *text = NULL;
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
        log_error ("migrate: %s is not a regular file", path);
    else if (st.st_size > MIGRATE_FILE_MAX)
        log_error ("migrate: %s is larger than %d bytes", path, MIGRATE_FILE_MAX);
    else if ((text = malloc ((size_t)st.st_size + 1))) {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = read (fd, text + got, (size_t)st.st_size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        text[got] = '\0';
        if (got != (size_t)st.st_size || strlen (text) != got) {
            //  A short read, or a NUL byte that would cut the SQL we send.
            log_error ("migrate: cannot read %s whole, or it holds a NUL byte", path);
            free (text);
            text = NULL;
        }
    }
    close (fd);
    return text;
}

//  Runs one parameterized statement on the migration connection. Returns
//  the result (PQclear it) or NULL after logging the error.
static PGresult *
s_query (db_t *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams (db_conn (db), sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus (res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    const char *sqlstate = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    log_error ("migrate: query failed: sqlstate=%s: %s", sqlstate ? sqlstate : "none",
               primary ? primary : PQerrorMessage (db_conn (db)));
    PQclear (res);
    return NULL;
}

static int
s_exec_ok (db_t *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = s_query (db, sql, nparams, params);
    PQclear (res);
    return res ? 0 : -1;
}

//  The applied versions, ascending. NULL with *count 0 when none or on
//  error; *failed tells which.
static s_applied_t *
s_applied (db_t *db, const char *schema, size_t *count, int *failed)
{
    *count = 0;
    *failed = 0;
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT version, name FROM %s.schema_migrations ORDER BY version", schema);
    PGresult *res = s_query (db, sql, 0, NULL);
    if (!res) {
        *failed = 1;
        return NULL;
    }
    int rows = PQntuples (res);
    s_applied_t *applied = rows > 0 ? calloc ((size_t)rows, sizeof *applied) : NULL;
    if (rows > 0 && !applied)
        *failed = 1;
    for (int i = 0; applied && i < rows; i++) {
        applied[i].version = strtol (PQgetvalue (res, i, 0), NULL, 10);
        applied[i].name = strdup (PQgetvalue (res, i, 1));
        if (!applied[i].name)
            *failed = 1;
    }
    *count = applied ? (size_t)rows : 0;
    PQclear (res);
    return applied;
}

static void
s_applied_free (s_applied_t *applied, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free (applied[i].name);
    free (applied);
}

static const s_applied_t *
s_find_applied (const s_applied_t *applied, size_t count, long version)
{
    for (size_t i = 0; i < count; i++)
        if (applied[i].version == version)
            return &applied[i];
    return NULL;
}

//  Applies one file in its own transaction. 0 ok, -1 failed (rolled back).
static int
s_apply (db_t *db, const char *schema, const char *dir, const s_file_t *file)
{
    char path[4096];
    if (s_join (path, sizeof path, dir, file->file) != 0)
        return -1;
    char *text = s_read_file (path);
    if (!text)
        return -1;
    char set_path[256];
    snprintf (set_path, sizeof set_path, "SET LOCAL search_path TO %s", schema);
    char insert[256];
    snprintf (insert, sizeof insert, "INSERT INTO %s.schema_migrations (version, name) VALUES ($1::int, $2)",
              schema);
    char version[24];
    snprintf (version, sizeof version, "%ld", file->version);
    const char *params[] = {version, file->name};

    int rc = -1;
    if (db_exec_sql (db, "BEGIN") == DB_OK) {
        //  The file runs with the service's schema first on the path, so it
        //  names its tables without a schema prefix.
        if (db_exec_sql (db, set_path) == DB_OK && db_exec_sql (db, text) == DB_OK &&
            s_exec_ok (db, insert, 2, params) == 0 && db_exec_sql (db, "COMMIT") == DB_OK)
            rc = 0;
        else
            db_rollback (db);
    }
    free (text);
    if (rc == 0)
        log_info ("migrate: applied %s", path);
    else
        log_error ("migrate: %s failed and was rolled back", path);
    return rc;
}

//  Everything between taking and releasing the lock.
static int
s_run_locked (db_t *db, const char *dir, const char *service, const char *schema, const s_file_t *files,
              size_t nfiles)
{
    //  CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege on the
    //  database before it checks existence, so a role that owns its schema
    //  but may not create schemas would fail; look first.
    const char *params[] = {service};
    PGresult *res = s_query (db, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, params);
    if (!res)
        return -1;
    int exists = PQntuples (res) > 0;
    PQclear (res);
    char sql[512];
    if (!exists) {
        snprintf (sql, sizeof sql, "CREATE SCHEMA %s", schema);
        if (db_exec_sql (db, sql) != DB_OK)
            return -1;
    }
    snprintf (sql, sizeof sql,
              "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
              "version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
              schema);
    if (db_exec_sql (db, sql) != DB_OK)
        return -1;

    size_t napplied;
    int failed;
    s_applied_t *applied = s_applied (db, schema, &napplied, &failed);
    if (failed) {
        s_applied_free (applied, napplied);
        return -1;
    }
    long highest = napplied > 0 ? applied[napplied - 1].version : 0;
    int rc = 0;
    for (size_t i = 0; i < nfiles; i++) {
        const s_applied_t *done = s_find_applied (applied, napplied, files[i].version);
        if (done && strcmp (done->name, files[i].name) != 0) {
            log_error ("migrate: %s/%s: version %ld was applied as '%s'", dir, files[i].file,
                       files[i].version, done->name);
            rc = -1;
        } else if (!done && files[i].version < highest) {
            log_error ("migrate: %s/%s is numbered below version %ld, which is applied already", dir,
                       files[i].file, highest);
            rc = -1;
        }
    }
    for (size_t i = 0; i < napplied; i++) {
        int found = 0;
        for (size_t j = 0; j < nfiles && !found; j++)
            found = files[j].version == applied[i].version;
        if (!found)
            log_warn ("migrate: applied version %ld (%s) of %s has no file in %s", applied[i].version,
                      applied[i].name, service, dir);
    }

    int count = 0;
    for (size_t i = 0; rc == 0 && i < nfiles; i++) {
        if (s_find_applied (applied, napplied, files[i].version))
            continue;
        if (s_apply (db, schema, dir, &files[i]) != 0)
            rc = -1;
        else
            count++;
    }
    s_applied_free (applied, napplied);
    return rc == 0 ? count : -1;
}

int
migrate_run (db_t *db, const char *dir, const char *service)
{
    if (!db || !db_conn (db) || !dir || !proto_valid_service (service)) {
        log_error ("migrate: bad arguments (service names are [a-z][a-z0-9._-]{0,31})");
        return -1;
    }
    char path[4096];
    if (s_join (path, sizeof path, dir, service) != 0)
        return -1;
    size_t nfiles;
    s_file_t *files = s_list (path, &nfiles);
    if (!files)
        return -1;
    char *schema = PQescapeIdentifier (db_conn (db), service, strlen (service));
    if (!schema) {
        free (files);
        return -1;
    }

    //  Session-level lock: it must survive the per-file transactions and is
    //  released explicitly below (or by the server if we die).
    const char *params[] = {service};
    int rc = -1;
    if (s_exec_ok (db, "SELECT pg_advisory_lock(hashtext('ostiary.migrate.' || $1))", 1, params) == 0) {
        rc = s_run_locked (db, path, service, schema, files, nfiles);
        if (s_exec_ok (db, "SELECT pg_advisory_unlock(hashtext('ostiary.migrate.' || $1))", 1, params) != 0)
            rc = -1;
    }
    PQfreemem (schema);
    free (files);
    return rc;
}
