/*  theme - the operator's brand (see theme.h). */
#include "theme.h"

#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct _theme_t {
    char name[THEME_MAX_NAME + 1];
    char *css;
    size_t css_len;
    char *logo;
    size_t logo_len;
    const char *logo_type;
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
    if (!ok)
        theme_destroy (&self);
    else
        log_info ("theme: %s (name %s, stylesheet %s, logo %s)", dir, self->name[0] ? self->name : "built-in",
                  self->css ? "yes" : "no", self->logo ? self->logo_type : "no");
    return self;
}

void
theme_destroy (theme_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->css);
    free ((*self_p)->logo);
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

static int
s_send (gw_req_t *req, const char *type, const char *data, size_t len)
{
    if (!data)
        return http_send_error (req, OST_ERR_NOT_FOUND, "no such resource");
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
