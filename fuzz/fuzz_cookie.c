/*  fuzz_cookie - one Cookie header value ("a=1; b=2", RFC 6265 §4.2.1) as
 *  the gateway reads its session, flow and demo cookies from it
 *  (pages_find_cookie), into buffers of several sizes.
 *
 *  Property: a value found fits its buffer, is at most PAGES_MAX_COOKIE
 *  characters of [A-Za-z0-9._~-], and occurs in the header after name=. */
#include "gateway/pages.h"
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
s_check (const char *header, const char *name, size_t size)
{
    //  A heap buffer of exactly size bytes, so that ASan sees any overrun.
    char *out = malloc (size ? size : 1);
    if (!out)
        return;
    if (pages_find_cookie (header, name, out, size) == 0) {
        size_t len = strnlen (out, size);
        if (len == 0 || len >= size || len > PAGES_MAX_COOKIE ||
            strspn (out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-") != len ||
            !strstr (header, out))
            abort ();
    }
    free (out);
}

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    char *header = malloc (size + 1);
    if (!header)
        return 0;
    memcpy (header, data, size);
    header[size] = 0;
    static const char *const names[] = {COOKIE_SESSION, COOKIE_FLOW, COOKIE_DEMO, "a"};
    static const size_t sizes[] = {PAGES_MAX_COOKIE + 1, 44, 8, 1};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            s_check (header, names[i], sizes[k]);
    free (header);
    return 0;
}
