/*  jsonw - compact JSON text of a jansson value. See jsonw.h.
 *
 *  The output follows jansson 2.14's dump.c with JSON_COMPACT: separators
 *  "," and ":" without spaces; strings escape '"', '\\' and the control
 *  characters (\b \f \n \r \t by name, the others as \u00XX with upper-case
 *  hex), nothing else ('/' and non-ASCII stay as they are); integers in
 *  decimal; reals as jansson writes them (it writes them here too). A string
 *  that is not well-formed UTF-8 fails the whole dump, as in jansson. */
#include "jsonw.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} s_buf_t;

static int
s_reserve (s_buf_t *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *data = realloc (b->data, cap);
    if (!data) {
        b->failed = 1;
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static void
s_put (s_buf_t *b, const char *s, size_t n)
{
    if (s_reserve (b, n) == 0) {
        memcpy (b->data + b->len, s, n);
        b->len += n;
    }
}

static void
s_putc (s_buf_t *b, char c)
{
    if (s_reserve (b, 1) == 0)
        b->data[b->len++] = c;
}

//  Bytes a string copies as they are: printable ASCII but '"' and '\\'.
//  Every other byte stops the run (escapes, and UTF-8 to check).
static const unsigned char s_plain[256] = {
#define P16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    P16 (0), P16 (0), //  0x00-0x1f
    1,       1,       0,       1,       1,       1,       1,       1,
    1,       1,       1,       1,       1,       1,       1,       1, //  0x20-0x2f: '"' at 0x22
    P16 (1), P16 (1),                                                 //  0x30-0x4f
    1,       1,       1,       1,       1,       1,       1,       1,
    1,       1,       1,       1,       0,       1,       1,       1,       //  0x50-0x5f: '\\' at 0x5c
    P16 (1), P16 (1),                                                       //  0x60-0x7f
    P16 (0), P16 (0), P16 (0), P16 (0), P16 (0), P16 (0), P16 (0), P16 (0), //  0x80-0xff
#undef P16
};

//  Length of the well-formed UTF-8 sequence at s (at most n bytes; RFC 3629:
//  no overlong forms, no surrogates, nothing above U+10FFFF), 0 when it is
//  not one.
static size_t
s_utf8_len (const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c < 0xc2)
        return 0;
    if (c < 0xe0)
        len = 2, cp = c & 0x1f;
    else if (c < 0xf0)
        len = 3, cp = c & 0x0f;
    else if (c < 0xf5)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static void
s_string (s_buf_t *b, const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    //  The longest outcome: every byte a \u00XX.
    if (s_reserve (b, n * 6 + 2))
        return;
    char *out = b->data + b->len;
    *out++ = '"';
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && s_plain[s[i]])
            i++;
        memcpy (out, s + start, i - start);
        out += i - start;
        if (i == n)
            break;
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t len = s_utf8_len (s + i, n - i);
            if (!len) {
                b->failed = 1;
                return;
            }
            memcpy (out, s + i, len);
            out += len;
            i += len;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *out++ = (char)c;
            break;
        case '\b':
            *out++ = 'b';
            break;
        case '\f':
            *out++ = 'f';
            break;
        case '\n':
            *out++ = 'n';
            break;
        case '\r':
            *out++ = 'r';
            break;
        case '\t':
            *out++ = 't';
            break;
        default: {
            static const char hex[] = "0123456789ABCDEF";
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 0xf];
        }
        }
        i++;
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
}

typedef struct {
    const char *key;
    size_t len;
    json_t *value;
} s_member_t;

//  jansson's order of sorted keys: bytes, then length.
static int
s_compare_keys (const void *a, const void *b)
{
    const s_member_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int rc = memcmp (x->key, y->key, n);
    if (rc)
        return rc;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void s_value (s_buf_t *b, const json_t *json, int sort_keys, int depth);

static void
s_object (s_buf_t *b, const json_t *json, int sort_keys, int depth)
{
    s_putc (b, '{');
    const char *key;
    json_t *value;
    size_t n = json_object_size (json);
    if (sort_keys && n > 1) {
        s_member_t *members = malloc (n * sizeof *members);
        if (!members) {
            b->failed = 1;
            return;
        }
        size_t i = 0;
        json_object_foreach ((json_t *)json, key, value)
        {
            members[i++] = (s_member_t){key, strlen (key), value};
        }
        qsort (members, i, sizeof *members, s_compare_keys);
        for (size_t k = 0; k < i && !b->failed; k++) {
            if (k)
                s_putc (b, ',');
            s_string (b, members[k].key, members[k].len);
            s_putc (b, ':');
            s_value (b, members[k].value, sort_keys, depth + 1);
        }
        free (members);
    } else {
        int first = 1;
        json_object_foreach ((json_t *)json, key, value)
        {
            if (!first)
                s_putc (b, ',');
            first = 0;
            s_string (b, key, strlen (key));
            s_putc (b, ':');
            s_value (b, value, sort_keys, depth + 1);
            if (b->failed)
                return;
        }
    }
    s_putc (b, '}');
}

static void
s_value (s_buf_t *b, const json_t *json, int sort_keys, int depth)
{
    if (b->failed)
        return;
    if (depth > JSONW_MAX_DEPTH) {
        b->failed = 1;
        return;
    }
    char number[32];
    switch (json_typeof (json)) {
    case JSON_OBJECT:
        s_object (b, json, sort_keys, depth);
        break;
    case JSON_ARRAY:
        s_putc (b, '[');
        for (size_t i = 0; i < json_array_size (json) && !b->failed; i++) {
            if (i)
                s_putc (b, ',');
            s_value (b, json_array_get (json, i), sort_keys, depth + 1);
        }
        s_putc (b, ']');
        break;
    case JSON_STRING:
        s_string (b, json_string_value (json), json_string_length (json));
        break;
    case JSON_INTEGER: {
        int n = snprintf (number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value (json));
        s_put (b, number, (size_t)n);
        break;
    }
    case JSON_REAL: {
        //  jansson's own text for a real (its precision and its ".0").
        char *text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) {
            b->failed = 1;
            return;
        }
        s_put (b, text, strlen (text));
        free (text);
        break;
    }
    case JSON_TRUE:
        s_put (b, "true", 4);
        break;
    case JSON_FALSE:
        s_put (b, "false", 5);
        break;
    case JSON_NULL:
        s_put (b, "null", 4);
        break;
    }
}

char *
jsonw_dump (const json_t *json, int sort_keys, size_t *len)
{
    if (!json_is_object (json) && !json_is_array (json))
        return NULL;
    s_buf_t b = {0};
    s_value (&b, json, sort_keys, 0);
    if (b.failed || s_reserve (&b, 0)) {
        free (b.data);
        return NULL;
    }
    b.data[b.len] = 0;
    if (len)
        *len = b.len;
    return b.data;
}
