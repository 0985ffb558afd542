/*  i18n - message catalogues (see i18n.h). */
#include "i18n.h"

#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct {
    char tag[I18N_MAX_TAG + 1];
    json_t *messages; //  key -> text
} s_lang_t;

struct _i18n_t {
    s_lang_t langs[I18N_MAX_LANGS]; //  [0] is English
    size_t count;
    const char **keys; //  English keys, file order
    size_t key_count;
};

//  A file name's tag: 2 to I18N_MAX_TAG lowercase letters then ".json".
static int
s_tag_of (const char *name, char *tag)
{
    size_t n = strspn (name, "abcdefghijklmnopqrstuvwxyz");
    if (n < 2 || n > I18N_MAX_TAG || strcmp (name + n, ".json") != 0)
        return -1;
    memcpy (tag, name, n);
    tag[n] = '\0';
    return 0;
}

static json_t *
s_load (const char *path)
{
    struct stat st;
    if (stat (path, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size > I18N_MAX_FILE) {
        log_error ("i18n: %s is missing, not a file or above %d bytes", path, I18N_MAX_FILE);
        return NULL;
    }
    json_error_t error;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        log_error ("i18n: %s line %d: %s", path, error.line, error.text);
        return NULL;
    }
    if (!json_is_object (root)) {
        log_error ("i18n: %s is not one JSON object", path);
        json_decref (root);
        return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value)
    {
        if (strlen (key) == 0 || strlen (key) > I18N_MAX_KEY || !json_is_string (value) ||
            json_string_length (value) > I18N_MAX_TEXT ||
            strlen (json_string_value (value)) != json_string_length (value)) {
            log_error ("i18n: %s: key \"%.64s\" is too long or its text is not a string within %d bytes",
                       path, key, I18N_MAX_TEXT);
            json_decref (root);
            return NULL;
        }
    }
    return root;
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp (((const s_lang_t *)a)->tag, ((const s_lang_t *)b)->tag);
}

i18n_t *
i18n_new (const char *dir)
{
    i18n_t *self = calloc (1, sizeof *self);
    DIR *d = dir ? opendir (dir) : NULL;
    if (!self || !d) {
        log_error ("i18n: cannot open the catalogues' folder %s", dir ? dir : "(none)");
        free (self);
        if (d)
            closedir (d);
        return NULL;
    }
    int ok = 1, english = 0;
    struct dirent *entry;
    //  English takes slot 0; the others follow.
    self->count = 1;
    while (ok && (entry = readdir (d))) {
        char tag[I18N_MAX_TAG + 1];
        if (s_tag_of (entry->d_name, tag) != 0)
            continue;
        int is_en = strcmp (tag, "en") == 0;
        if (!is_en && self->count >= I18N_MAX_LANGS) {
            log_error ("i18n: more than %d catalogues in %s", I18N_MAX_LANGS, dir);
            ok = 0;
            break;
        }
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        json_t *messages = s_load (path);
        if (!messages) {
            ok = 0;
            break;
        }
        s_lang_t *lang = is_en ? &self->langs[0] : &self->langs[self->count++];
        snprintf (lang->tag, sizeof lang->tag, "%s", tag);
        lang->messages = messages;
        english |= is_en;
    }
    closedir (d);
    if (ok && !english) {
        log_error ("i18n: %s has no en.json", dir);
        ok = 0;
    }
    if (ok) {
        qsort (self->langs + 1, self->count - 1, sizeof self->langs[0], s_compare);
        json_t *en = self->langs[0].messages;
        self->keys = calloc (json_object_size (en) + 1, sizeof *self->keys);
        const char *key;
        json_t *value;
        json_object_foreach (en, key, value)
        {
            if (self->keys)
                self->keys[self->key_count++] = key;
        }
        ok = self->keys != NULL;
    }
    if (!ok)
        i18n_destroy (&self);
    return self;
}

void
i18n_destroy (i18n_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    i18n_t *self = *self_p;
    for (size_t i = 0; i < I18N_MAX_LANGS; i++)
        json_decref (self->langs[i].messages);
    free (self->keys);
    free (self);
    *self_p = NULL;
}

size_t
i18n_count (const i18n_t *self)
{
    return self ? self->count : 0;
}

const char *
i18n_lang (const i18n_t *self, size_t index)
{
    return self && index < self->count ? self->langs[index].tag : NULL;
}

size_t
i18n_key_count (const i18n_t *self)
{
    return self ? self->key_count : 0;
}

const char *
i18n_key (const i18n_t *self, size_t index)
{
    return self && index < self->key_count ? self->keys[index] : NULL;
}

