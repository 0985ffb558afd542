/*  theme - the operator's brand (see theme.h). */
#include "theme.h"

#include "log.h"
#include "pages.h"

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct _theme_t {
    char name[THEME_MAX_NAME + 1];
    char *css;
    size_t css_len;
    char *logo;
    size_t logo_len;
    const char *logo_type;
    //  header.html / footer.html and their per-language files: which is
    //  "header" or "footer", lang "" for every language.
    struct {
        char which[8];
        char lang[36];
        char *html;
    } fragments[THEME_MAX_FRAGMENTS];
    size_t nfragments;
};

//  The whole of dir/file into *out: 1 read, 0 absent, -1 refused.
static int
s_read (const char *dir, const char *file, char **out, size_t *len)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir, file);
    struct stat st;
    if (stat (path, &st) != 0)
        return 0;
    if (!S_ISREG (st.st_mode) || st.st_size > THEME_MAX_FILE) {
        log_error ("theme: %s is not a file of at most %d bytes", path, THEME_MAX_FILE);
        return -1;
    }
    FILE *f = fopen (path, "rb");
    char *data = f ? malloc ((size_t)st.st_size + 1) : NULL;
    size_t n = data ? fread (data, 1, (size_t)st.st_size, f) : 0;
    if (f)
        fclose (f);
    if (!data || n != (size_t)st.st_size) {
        log_error ("theme: cannot read %s", path);
        free (data);
        return -1;
    }
    data[n] = '\0';
    *out = data;
    *len = n;
    return 1;
}

//  name is header[.<lang>].html or footer[.<lang>].html, lang a language
//  tag (2 or 3 lower-case letters, then -subtags of letters and digits):
//  1 with which and lang filled, else 0.
static int
s_fragment_name (const char *name, char which[8], char lang[36])
{
    const char *rest = NULL;
    if (strncmp (name, "header.", 7) == 0 || strncmp (name, "footer.", 7) == 0)
        rest = name + 7;
    if (!rest)
        return 0;
    snprintf (which, 8, "%.6s", name);
    if (strcmp (rest, "html") == 0) {
        lang[0] = '\0';
        return 1;
    }
    const char *dot = strchr (rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : 0;
    if (!dot || strcmp (dot, ".html") != 0 || n < 2 || n > 35)
        return 0;
    size_t letters = 0;
    while (letters < n && islower ((unsigned char)rest[letters]))
        letters++;
    if (letters < 2 || letters > 3 || (letters < n && rest[letters] != '-'))
        return 0;
    for (size_t i = letters; i < n; i++)
        if (!isalnum ((unsigned char)rest[i]) && rest[i] != '-')
            return 0;
    snprintf (lang, 36, "%.*s", (int)n, rest);
    return 1;
}

//  The header and footer fragments of dir: 0, or -1 (logged) when one is
//  refused. They are the operator's HTML, placed as they are; script is
//  refused here (the pages' Content-Security-Policy would block it anyway).
static int
s_read_fragments (theme_t *self, const char *dir)
{
    DIR *d = opendir (dir);
    if (!d) {
        log_error ("theme: cannot read the folder %s", dir);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir (d))) {
        char which[8], lang[36];
        if (!s_fragment_name (e->d_name, which, lang))
            continue;
        if (self->nfragments == THEME_MAX_FRAGMENTS) {
            log_error ("theme: %s holds more than %d header and footer files", dir, THEME_MAX_FRAGMENTS);
            rc = -1;
            break;
        }
        char *html = NULL;
        size_t len = 0;
        if (s_read (dir, e->d_name, &html, &len) < 0) {
            rc = -1;
            break;
        }
        if (!html)
            continue;
        int script = 0;
        for (size_t i = 0; i + 7 <= len && !script; i++)
            script = strncasecmp (html + i, "<script", 7) == 0;
        if (len > THEME_MAX_FRAGMENT || strlen (html) != len || script) {
            log_error ("theme: %s/%s must be HTML of at most %d bytes, without NUL bytes or script", dir,
                       e->d_name, THEME_MAX_FRAGMENT);
            free (html);
            rc = -1;
            break;
        }
        size_t i = self->nfragments++;
        snprintf (self->fragments[i].which, sizeof self->fragments[i].which, "%s", which);
        snprintf (self->fragments[i].lang, sizeof self->fragments[i].lang, "%s", lang);
        self->fragments[i].html = html;
    }
    closedir (d);
    return rc;
}

