/*  form - bounded application/x-www-form-urlencoded parser. See form.h. */
#include "form.h"

#include "secure.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    char *value;
    size_t name_len;
    size_t value_len;
} s_pair_t;

struct _form_t {
    s_pair_t *pairs;
    size_t count;
};

static int
s_hex (unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  1 when s[0..len) is well-formed UTF-8 (RFC 3629 §4: no overlong forms,
//  no surrogates, nothing above U+10FFFF).
static int
s_utf8_valid (const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned int cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else
            return 0;
        if (len - i - 1 < n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

//  Decodes in[0..len) into out (room for max bytes + NUL). Returns the
//  decoded length, or -1 with *status set.
static long
s_decode (const char *in, size_t len, char *out, size_t max, int plus_is_space, form_status_t too_long,
          form_status_t *status)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            //  WHATWG URL §5.1 would keep a bad escape as text; we refuse
            //  it, so that no two parsers can read one request differently.
            int hi = i + 1 < len ? s_hex ((unsigned char)in[i + 1]) : -1;
            int lo = i + 2 < len ? s_hex ((unsigned char)in[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *status = FORM_BAD_ESCAPE;
                return -1;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space)
            c = ' ';
        if (c == '\0') {
            *status = FORM_NUL;
            return -1;
        }
        if (o >= max) {
            *status = too_long;
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (!s_utf8_valid ((const unsigned char *)out, o)) {
        *status = FORM_BAD_UTF8;
        return -1;
    }
    return (long)o;
}

static void
s_pair_wipe (s_pair_t *pair)
{
    if (pair->name) {
        secure_wipe (pair->name, pair->name_len);
        free (pair->name);
    }
    if (pair->value) {
        secure_wipe (pair->value, pair->value_len);
        free (pair->value);
    }
    pair->name = pair->value = NULL;
}

void
form_destroy (form_t **self_p)
{
    if (self_p && *self_p) {
        form_t *self = *self_p;
        for (size_t i = 0; i < self->count; i++)
            s_pair_wipe (&self->pairs[i]);
        free (self->pairs);
        free (self);
        *self_p = NULL;
    }
}

form_t *
form_parse (const char *data, size_t len, const form_limits_t *limits, form_status_t *status)
{
    form_status_t dummy;
    if (!status)
        status = &dummy;
    *status = FORM_OK;
    if (len > limits->max_total) {
        *status = FORM_TOO_LARGE;
        return NULL;
    }
    if (!data)
        len = 0;
    //  A raw NUL is refused before anything else: the data is not text.
    if (len > 0 && memchr (data, '\0', len)) {
        *status = FORM_NUL;
        return NULL;
    }
    form_t *self = calloc (1, sizeof *self);
    if (!self) {
        *status = FORM_NO_MEMORY;
        return NULL;
    }
    //  Counting the pairs first bounds the allocation by max_params.
    size_t pairs = 0;
    for (size_t i = 0; i < len;) {
        const char *amp = memchr (data + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - data) : len;
        if (end > i)
            pairs++;
        i = end + 1;
    }
    if (pairs > limits->max_params) {
        *status = FORM_TOO_MANY;
        free (self);
        return NULL;
    }
    if (pairs > 0) {
        self->pairs = calloc (pairs, sizeof *self->pairs);
        if (!self->pairs) {
            *status = FORM_NO_MEMORY;
            free (self);
            return NULL;
        }
    }
    for (size_t i = 0; i < len;) {
        const char *amp = memchr (data + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - data) : len;
        size_t seg_len = end - i;
        const char *seg = data + i;
        i = end + 1;
        //  WHATWG URL §5.1 step 3.1: empty sequences between '&' are skipped.
        if (seg_len == 0)
            continue;
        const char *eq = memchr (seg, '=', seg_len);
        size_t name_raw = eq ? (size_t)(eq - seg) : seg_len;
        const char *value_start = eq ? eq + 1 : seg + seg_len;
        size_t value_raw = eq ? seg_len - name_raw - 1 : 0;
        if (name_raw == 0) {
            *status = FORM_EMPTY_NAME;
            form_destroy (&self);
            return NULL;
        }
        //  Decoding never lengthens, so the raw length bounds the buffer; a
        //  raw length above the limit may still decode within it.
        size_t name_cap = name_raw < limits->max_name ? name_raw : limits->max_name;
        size_t value_cap = value_raw < limits->max_value ? value_raw : limits->max_value;
        s_pair_t *pair = &self->pairs[self->count];
        pair->name = malloc (name_cap + 1);
        pair->value = malloc (value_cap + 1);
        if (!pair->name || !pair->value) {
            self->count++;
            *status = FORM_NO_MEMORY;
            form_destroy (&self);
            return NULL;
        }
        self->count++;
        long n = s_decode (seg, name_raw, pair->name, name_cap, 1, FORM_NAME_TOO_LONG, status);
        if (n < 0) {
            pair->name_len = name_cap;
            pair->value_len = 0;
            form_destroy (&self);
            return NULL;
        }
        pair->name_len = (size_t)n;
        long v = s_decode (value_start, value_raw, pair->value, value_cap, 1, FORM_VALUE_TOO_LONG, status);
        if (v < 0) {
            //  The partial value may hold part of a secret: wipe it all.
            pair->value_len = value_cap;
            form_destroy (&self);
            return NULL;
        }
        pair->value_len = (size_t)v;
    }
    return self;
}

const char *
form_status_text (form_status_t status)
{
    switch (status) {
    case FORM_OK:
        return "ok";
    case FORM_TOO_LARGE:
        return "The request parameters are too large";
    case FORM_TOO_MANY:
        return "The request has too many parameters";
    case FORM_NAME_TOO_LONG:
        return "A parameter name is too long";
    case FORM_VALUE_TOO_LONG:
        return "A parameter value is too long";
    case FORM_BAD_ESCAPE:
        return "A parameter has an invalid percent-encoding";
    case FORM_NUL:
        return "A parameter contains a NUL byte";
    case FORM_BAD_UTF8:
        return "A parameter is not valid UTF-8";
    case FORM_EMPTY_NAME:
        return "A parameter has no name";
    case FORM_NO_MEMORY:
        return "The server is out of memory";
    }
    return "The request parameters are malformed";
}

const char *
form_status_code (form_status_t status)
{
    switch (status) {
    case FORM_OK:
        return "ok";
    case FORM_TOO_LARGE:
        return "too_large";
    case FORM_TOO_MANY:
        return "too_many";
    case FORM_NAME_TOO_LONG:
        return "name_too_long";
    case FORM_VALUE_TOO_LONG:
        return "value_too_long";
    case FORM_BAD_ESCAPE:
        return "bad_escape";
    case FORM_NUL:
        return "nul";
    case FORM_BAD_UTF8:
        return "bad_utf8";
    case FORM_EMPTY_NAME:
        return "empty_name";
    case FORM_NO_MEMORY:
        return "no_memory";
    }
    return "malformed";
}

size_t
form_count (const form_t *self)
{
    return self ? self->count : 0;
}

const char *
form_name_at (const form_t *self, size_t i)
{
    return self && i < self->count ? self->pairs[i].name : NULL;
}

const char *
form_value_at (const form_t *self, size_t i)
{
    return self && i < self->count ? self->pairs[i].value : NULL;
}

static int
s_counts (const s_pair_t *pair, int skip_empty)
{
    return !skip_empty || pair->value_len > 0;
}

const char *
form_get (const form_t *self, const char *name, int skip_empty)
{
    if (!self || !name)
        return NULL;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->pairs[i].name, name) == 0 && s_counts (&self->pairs[i], skip_empty))
            return self->pairs[i].value;
    return NULL;
}

size_t
form_occurrences (const form_t *self, const char *name, int skip_empty)
{
    size_t n = 0;
    if (!self || !name)
        return 0;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->pairs[i].name, name) == 0 && s_counts (&self->pairs[i], skip_empty))
            n++;
    return n;
}

//  1 when pair i is the first counted occurrence of its name and a later
//  counted one exists. Quadratic, bounded by max_params.
static int
s_first_of_repeat (const form_t *self, size_t i, int skip_empty)
{
    const s_pair_t *pair = &self->pairs[i];
    if (!s_counts (pair, skip_empty))
        return 0;
    for (size_t j = 0; j < i; j++)
        if (strcmp (self->pairs[j].name, pair->name) == 0 && s_counts (&self->pairs[j], skip_empty))
            return 0;
    for (size_t j = i + 1; j < self->count; j++)
        if (strcmp (self->pairs[j].name, pair->name) == 0 && s_counts (&self->pairs[j], skip_empty))
            return 1;
    return 0;
}

const char *
form_first_repeated (const form_t *self, int skip_empty)
{
    if (!self)
        return NULL;
    for (size_t i = 0; i < self->count; i++)
        if (s_first_of_repeat (self, i, skip_empty))
            return self->pairs[i].name;
    return NULL;
}

json_t *
form_to_json (const form_t *self, int skip_empty)
{
    json_t *out = json_object ();
    if (!out || !self)
        return out;
    for (size_t i = 0; i < self->count; i++) {
        const s_pair_t *pair = &self->pairs[i];
        if (!s_counts (pair, skip_empty) || json_object_get (out, pair->name))
            continue;
        if (json_object_set_new (out, pair->name, json_stringn (pair->value, pair->value_len))) {
            json_decref (out);
            return NULL;
        }
    }
    return out;
}

json_t *
form_repeated_json (const form_t *self, int skip_empty)
{
    json_t *out = json_array ();
    if (!out || !self)
        return out;
    for (size_t i = 0; i < self->count; i++)
        if (s_first_of_repeat (self, i, skip_empty) &&
            json_array_append_new (out, json_string (self->pairs[i].name))) {
            json_decref (out);
            return NULL;
        }
    return out;
}

char *
form_decode_component (const char *in, size_t len, size_t max, int plus_is_space)
{
    if (!in)
        return NULL;
    size_t cap = len < max ? len : max;
    char *out = malloc (cap + 1);
    if (!out)
        return NULL;
    form_status_t status;
    long n = s_decode (in, len, out, cap, plus_is_space, FORM_VALUE_TOO_LONG, &status);
    if (n < 0) {
        secure_wipe (out, cap + 1);
        free (out);
        return NULL;
    }
    return out;
}

long
form_encode_append (char *out, size_t out_size, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!out || out_size == 0)
        return -1;
    size_t start = strnlen (out, out_size);
    if (start >= out_size)
        return -1;
    size_t o = start;
    for (const unsigned char *p = (const unsigned char *)(value ? value : ""); *p; p++) {
        //  RFC 3986 §2.3 unreserved characters go as they are.
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '.' || *p == '_' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (o + need >= out_size) {
            out[start] = '\0';
            return -1;
        }
        if (plain)
            out[o++] = (char)*p;
        else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 0x0F];
        }
    }
    out[o] = '\0';
    return (long)o;
}

long
form_append_param (char *out, size_t out_size, const char *sep, const char *name, const char *value)
{
    if (!out || out_size == 0 || !sep || !name)
        return -1;
    size_t start = strnlen (out, out_size);
    if (start >= out_size)
        return -1;
    size_t seplen = strlen (sep);
    long len = -1;
    if (start + seplen < out_size) {
        memcpy (out + start, sep, seplen + 1);
        if (form_encode_append (out, out_size, name) >= 0 && strlen (out) + 1 < out_size) {
            strcat (out, "=");
            len = form_encode_append (out, out_size, value);
        }
    }
    if (len < 0)
        out[start] = '\0';
    return len;
}
