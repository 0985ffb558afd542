/*  fuzz_form - application/x-www-form-urlencoded bodies and query strings
 *  (form_parse and every accessor the gateway calls on a parsed form), and
 *  the strict percent-decoding of one component (form_decode_component).
 *
 *  Properties: every pair of a parsed form is a NUL-free UTF-8 string
 *  within the limits, and encoding a decoded pair with form_encode_append
 *  and parsing it again gives the same pair back. */
#include "form.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const unsigned char *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init ("fuzz", OST_LOG_ERROR);
    return 0;
}

static void
s_round_trip (const char *name, const char *value)
{
    static char enc_name[3 * 4096 + 1];
    static char enc_value[3 * 4096 + 1];
    enc_name[0] = enc_value[0] = 0;
    if (form_encode_append (enc_name, sizeof enc_name, name) < 0 ||
        form_encode_append (enc_value, sizeof enc_value, value) < 0)
        abort ();
    size_t len = strlen (enc_name) + 1 + strlen (enc_value);
    char *line = malloc (len + 1);
    if (!line)
        return;
    strcpy (line, enc_name);
    strcat (line, "=");
    strcat (line, enc_value);
    form_limits_t limits = {len, 1, 4096, 4096};
    form_status_t status;
    form_t *again = form_parse (line, len, &limits, &status);
    if (!again || form_count (again) != 1 || strcmp (form_name_at (again, 0), name) != 0 ||
        strcmp (form_value_at (again, 0), value) != 0)
        abort ();
    form_destroy (&again);
    free (line);
}

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    if (size == 0)
        return 0;
    //  The first byte picks the limits, so that each limit is reached.
    static const form_limits_t limits[] = {
        {12288, 16, 64, 4096}, //  /token
        {8192, 64, 64, 2048},  //  /authorize and the pages
        {64, 4, 8, 8},         //  tight: every limit within reach
    };
    const form_limits_t *lim = &limits[data[0] % 3];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    form_status_t status = FORM_OK;
    form_t *form = form_parse (text, len, lim, &status);
    if (!form) {
        if (status == FORM_OK || !form_status_text (status))
            abort ();
    } else {
        size_t count = form_count (form);
        if (count > lim->max_params)
            abort ();
        for (size_t i = 0; i < count; i++) {
            const char *name = form_name_at (form, i);
            const char *value = form_value_at (form, i);
            if (!name || !value || !*name || strlen (name) > lim->max_name || strlen (value) > lim->max_value)
                abort ();
            if (!form_get (form, name, 0) || form_occurrences (form, name, 0) == 0)
                abort ();
            (void)form_occurrences (form, name, 1);
            s_round_trip (name, value);
        }
        (void)form_get (form, "client_id", 1);
        (void)form_first_repeated (form, 0);
        (void)form_first_repeated (form, 1);
        json_t *json = form_to_json (form, 1);
        json_t *rep = form_repeated_json (form, 0);
        if (!json || !rep)
            abort ();
        json_decref (json);
        json_decref (rep);
        form_destroy (&form);
    }
    //  The same bytes as one component (a Basic header's id or secret).
    for (int plus = 0; plus < 2; plus++) {
        char *component = form_decode_component (text, len, 512, plus);
        if (component && strlen (component) > 512)
            abort ();
        free (component);
    }
    return 0;
}
