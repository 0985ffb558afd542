/*  pages - HTML frame, stylesheet, security headers and cookies of the
 *  gateway's browser-facing endpoints. See pages.h. */
#include "pages.h"

#include "b64url.h"
#include "form.h"
#include "i18n.h"
#include "log.h"
#include "secure.h"
#include "theme.h"

#include <civetweb.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  ---------------------------------------------------------------------------
//  HTML buffer

void
html_init (html_t *self)
{
    memset (self, 0, sizeof *self);
}

void
html_free (html_t *self)
{
    free (self->data);
    memset (self, 0, sizeof *self);
}

int
html_failed (const html_t *self)
{
    return self->failed;
}

static void
s_append (html_t *self, const char *bytes, size_t n)
{
    if (self->failed)
        return;
    if (self->len + n + 1 > self->cap) {
        size_t cap = self->cap ? self->cap : 1024;
        while (cap < self->len + n + 1)
            cap *= 2;
        char *grown = realloc (self->data, cap);
        if (!grown) {
            self->failed = 1;
            return;
        }
        self->data = grown;
        self->cap = cap;
    }
    memcpy (self->data + self->len, bytes, n);
    self->len += n;
    self->data[self->len] = '\0';
}

void
html_raw (html_t *self, const char *markup)
{
    if (markup)
        s_append (self, markup, strlen (markup));
}

void
html_text (html_t *self, const char *text)
{
    char *escaped = http_html_escape (text ? text : "");
    if (!escaped) {
        self->failed = 1;
        return;
    }
    s_append (self, escaped, strlen (escaped));
    free (escaped);
}

const char *
pages_product (const gw_req_t *req)
{
    const char *name = req->gw ? theme_name (req->gw->theme) : NULL;
    return name ? name : pages_msg (req, "product");
}

const char *
pages_msg (const gw_req_t *req, const char *key)
{
    return i18n_get (req->gw ? req->gw->i18n : NULL, req->lang, key);
}

void
pages_use_lang (gw_req_t *req, const char *ui_locales)
{
    const char *lang = i18n_pick_ui_locales (req->gw ? req->gw->i18n : NULL, ui_locales);
    if (lang)
        req->lang = lang;
}

void
html_text_with (html_t *self, const char *text, const char *name, const char *value, const char *tag)
{
    char mark[I18N_MAX_KEY + 3];
    snprintf (mark, sizeof mark, "{%s}", name);
    const char *at = name ? strstr (text, mark) : NULL;
    if (!at) {
        html_text (self, text);
        return;
    }
    char *before = strndup (text, (size_t)(at - text));
    if (!before) {
        self->failed = 1;
        return;
    }
    html_text (self, before);
    free (before);
    if (tag) {
        html_raw (self, "<");
        html_raw (self, tag);
        html_raw (self, ">");
    }
    html_text (self, value);
    if (tag) {
        //  The element's name: tag up to its first attribute.
        char close[32];
        snprintf (close, sizeof close, "</%.*s>", (int)strcspn (tag, " "), tag);
        html_raw (self, close);
    }
    html_text (self, at + strlen (mark));
}

//  ---------------------------------------------------------------------------
//  Headers and cookies

void
pages_headers_add (pages_headers_t *self, const char *name, const char *value)
{
    if (!self || self->count >= PAGES_MAX_EXTRA) {
        log_error ("pages: too many extra headers; %s dropped", name);
        return;
    }
    snprintf (self->value[self->count], sizeof self->value[0], "%s", value);
    self->list[self->count].name = name;
    self->list[self->count].value = self->value[self->count];
    self->count++;
}

static int
s_https (const gw_req_t *req)
{
    return strncasecmp (req->gw->cfg->issuer, "https://", 8) == 0;
}