static const s_lang_t *
s_find (const i18n_t *self, const char *lang)
{
    for (size_t i = 0; self && lang && i < self->count; i++)
        if (strcmp (self->langs[i].tag, lang) == 0)
            return &self->langs[i];
    return NULL;
}

int
i18n_has (const i18n_t *self, const char *lang, const char *key)
{
    const s_lang_t *l = s_find (self, lang);
    return l && key && json_is_string (json_object_get (l->messages, key));
}

const char *
i18n_get (const i18n_t *self, const char *lang, const char *key)
{
    if (!self || !key)
        return key ? key : "";
    const s_lang_t *l = s_find (self, lang);
    const char *text = l ? json_string_value (json_object_get (l->messages, key)) : NULL;
    if (!text)
        text = json_string_value (json_object_get (self->langs[0].messages, key));
    if (!text)
        log_warn ("i18n: no message %.64s", key);
    return text ? text : key;
}

const char *
i18n_match (const i18n_t *self, const char *tag, size_t len)
{
    //  RFC 4647 §3.4 lookup, as far as our catalogues go: only the primary
    //  subtag names a catalogue.
    size_t primary = 0;
    while (primary < len && isalpha ((unsigned char)tag[primary]))
        primary++;
    if (primary < 2 || primary > I18N_MAX_TAG ||
        (primary < len && tag[primary] != '-' && tag[primary] != '_'))
        return NULL;
    for (size_t i = 0; self && i < self->count; i++)
        if (strlen (self->langs[i].tag) == primary && strncasecmp (self->langs[i].tag, tag, primary) == 0)
            return self->langs[i].tag;
    return NULL;
}

const char *
i18n_pick_ui_locales (const i18n_t *self, const char *ui_locales)
{
    const char *p = ui_locales;
    while (p && *p) {
        p += strspn (p, " ");
        size_t len = strcspn (p, " ");
        const char *found = len ? i18n_match (self, p, len) : NULL;
        if (found)
            return found;
        p += len;
    }
    return NULL;
}

const char *
i18n_pick_accept (const i18n_t *self, const char *accept_language)
{
    const char *best = NULL;
    double best_q = 0;
    const char *p = accept_language;
    while (p && *p) {
        size_t len = strcspn (p, ",");
        const char *item = p;
        p += len;
        if (*p == ',')
            p++;
        while (len && (*item == ' ' || *item == '\t'))
            item++, len--;
        size_t tag_len = strcspn (item, ";, \t");
        if (tag_len > len)
            tag_len = len;
        double q = 1.0;
        //  Parameters: only q counts (RFC 9110 §12.4.2 weight).
        const char *param = item + tag_len;
        const char *end = item + len;
        while (param < end) {
            param += strspn (param, "; \t");
            if (param + 2 <= end && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                char number[8] = "";
                size_t n = (size_t)(end - param - 2);
                memcpy (number, param + 2, n < sizeof number - 1 ? n : sizeof number - 1);
                char *stop;
                q = strtod (number, &stop);
                if (stop == number || q < 0 || q > 1)
                    q = 0;
            }
            param += strcspn (param, ";");
            if (param > end)
                param = end;
        }
        const char *found = tag_len ? i18n_match (self, item, tag_len) : NULL;
        if (found && q > best_q) {
            best = found;
            best_q = q;
        }
    }
    return best;
}

char *
i18n_format (const i18n_t *self, const char *lang, const char *key, const char *const *args)
{
    const char *text = i18n_get (self, lang, key);
    size_t cap = strlen (text) + 1, len = 0;
    for (size_t i = 0; args && args[i] && args[i + 1]; i += 2)
        cap += strlen (args[i + 1]);
    //  Each placeholder is replaced at most once per occurrence; a text may
    //  repeat one, so grow as needed.
    char *out = malloc (cap);
    const char *p = text;
    while (out && *p) {
        const char *value = NULL;
        size_t skip = 0;
        if (*p == '{') {
            size_t n = strcspn (p + 1, "{}");
            for (size_t i = 0; args && args[i] && args[i + 1] && p[1 + n] == '}'; i += 2)
                if (strlen (args[i]) == n && strncmp (args[i], p + 1, n) == 0) {
                    value = args[i + 1];
                    skip = n + 2;
                    break;
                }
        }
        const char *piece = value ? value : p;
        size_t n = value ? strlen (value) : 1;
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *grown = realloc (out, cap);
            if (!grown) {
                free (out);
                return NULL;
            }
            out = grown;
        }
        memcpy (out + len, piece, n);
        len += n;
        p += value ? skip : 1;
    }
    if (out)
        out[len] = '\0';
    return out;
}