theme_t *
theme_new (const char *dir)
{
    theme_t *self = calloc (1, sizeof *self);
    if (!self || !dir || !dir[0])
        return self;
    int ok = 1;
    char *json = NULL;
    size_t json_len = 0;
    int rc = s_read (dir, "theme.json", &json, &json_len);
    if (rc < 0)
        ok = 0;
    else if (rc > 0) {
        json_error_t error;
        json_t *root = json_loadb (json, json_len, JSON_REJECT_DUPLICATES, &error);
        const char *name = json_string_value (json_object_get (root, "name"));
        if (!json_is_object (root) || (json_object_get (root, "name") && !name) ||
            (name && (strlen (name) == 0 || strlen (name) > THEME_MAX_NAME))) {
            log_error ("theme: %s/theme.json must be an object whose name is 1 to %d bytes", dir,
                       THEME_MAX_NAME);
            ok = 0;
        } else if (name)
            snprintf (self->name, sizeof self->name, "%s", name);
        json_decref (root);
        free (json);
    }
    if (ok && s_read (dir, "style.css", &self->css, &self->css_len) < 0)
        ok = 0;
    if (ok) {
        rc = s_read (dir, "logo.svg", &self->logo, &self->logo_len);
        self->logo_type = "image/svg+xml";
        if (rc == 0) {
            rc = s_read (dir, "logo.png", &self->logo, &self->logo_len);
            self->logo_type = "image/png";
        }
        ok = rc >= 0;
    }
    if (ok && s_read_fragments (self, dir) < 0)
        ok = 0;
    if (!ok)
        theme_destroy (&self);
    else
        log_info ("theme: %s (name %s, stylesheet %s, logo %s, %zu header and footer files)", dir,
                  self->name[0] ? self->name : "built-in", self->css ? "yes" : "no",
                  self->logo ? self->logo_type : "no", self->nfragments);
    return self;
}

void
theme_destroy (theme_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->css);
    free ((*self_p)->logo);
    for (size_t i = 0; i < (*self_p)->nfragments; i++)
        free ((*self_p)->fragments[i].html);
    free (*self_p);
    *self_p = NULL;
}

const char *
theme_name (const theme_t *self)
{
    return self && self->name[0] ? self->name : NULL;
}

int
theme_has_css (const theme_t *self)
{
    return self && self->css;
}

int
theme_has_logo (const theme_t *self)
{
    return self && self->logo;
}

const char *
theme_fragment (const theme_t *self, const char *which, const char *lang)
{
    const char *any = NULL;
    for (size_t i = 0; self && i < self->nfragments; i++) {
        if (strcmp (self->fragments[i].which, which) != 0)
            continue;
        if (!self->fragments[i].lang[0])
            any = self->fragments[i].html;
        else if (lang && strcmp (self->fragments[i].lang, lang) == 0)
            return self->fragments[i].html;
    }
    return any;
}

static int
s_send (gw_req_t *req, const char *type, const char *data, size_t len)
{
    //  No theme, or none of this: as an unknown path (a page for a browser).
    if (!data)
        return pages_no_route (req, 404, NULL);
    //  An SVG opened on its own is a document: it may run nothing.
    http_header_t extra[] = {{"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"}};
    return http_send (req, 200, type, "public, max-age=3600", extra, 1, data, len);
}

int
theme_css_get (gw_req_t *req)
{
    const theme_t *self = req->gw->theme;
    return s_send (req, "text/css; charset=utf-8", self ? self->css : NULL, self ? self->css_len : 0);
}

int
theme_logo_get (gw_req_t *req)
{
    const theme_t *self = req->gw->theme;
    return s_send (req, self && self->logo ? self->logo_type : "", self ? self->logo : NULL,
                   self ? self->logo_len : 0);
}