void
pages_set_cookie (pages_headers_t *self, const gw_req_t *req, const char *name, const char *value,
                  long max_age)
{
    char line[PAGES_MAX_COOKIE + 160];
    char age[32] = "";
    if (max_age >= 0)
        snprintf (age, sizeof age, "; Max-Age=%ld", max_age);
    //  RFC 6265 §4.1.2: HttpOnly keeps the handle from scripts; SameSite=Lax
    //  keeps it off cross-site POSTs (RFC 6265bis §8.8); Secure whenever
    //  the issuer is https so that it never travels in clear.
    snprintf (line, sizeof line, "%s=%s; Path=/%s; HttpOnly; SameSite=Lax%s", name, value ? value : "", age,
              s_https (req) ? "; Secure" : "");
    pages_headers_add (self, "Set-Cookie", line);
}

static int
s_cookie_char (unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

//  Names are case-sensitive and compared whole; values longer than max
//  are as if absent.
static int
s_find_cookie (const char *header, const char *name, char *out, size_t size, size_t max)
{
    size_t name_len = strlen (name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *pair = p;
        const char *end = strchr (p, ';');
        size_t pair_len = end ? (size_t)(end - p) : strlen (p);
        p += pair_len;
        if (pair_len > name_len && strncmp (pair, name, name_len) == 0 && pair[name_len] == '=') {
            const char *value = pair + name_len + 1;
            size_t value_len = pair_len - name_len - 1;
            while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
                value_len--;
            //  RFC 6265 §4.1.1 allows a quoted value; ours are never quoted.
            if (value_len == 0 || value_len > max || value_len + 1 > size)
                return -1;
            for (size_t i = 0; i < value_len; i++)
                if (!s_cookie_char ((unsigned char)value[i]))
                    return -1;
            memcpy (out, value, value_len);
            out[value_len] = '\0';
            return 0;
        }
    }
    return -1;
}

int
pages_find_cookie (const char *header, const char *name, char *out, size_t size)
{
    return s_find_cookie (header, name, out, size, PAGES_MAX_COOKIE);
}

static int
s_get_cookie (const gw_req_t *req, const char *name, char *out, size_t size, size_t max)
{
    const struct mg_request_info *ri = mg_get_request_info (req->conn);
    if (size)
        out[0] = '\0';
    //  The first cookie of that name wins (RFC 6265 §5.4: the longest path
    //  first, and all of ours have Path=/).
    for (int i = 0; i < ri->num_headers; i++)
        if (ri->http_headers[i].name && strcasecmp (ri->http_headers[i].name, "Cookie") == 0 &&
            ri->http_headers[i].value && s_find_cookie (ri->http_headers[i].value, name, out, size, max) == 0)
            return 0;
    if (size)
        out[0] = '\0';
    return -1;
}

int
pages_get_cookie (const gw_req_t *req, const char *name, char *out, size_t size)
{
    return s_get_cookie (req, name, out, size, PAGES_MAX_COOKIE);
}

int
pages_get_long_cookie (const gw_req_t *req, const char *name, char *out, size_t size)
{
    return size ? s_get_cookie (req, name, out, size, size - 1) : -1;
}

int
pages_url (const gw_req_t *req, const char *path, char *out, size_t size)
{
    const char *issuer = req->gw->cfg->issuer;
    size_t len = strlen (issuer);
    while (len > 0 && issuer[len - 1] == '/')
        len--;
    int n = snprintf (out, size, "%.*s%s", (int)len, issuer, path);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int
pages_csp_origin (const char *uri, char *out, size_t size)
{
    const char *colon = uri ? strchr (uri, ':') : NULL;
    if (!colon || colon == uri)
        return -1;
    size_t scheme_len = (size_t)(colon - uri);
    for (size_t i = 0; i < scheme_len; i++) {
        char c = uri[i];
        //  RFC 3986 §3.1 scheme characters.
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))))
            return -1;
    }
    int web = (scheme_len == 4 && strncasecmp (uri, "http", 4) == 0) ||
              (scheme_len == 5 && strncasecmp (uri, "https", 5) == 0);
    size_t n;
    if (web && strncmp (colon, "://", 3) == 0) {
        const char *host = colon + 3;
        size_t host_len = strcspn (host, "/?#");
        //  No userinfo, and only characters a host-source (CSP3 §2.3.1)
        //  holds: nothing that could end the directive or the header.
        if (host_len == 0 || memchr (host, '@', host_len))
            return -1;
        for (size_t i = 0; i < host_len; i++) {
            char c = host[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '-' || c == ':' || c == '[' || c == ']'))
                return -1;
        }
        n = (size_t)snprintf (out, size, "%.*s://%.*s", (int)scheme_len, uri, (int)host_len, host);
    } else
        n = (size_t)snprintf (out, size, "%.*s:", (int)scheme_len, uri);
    return n >= size ? -1 : 0;
}

