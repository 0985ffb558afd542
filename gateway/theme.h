/*  theme - the operator's brand on every page (OSTIARY_THEME_DIR): a folder
 *  holding any of
 *    theme.json   {"name": "Example ID"}: the product name of the pages
 *    style.css    a stylesheet loaded after the built-in one
 *    logo.svg or logo.png   shown before the name
 *    header.html, footer.html   HTML fragments placed at the start and the
 *               end of every page's body (a site's links, a legal notice),
 *               header.<lang>.html and footer.<lang>.html for one language
 *  read once at start-up (each file at most THEME_MAX_FILE bytes) and
 *  served from memory under fixed paths (/theme/style.css, /theme/logo), so
 *  the Content-Security-Policy of the pages (style-src 'self'; img-src
 *  'self') holds unchanged: no inline style or script, nothing from
 *  elsewhere. */
#ifndef OST_GW_THEME_H
#define OST_GW_THEME_H

#include "http.h"

#include <stddef.h>

#define THEME_MAX_FILE (512 * 1024)
#define THEME_MAX_NAME 64
#define THEME_MAX_FRAGMENT (16 * 1024)
#define THEME_MAX_FRAGMENTS 32

typedef struct _theme_t theme_t;

//  The theme of dir; an empty dir is the built-in look (a theme with
//  nothing). NULL (logged) when dir cannot be read or a file is refused.
theme_t *theme_new (const char *dir);
void theme_destroy (theme_t **self_p);

//  The product name, or NULL (the catalogue's).
const char *theme_name (const theme_t *self);
//  1 when the theme has a stylesheet / a logo.
int theme_has_css (const theme_t *self);
int theme_has_logo (const theme_t *self);
//  The header or footer fragment ("header", "footer") for lang: the file of
//  that language, else the one of every language, else NULL.
const char *theme_fragment (const theme_t *self, const char *which, const char *lang);

//  GET /theme/style.css and GET /theme/logo: 404 when the theme has none.
int theme_css_get (gw_req_t *req);
int theme_logo_get (gw_req_t *req);

#endif
