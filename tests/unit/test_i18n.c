/*  Unit tests of the message catalogues: loading within limits, English as
 *  the fallback key by key, ui_locales (OpenID Connect Core §3.1.2.1) and
 *  Accept-Language (RFC 9110 §12.5.4) choices, placeholders; and the
 *  project's own catalogues (locales/, or OSTIARY_LOCALES_DIR): every
 *  language has every English key with the same placeholders. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "i18n.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_dir[64];

static void
s_write (const char *name, const char *text)
{
    char path[128];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

static int
s_setup (void **state)
{
    (void)state;
    snprintf (s_dir, sizeof s_dir, "/tmp/ostiary-i18n-XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    s_write ("en.json", "{\"hello\": \"Hello {name}\", \"bye\": \"Bye\", \"two\": \"{a} and {a}\"}");
    s_write ("fr.json", "{\"hello\": \"Bonjour {name}\"}");
    s_write ("de.json", "{\"hello\": \"Hallo {name}\", \"bye\": \"Tschüss\"}");
    s_write ("README.md", "not a catalogue");
    return 0;
}

static int
s_teardown (void **state)
{
    (void)state;
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system (cmd) == 0 ? 0 : -1;
}

static void
test_i18n_loads_english_first_then_by_name (void **state)
{
    (void)state;
    i18n_t *self = i18n_new (s_dir);
    assert_non_null (self);
    assert_int_equal (i18n_count (self), 3);
    assert_string_equal (i18n_lang (self, 0), "en");
    assert_string_equal (i18n_lang (self, 1), "de");
    assert_string_equal (i18n_lang (self, 2), "fr");
    assert_null (i18n_lang (self, 3));
    assert_int_equal (i18n_key_count (self), 3);
    assert_string_equal (i18n_key (self, 0), "hello");
    i18n_destroy (&self);
    assert_null (self);
    i18n_destroy (&self);
}

static void
test_i18n_missing_key_falls_back_to_english (void **state)
{
    (void)state;
    i18n_t *self = i18n_new (s_dir);
    assert_string_equal (i18n_get (self, "fr", "hello"), "Bonjour {name}");
    assert_string_equal (i18n_get (self, "fr", "bye"), "Bye");
    assert_int_equal (i18n_has (self, "fr", "bye"), 0);
    assert_int_equal (i18n_has (self, "de", "bye"), 1);
    assert_string_equal (i18n_get (self, "xx", "bye"), "Bye");
    assert_string_equal (i18n_get (self, NULL, "bye"), "Bye");
    //  An unknown key is itself: visible, never a crash.
    assert_string_equal (i18n_get (self, "fr", "nope"), "nope");
    i18n_destroy (&self);
}

static void
test_i18n_ui_locales_first_served_wins (void **state)
{
    (void)state;
    i18n_t *self = i18n_new (s_dir);
    assert_string_equal (i18n_pick_ui_locales (self, "es fr-CA de"), "fr");
    assert_string_equal (i18n_pick_ui_locales (self, "  DE  fr"), "de");
    assert_string_equal (i18n_pick_ui_locales (self, "en-GB"), "en");
    assert_null (i18n_pick_ui_locales (self, "es it"));
    assert_null (i18n_pick_ui_locales (self, ""));
    assert_null (i18n_pick_ui_locales (self, NULL));
    //  A tag is a primary subtag then '-': "french" or "f" name nothing.
    assert_null (i18n_pick_ui_locales (self, "french f fr!"));
    assert_string_equal (i18n_match (self, "FR_ca", 5), "fr");
    assert_string_equal (i18n_match (self, "de-AT-x", 2), "de");
    assert_null (i18n_match (self, "es", 2));
    i18n_destroy (&self);
}

static void
test_i18n_accept_language_highest_q_wins (void **state)
{
    (void)state;
    i18n_t *self = i18n_new (s_dir);
    assert_string_equal (i18n_pick_accept (self, "fr-FR,fr;q=0.9,en;q=0.8"), "fr");
    assert_string_equal (i18n_pick_accept (self, "es, en;q=0.5, de;q=0.7"), "de");
    assert_string_equal (i18n_pick_accept (self, "de;q=0.5, fr;q=0.5"), "de");
    assert_null (i18n_pick_accept (self, "fr;q=0"));
    assert_null (i18n_pick_accept (self, "es, *;q=0.1"));
    assert_null (i18n_pick_accept (self, NULL));
    assert_string_equal (i18n_pick_accept (self, "fr;q=bad, en;q=0.2"), "en");
    i18n_destroy (&self);
}

static void
test_i18n_format_replaces_placeholders (void **state)
{
    (void)state;
    i18n_t *self = i18n_new (s_dir);
    const char *args[] = {"name", "Ada <3", NULL};
    char *text = i18n_format (self, "fr", "hello", args);
    assert_string_equal (text, "Bonjour Ada <3");
    free (text);
    const char *twice[] = {"a", "x", NULL};
    text = i18n_format (self, "en", "two", twice);
    assert_string_equal (text, "x and x");
    free (text);
    text = i18n_format (self, "en", "hello", NULL);
    assert_string_equal (text, "Hello {name}");
    free (text);
    i18n_destroy (&self);
}

static void
test_i18n_refuses_broken_catalogues (void **state)
{
    (void)state;
    //  No English.
    char dir[64] = "/tmp/ostiary-i18n-bad-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[128], cmd[160];
    snprintf (path, sizeof path, "%s/fr.json", dir);
    FILE *f = fopen (path, "w");
    fputs ("{\"a\": \"b\"}", f);
    fclose (f);
    assert_null (i18n_new (dir));
    //  Not a flat object of strings.
    snprintf (path, sizeof path, "%s/en.json", dir);
    f = fopen (path, "w");
    fputs ("{\"a\": {\"b\": \"c\"}}", f);
    fclose (f);
    assert_null (i18n_new (dir));
    //  A duplicated key.
    f = fopen (path, "w");
    fputs ("{\"a\": \"b\", \"a\": \"c\"}", f);
    fclose (f);
    assert_null (i18n_new (dir));
    //  A key above I18N_MAX_KEY.
    f = fopen (path, "w");
    fprintf (f, "{\"%0*d\": \"b\"}", I18N_MAX_KEY + 1, 0);
    fclose (f);
    assert_null (i18n_new (dir));
    //  A file above I18N_MAX_FILE.
    f = fopen (path, "w");
    fputs ("{\"a\": \"", f);
    for (int i = 0; i < I18N_MAX_FILE; i++)
        fputc ('x', f);
    fputs ("\"}", f);
    fclose (f);
    assert_null (i18n_new (dir));
    //  A text above I18N_MAX_TEXT.
    f = fopen (path, "w");
    fputs ("{\"a\": \"", f);
    for (int i = 0; i <= I18N_MAX_TEXT; i++)
        fputc ('x', f);
    fputs ("\"}", f);
    fclose (f);
    assert_null (i18n_new (dir));
    //  Well formed again: loads.
    f = fopen (path, "w");
    fputs ("{\"a\": \"b\"}", f);
    fclose (f);
    i18n_t *self = i18n_new (dir);
    assert_non_null (self);
    i18n_destroy (&self);
    assert_null (i18n_new ("/nonexistent/ostiary-locales"));
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal (system (cmd), 0);
}

//  The placeholders of a text, in order, as one string ("{a}{b}").
static void
s_placeholders (const char *text, char *out, size_t size)
{
    out[0] = '\0';
    for (const char *p = strchr (text, '{'); p; p = strchr (p + 1, '{')) {
        size_t n = strcspn (p, "}");
        if (p[n] == '}' && strlen (out) + n + 2 < size)
            strncat (out, p, n + 1);
    }
}

static void
test_i18n_project_catalogues_are_complete (void **state)
{
    (void)state;
    const char *dir = getenv ("OSTIARY_LOCALES_DIR");
    i18n_t *self = i18n_new (dir ? dir : "locales");
    assert_non_null (self);
    //  English and at least one more language.
    assert_true (i18n_count (self) >= 2);
    int missing = 0;
    for (size_t l = 1; l < i18n_count (self); l++) {
        const char *lang = i18n_lang (self, l);
        for (size_t k = 0; k < i18n_key_count (self); k++) {
            const char *key = i18n_key (self, k);
            if (!i18n_has (self, lang, key)) {
                print_error ("%s.json has no \"%s\"\n", lang, key);
                missing++;
                continue;
            }
            char want[256], got[256];
            s_placeholders (i18n_get (self, "en", key), want, sizeof want);
            s_placeholders (i18n_get (self, lang, key), got, sizeof got);
            if (strcmp (want, got) != 0) {
                print_error ("%s.json \"%s\" has placeholders %s, English %s\n", lang, key, got, want);
                missing++;
            }
        }
    }
    assert_int_equal (missing, 0);
    i18n_destroy (&self);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_i18n_loads_english_first_then_by_name),
        cmocka_unit_test (test_i18n_missing_key_falls_back_to_english),
        cmocka_unit_test (test_i18n_ui_locales_first_served_wins),
        cmocka_unit_test (test_i18n_accept_language_highest_q_wins),
        cmocka_unit_test (test_i18n_format_replaces_placeholders),
        cmocka_unit_test (test_i18n_refuses_broken_catalogues),
        cmocka_unit_test (test_i18n_project_catalogues_are_complete),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