//  ---------------------------------------------------------------------------
//  Pages

//  The one stylesheet: served from /static/ostiary.css so that CSP needs
//  no 'unsafe-inline' (style-src 'self').
static const char s_css[] =
    ":root{--ink:#1d2430;--muted:#5b6576;--line:#d9dee7;--accent:#2f5bd3;--accent-ink:#fff;--bg:#f3f5f9;"
    "--bad:#b42318;--bad-bg:#fef3f2}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;"
    "background:var(--bg);color:var(--ink);font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,"
    "sans-serif}\n"
    "main{width:100%;max-width:26rem;margin:2rem 1rem;padding:2rem;background:#fff;border:1px solid "
    "var(--line);border-radius:12px;box-shadow:0 8px 24px rgba(29,36,48,.08)}\n"
    "main.wide{max-width:46rem}\n"
    ".brand{margin:0 0 1.25rem;font-size:.85rem;font-weight:700;letter-spacing:.12em;text-transform:"
    "uppercase;color:var(--accent)}\n"
    "h1{margin:0 0 .5rem;font-size:1.4rem}\n"
    "p{margin:.5rem 0 1rem;color:var(--muted)}\n"
    "label{display:block;margin:1rem 0 .3rem;font-weight:600;font-size:.9rem}\n"
    "input[type=text],input[type=password],input[type=email]{width:100%;padding:.65rem .75rem;border:1px "
    "solid var(--line);"
    "border-radius:8px;font:inherit}\n"
    "input:focus{outline:2px solid var(--accent);outline-offset:1px}\n"
    "button,.button{display:inline-block;width:100%;margin-top:1.25rem;padding:.7rem 1rem;border:0;"
    "border-radius:8px;background:var(--accent);color:var(--accent-ink);font:inherit;font-weight:600;"
    "text-align:center;text-decoration:none;cursor:pointer}\n"
    "button.secondary{background:#fff;color:var(--ink);border:1px solid var(--line);margin-top:.6rem}\n"
    ".error{padding:.6rem .8rem;border-radius:8px;background:var(--bad-bg);color:var(--bad)}\n"
    "ul.scopes{padding-left:1.2rem;margin:.5rem 0 0}\n"
    "ul.scopes li{margin:.35rem 0}\n"
    "code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}\n"
    "pre{overflow:auto;padding:.8rem;background:#f6f8fb;border:1px solid var(--line);border-radius:8px}\n"
    ".account{padding:.8rem;border:1px solid var(--line);border-radius:8px;font-weight:600}\n"
    "small{color:var(--muted)}\n"
    ".field-error{margin:.3rem 0 0;padding:.3rem .6rem;font-size:.9rem}\n"
    ".brand img.logo{height:1.6rem;vertical-align:middle;margin-right:.5rem}\n"
    ".qr{display:block;width:12rem;height:12rem;margin:1rem auto}\n"
    "ul.codes{columns:2;padding-left:1.2rem}\n"
    "ul.codes li{font:15px/1.6 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}\n"
    "a{color:var(--accent)}\n"
    "iframe.fcl{position:absolute;width:0;height:0;border:0}\n"
    //  The admin console (console.c): wide pages, a navigation bar, tables
    //  that scroll sideways on a phone rather than overflow it.
    "main.console{flex:1 1 auto;width:auto;min-width:0;max-width:68rem}\n"
    "@media (max-width:40rem){main.console{margin:1rem .5rem;padding:1.25rem 1rem}}\n"
    ".console input[type=search]{width:100%;padding:.65rem .75rem;border:1px solid var(--line);"
    "border-radius:8px;font:inherit}\n"
    "nav.console{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;margin:0 0 1rem;"
    "padding-bottom:.75rem;border-bottom:1px solid var(--line)}\n"
    "nav.console a{font-weight:600;text-decoration:none;padding:.2rem 0}\n"
    "nav.console a[aria-current]{text-decoration:underline;text-underline-offset:.3em}\n"
    "nav.console form{margin:0 0 0 auto;display:flex;gap:.6rem;align-items:center}\n"
    "nav.console button,.actions button,form.inline button{width:auto;margin:0;padding:.45rem .9rem}\n"
    ".console a:focus,.console button:focus,.console select:focus,.console textarea:focus{outline:2px solid "
    "var(--accent);outline-offset:2px}\n"
    ".table{overflow-x:auto;margin:1rem 0}\n"
    ".console table{width:100%;border-collapse:collapse;font-size:.92rem}\n"
    ".console th,.console td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);"
    "vertical-align:top}\n"
    ".console th{color:var(--muted);font-weight:600}\n"
    "td.details{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}\n"
    ".console textarea,.console input[type=number],.console input[type=datetime-local],.console select{"
    "width:100%;padding:.55rem .7rem;border:1px solid var(--line);border-radius:8px;font:inherit;"
    "background:#fff}\n"
    ".console textarea{min-height:4.5rem}\n"
    ".actions{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-end;margin:1rem 0}\n"
    ".actions form{margin:0}\n"
    ".actions label{margin:0 0 .3rem}\n"
    ".filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:0 1rem}\n"
    ".notice{padding:.6rem .8rem;border-radius:8px;background:#ecfdf3;color:#05603a}\n"
    ".secret{word-break:break-all;font-size:1.05rem}\n"
    "label.check{display:flex;gap:.5rem;align-items:center}\n"
    "label.check input{width:auto;margin:0}\n"
    "button.danger{background:var(--bad)}\n"
    "section.setting{padding:.6rem 0;border-bottom:1px solid var(--line)}\n"
    ".console h2{font-size:1.05rem;margin:1.2rem 0 .3rem}\n"
    "section.setting form{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center}\n"
    "section.setting input[type=number],section.setting select{width:10rem}\n"
    "section.setting button{width:auto;margin:0;padding:.45rem .9rem}\n";

