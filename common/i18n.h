/*  i18n - the message catalogues of the pages and emails: one JSON file per
 *  language in a folder (OSTIARY_LOCALES_DIR), named after its BCP 47
 *  primary tag (en.json, fr.json), each one flat object of message key to
 *  text. Placeholders in a text are {name}. English (en.json) must exist
 *  and is the fallback of every other catalogue, key by key.
 *
 *  Limits: at most I18N_MAX_LANGS catalogues of at most I18N_MAX_FILE bytes,
 *  I18N_MAX_KEY bytes a key and I18N_MAX_TEXT bytes a text; a file over any
 *  limit, not UTF-8 JSON, or not a flat object of strings is refused and
 *  i18n_new fails (a start with a broken catalogue is a configuration
 *  error, not a page in the wrong language). */
#ifndef OST_I18N_H
#define OST_I18N_H

#include "ost.h"

#include <stddef.h>

#define I18N_MAX_LANGS 32
#define I18N_MAX_FILE (256 * 1024)
#define I18N_MAX_KEY 64
#define I18N_MAX_TEXT 2048
//  A language tag's file name part: 2 to 8 letters (a primary subtag).
#define I18N_MAX_TAG 8

typedef struct _i18n_t i18n_t;

//  Loads every <tag>.json of dir. NULL (logged) when dir has no en.json or
//  a catalogue is refused.
i18n_t *i18n_new (const char *dir);
void i18n_destroy (i18n_t **self_p);

//  The languages present, "en" first then in name order; i18n_lang's
//  strings live as long as self.
size_t i18n_count (const i18n_t *self);
const char *i18n_lang (const i18n_t *self, size_t index);

//  The text of key in lang, else in English, else key itself (a bug a
//  test catches, never a crash). lang NULL or unknown means English.
const char *i18n_get (const i18n_t *self, const char *lang, const char *key);
//  1 when lang's own catalogue holds key (no fallback), else 0.
int i18n_has (const i18n_t *self, const char *lang, const char *key);
//  The keys of the English catalogue, in file order: index < count.
size_t i18n_key_count (const i18n_t *self);
const char *i18n_key (const i18n_t *self, size_t index);

//  The language of a tag (BCP 47, case-insensitive: "fr", "fr-CA" and
//  "FR_ca" give "fr"), NULL when no catalogue serves it.
const char *i18n_match (const i18n_t *self, const char *tag, size_t len);
//  OpenID Connect Core §3.1.2.1 ui_locales: space-separated tags in order
//  of preference; the first one served wins. NULL when none is.
const char *i18n_pick_ui_locales (const i18n_t *self, const char *ui_locales);
//  RFC 9110 §12.5.4 Accept-Language: the served language of highest q (the
//  first listed among equals; q=0 excludes). NULL when none is.
const char *i18n_pick_accept (const i18n_t *self, const char *accept_language);

//  The text of key in lang with each {name} replaced by the value paired
//  with it in args (name, value, name, value, ..., NULL), unescaped: for
//  plain text such as an email. An unknown placeholder stays as written.
//  A new string, or NULL when out of memory.
char *i18n_format (const i18n_t *self, const char *lang, const char *key, const char *const *args);

#endif