int
pages_css (gw_req_t *req)
{
    //  Public and immutable for an hour: it holds nothing about anyone.
    return http_send (req, 200, "text/css; charset=utf-8", "public, max-age=3600", NULL, 0, s_css,
                      sizeof s_css - 1);
}

//  The Content-Security-Policy of every page. default-src 'none' forbids
//  everything not listed; the frame is never embeddable (clickjacking,
//  RFC 9700 §4.16), and forms post only to us or to the client's origin.
static void
s_csp (const pages_opts_t *opts, char *out, size_t size)
{
    const char *form_action = opts && opts->form_action ? opts->form_action : NULL;
    const char *script = opts && opts->script_src ? opts->script_src : NULL;
    const char *frames = opts && opts->frame_src && *opts->frame_src ? opts->frame_src : NULL;
    snprintf (out, size,
              "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'%s%s; "
              "frame-ancestors 'none'; base-uri 'none'%s%s%s%s",
              form_action ? " " : "", form_action ? form_action : "", script ? "; script-src " : "",
              script ? script : "", frames ? "; frame-src " : "", frames ? frames : "");
}

//  Sends body (may be NULL) with the page headers.
static int
s_send_html (gw_req_t *req, int status, const char *body, size_t len, const pages_opts_t *opts,
             const char *location)
{
    char csp[5120];
    s_csp (opts, csp, sizeof csp);
    http_header_t extra[4 + PAGES_MAX_EXTRA + 1];
    size_t n = 0;
    extra[n++] = (http_header_t){"Content-Security-Policy", csp};
    extra[n++] = (http_header_t){"X-Frame-Options", "DENY"};
    extra[n++] = (http_header_t){"Referrer-Policy", "no-referrer"};
    extra[n++] = (http_header_t){"Pragma", "no-cache"};
    if (location)
        extra[n++] = (http_header_t){"Location", location};
    pages_headers_t *headers = opts ? opts->headers : NULL;
    for (size_t i = 0; headers && i < headers->count; i++)
        extra[n++] = headers->list[i];
    return http_send (req, status, "text/html; charset=utf-8", "no-store", extra, n, body, len);
}

int
pages_send (gw_req_t *req, int status, const char *title, const html_t *body, const pages_opts_t *opts)
{
    html_t page;
    html_init (&page);
    html_raw (&page, "<!DOCTYPE html>\n<html lang=\"");
    html_text (&page, req->lang ? req->lang : "en");
    html_raw (&page, "\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<meta name=\"referrer\" content=\"no-referrer\">\n<title>");
    html_text (&page, title);
    html_raw (&page, " · ");
    html_text (&page, pages_product (req));
    html_raw (&page, "</title>\n<link rel=\"stylesheet\" href=\"");
    char css[2048];
    if (pages_url (req, "/static/ostiary.css", css, sizeof css) == 0)
        html_text (&page, css);
    html_raw (&page, "\">\n");
    //  The operator's stylesheet after ours: its rules win.
    if (req->gw && theme_has_css (req->gw->theme) &&
        pages_url (req, "/theme/style.css", css, sizeof css) == 0) {
        html_raw (&page, "<link rel=\"stylesheet\" href=\"");
        html_text (&page, css);
        html_raw (&page, "\">\n");
    }
    if (opts && opts->refresh > 0) {
        //  HTML §4.2.5.3 (refresh pragma): a waiting page polls by reloading
        //  itself, which CSP allows without any script.
        char refresh[96];
        snprintf (refresh, sizeof refresh, "<meta http-equiv=\"refresh\" content=\"%d", opts->refresh);
        html_raw (&page, refresh);
        if (opts->refresh_url) {
            html_raw (&page, ";url=");
            html_text (&page, opts->refresh_url);
        }
        html_raw (&page, "\">\n");
    }
    html_raw (&page, "</head>\n<body>\n");
    const theme_t *theme = req->gw ? req->gw->theme : NULL;
    const char *lang = req->lang ? req->lang : "en";
    const char *header = theme_fragment (theme, "header", lang);
    const char *footer = theme_fragment (theme, "footer", lang);
    if (header) {
        html_raw (&page, "<header class=\"theme\">");
        html_raw (&page, header);
        html_raw (&page, "</header>\n");
    }
    html_raw (&page, body && body->data ? body->data : "");
    if (footer) {
        html_raw (&page, "\n<footer class=\"theme\">");
        html_raw (&page, footer);
        html_raw (&page, "</footer>");
    }
    html_raw (&page, "\n</body>\n</html>\n");
    if (html_failed (&page) || (body && html_failed (body))) {
        html_free (&page);
        static const char oom[] = "<!DOCTYPE html><title>Error</title><p>The server is out of memory.</p>";
        return s_send_html (req, 500, oom, sizeof oom - 1, NULL, NULL);
    }
    int rc = s_send_html (req, status, page.data, page.len, opts, NULL);
    html_free (&page);
    return rc;
}

void
pages_open (html_t *body, const gw_req_t *req, const char *main_class, const char *title)
{
    html_raw (body, "<main");
    if (main_class) {
        html_raw (body, " class=\"");
        html_text (body, main_class);
        html_raw (body, "\"");
    }
    html_raw (body, ">\n<p class=\"brand\">");
    char logo[2048];
    if (req->gw && theme_has_logo (req->gw->theme) &&
        pages_url (req, "/theme/logo", logo, sizeof logo) == 0) {
        html_raw (body, "<img class=\"logo\" alt=\"\" src=\"");
        html_text (body, logo);
        html_raw (body, "\">");
    }
    html_text (body, pages_product (req));
    html_raw (body, "</p>\n");
    if (title) {
        html_raw (body, "<h1>");
        html_text (body, title);
        html_raw (body, "</h1>\n");
    }
}

//  An error page; code, when not NULL, is the stable code of the refusal
//  (an OAuth error, a page error reason, a form status), shown beside the
//  request id so that a user can quote it whatever their language.
static int
s_error_page (gw_req_t *req, int status, const char *title, const char *message, const char *code,
              pages_headers_t *headers)
{
    html_t body;
    html_init (&body);
    pages_open (&body, req, NULL, title);
    html_raw (&body, "<p class=\"error\" role=\"alert\">");
    html_text (&body, message);
    html_raw (&body, "</p>\n<p><small>");
    html_text_with (&body, pages_msg (req, "error.request_id"), "id", req->request_id, NULL);
    if (code) {
        html_raw (&body, " · ");
        html_text_with (&body, pages_msg (req, "error.code"), "code", code, "code id=\"error-code\"");
    }
    html_raw (&body, "</small></p>\n</main>");
    pages_opts_t opts = {.headers = headers};
    int rc = pages_send (req, status, title, &body, &opts);
    html_free (&body);
    return rc;
}

int
pages_error (gw_req_t *req, int status, const char *title, const char *message, pages_headers_t *headers)
{
    return s_error_page (req, status, title, message, NULL, headers);
}

//  The message prefix + code ("error.page." "unknown_client"), else
//  fallback's: a code the catalogue does not know yet is logged as a
//  missing message (the i18n tests look for that line).
static const char *
s_coded_msg (const gw_req_t *req, const char *prefix, const char *code, const char *fallback)
{
    char key[I18N_MAX_KEY + 1];
    int n = snprintf (key, sizeof key, "%s%s", prefix, code ? code : "");
    if (code && n > 0 && (size_t)n < sizeof key && req->gw && i18n_has (req->gw->i18n, "en", key))
        return pages_msg (req, key);
    log_warn ("i18n: no message %s%.48s", prefix, code ? code : "");
    return pages_msg (req, fallback);
}

int
pages_refused (gw_req_t *req, const char *title, const char *reason, pages_headers_t *headers)
{
    return s_error_page (req, 400, title, s_coded_msg (req, "error.page.", reason, "error.refused.text"),
                         reason, headers);
}

int
pages_form_error (gw_req_t *req, const char *title, form_status_t status, pages_headers_t *headers)
{
    const char *code = form_status_code (status);
    return s_error_page (req, 400, title, s_coded_msg (req, "error.form.", code, "error.refused.text"), code,
                         headers);
}

//  The q of one media range's parameters (RFC 9110 §12.4.2): 1 when
//  absent, 0 when malformed.
static double
s_quality (const char *params, size_t len)
{
    const char *q = NULL;
    for (size_t i = 0; i + 2 <= len; i++)
        if ((params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=' &&
            (i == 0 || params[i - 1] == ';' || params[i - 1] == ' '))
            q = params + i + 2;
    if (!q)
        return 1.0;
    char *end;
    double value = strtod (q, &end);
    return end == q || value < 0 || value > 1 ? 0 : value;
}

int
pages_accepts_html (const char *accept)
{
    if (!accept)
        return 0;
    double html = 0, json = 0;
    const char *p = accept;
    while (*p) {
        size_t len = strcspn (p, ",");
        //  One media range: type/subtype, then ;parameters.
        const char *range = p;
        while (len && (*range == ' ' || *range == '\t'))
            range++, len--;
        size_t type_len = strcspn (range, ";,");
        if (type_len > len)
            type_len = len;
        while (type_len && (range[type_len - 1] == ' ' || range[type_len - 1] == '\t'))
            type_len--;
        double q = s_quality (range + type_len, len - type_len);
        if ((type_len == 9 && strncasecmp (range, "text/html", 9) == 0) ||
            (type_len == 21 && strncasecmp (range, "application/xhtml+xml", 21) == 0)) {
            if (q > html)
                html = q;
        } else if (type_len == 16 && strncasecmp (range, "application/json", 16) == 0) {
            if (q > json)
                json = q;
        }
        p = range + len;
        if (*p == ',')
            p++;
    }
    return html > 0 && html > json;
}

int
pages_no_route (gw_req_t *req, int status, const char *allow)
{
    const char *accept = mg_get_header (req->conn, "Accept");
    if (pages_accepts_html (accept)) {
        pages_headers_t headers = {.count = 0};
        if (allow)
            pages_headers_add (&headers, "Allow", allow);
        return status == 405 ? pages_error (req, 405, pages_msg (req, "error.405.title"),
                                            pages_msg (req, "error.405.text"), &headers)
                             : pages_error (req, 404, pages_msg (req, "error.404.title"),
                                            pages_msg (req, "error.404.text"), &headers);
    }
    if (status == 405) {
        http_header_t extra[] = {{"Allow", allow ? allow : ""}};
        return http_send_error_status (req, 405, OST_ERR_INVALID_REQUEST, "method not allowed", extra, 1);
    }
    return http_send_error (req, OST_ERR_NOT_FOUND, "no such resource");
}

//  A refused body's page when html, else its JSON error.
static int
s_body_answer (gw_req_t *req, int status, int html)
{
    if (!html)
        return http_send_body_error (req, status);
    pages_headers_t headers = {.count = 0};
    switch (status) {
    case 413:
    case 408:
        //  As the JSON answer: the unread body is not waited for.
        pages_headers_add (&headers, "Connection", "close");
        return status == 413 ? pages_error (req, 413, pages_msg (req, "error.413.title"),
                                            pages_msg (req, "error.413.text"), &headers)
                             : pages_error (req, 408, pages_msg (req, "error.408.title"),
                                            pages_msg (req, "error.408.text"), &headers);
    case 503:
        return pages_error (req, 503, pages_msg (req, "error.unavailable.title"),
                            pages_msg (req, "error.memory"), NULL);
    default:
        return pages_error (req, 400, pages_msg (req, "error.bad_request.title"),
                            pages_msg (req, "error.body_incomplete"), NULL);
    }
}

int
pages_body_refused (gw_req_t *req, int status)
{
    return s_body_answer (req, status, pages_accepts_html (mg_get_header (req->conn, "Accept")));
}

int
pages_too_many_headers (gw_req_t *req)
{
    if (pages_accepts_html (mg_get_header (req->conn, "Accept")))
        return pages_error (req, 431, pages_msg (req, "error.431.title"), pages_msg (req, "error.431.text"),
                            NULL);
    return http_send_error_status (req, 431, OST_ERR_INVALID_REQUEST, "too many request headers", NULL, 0);
}

int
pages_bus_error (gw_req_t *req, const bus_error_t *error, pages_headers_t *headers)
{
    //  The status and code every endpoint answers this error with (http.h).
    http_error_t answer = http_bus_error_answer (error);
    int status = answer.status;
    if (status >= 500) {
        //  Our own troubles are not the user's: one sentence for all.
        log_warn ("page: bus error code=%s", proto_err (error ? error->err : OST_ERR_SERVER_ERROR)->code);
        return pages_error (req, status, pages_msg (req, "error.unavailable.title"),
                            pages_msg (req, "error.unavailable.text"), headers);
    }
    //  The service's error_description is English for API clients
    //  (proto/errors.def); a person reads the catalogue's sentence of the
    //  OAuth code, in their language.
    const char *code = proto_err_http (error ? error->err : OST_ERR_INVALID_REQUEST)->code;
    if (status == 401 || status == 403 || status == 404)
        status = 400;
    return s_error_page (req, status, pages_msg (req, "error.refused.title"),
                         s_coded_msg (req, "error.oauth.", code, "error.refused.text"), code, headers);
}

int
pages_redirect (gw_req_t *req, int status, const char *location, pages_headers_t *headers)
{
    if (!location || strlen (location) >= PAGES_MAX_LOCATION) {
        log_error ("redirect: the location is too long");
        return pages_error (req, 500, pages_msg (req, "error.title"), pages_msg (req, "error.redirect"),
                            headers);
    }
    pages_opts_t opts = {.headers = headers};
    return s_send_html (req, status, NULL, 0, &opts, location);
}

//  ---------------------------------------------------------------------------
//  Forms

int
pages_is_form (const gw_req_t *req)
{
    const char *type = mg_get_header (req->conn, "Content-Type");
    if (!type)
        return 0;
    static const char want[] = "application/x-www-form-urlencoded";
    size_t n = sizeof want - 1;
    if (strncasecmp (type, want, n) != 0)
        return 0;
    //  RFC 9110 §8.3.1: parameters may follow (e.g. "; charset=UTF-8").
    const char *rest = type + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

form_t *
pages_read_form (gw_req_t *req, const form_limits_t *limits, int html)
{
    char *body = NULL;
    size_t len = 0;
    int refused = http_take_body (req, (size_t)req->gw->cfg->http_max_body, &body, &len);
    if (refused) {
        pages_body_refused (req, refused);
        return NULL;
    }
    form_status_t status;
    form_t *form = form_parse (body, len, limits, &status);
    if (body) {
        //  The body may hold a password or a client secret.
        secure_wipe (body, len);
        free (body);
    }
    if (!form) {
        if (status == FORM_NO_MEMORY)
            s_body_answer (req, 503, html);
        else if (html)
            pages_form_error (req, pages_msg (req, "error.bad_request.title"), status, NULL);
        else
            http_send_error (req, OST_ERR_INVALID_REQUEST, form_status_text (status));
    }
    return form;
}

void
pages_form_open (html_t *body, gw_req_t *req, const char *path, const char *csrf)
{
    char action[2048];
    if (pages_url (req, path, action, sizeof action) != 0)
        action[0] = '\0';
    html_raw (body, "<form method=\"post\" action=\"");
    html_text (body, action);
    html_raw (body, "\">\n<input type=\"hidden\" name=\"csrf\" value=\"");
    html_text (body, csrf);
    html_raw (body, "\">\n");
}

form_t *
pages_read_html_form (gw_req_t *req, const form_limits_t *limits)
{
    if (!pages_is_form (req)) {
        pages_error (req, 400, pages_msg (req, "error.bad_request.title"), pages_msg (req, "error.form_type"),
                     NULL);
        return NULL;
    }
    return pages_read_form (req, limits, 1);
}

int
pages_flow_expired (gw_req_t *req, pages_headers_t *headers)
{
    pages_set_cookie (headers, req, COOKIE_FLOW, "", 0);
    return pages_error (req, 400, pages_msg (req, "flow.expired.title"), pages_msg (req, "flow.expired.text"),
                        headers);
}

int
pages_flow_call (gw_req_t *req, const char *op, const json_t *body, json_t **result, pages_headers_t *headers)
{
    bus_error_t error;
    if (http_bus_call (req, op, body, result, &error) == 0)
        return 0;
    if (error.err == OST_ERR_INVALID_FLOW ||
        (error.err == OST_ERR_INVALID_REQUEST && strcmp (op, "token.request_get") == 0))
        pages_flow_expired (req, headers);
    else
        pages_bus_error (req, &error, headers);
    return -1;
}

int
pages_session_csrf (const char *handle, const char *purpose, char out[PAGES_CSRF_CHARS + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    int ok = ctx && EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL) && EVP_DigestUpdate (ctx, "ostiary ", 8) &&
             EVP_DigestUpdate (ctx, purpose, strlen (purpose)) && EVP_DigestUpdate (ctx, "\n", 1) &&
             EVP_DigestUpdate (ctx, handle, strlen (handle)) && EVP_DigestFinal_ex (ctx, digest, &len) &&
             len == 32;
    EVP_MD_CTX_free (ctx);
    if (ok)
        b64url_encode (digest, len, out);
    else
        out[0] = '\0';
    secure_wipe (digest, sizeof digest);
    return ok ? 0 : -1;
}
