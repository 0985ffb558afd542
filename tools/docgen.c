#include "docgen.h"

#include <stdlib.h>
#include <string.h>

int
docgen_main (int argc, char **argv, const char *prog, const char *source, void (*print) (FILE *out))
{
    if (argc == 1) {
        print (stdout);
        return 0;
    }
    if (argc != 3 || (strcmp (argv[1], "--check") != 0 && strcmp (argv[1], "--update") != 0)) {
        fprintf (stderr, "usage: %s [--check FILE | --update FILE]\n", prog);
        return 2;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream (&text, &len);
    if (!mem)
        return 2;
    print (mem);
    fclose (mem);
    int rc = 0;
    if (strcmp (argv[1], "--update") == 0) {
        FILE *f = fopen (argv[2], "w");
        if (!f || fwrite (text, 1, len, f) != len || fclose (f) != 0) {
            fprintf (stderr, "%s: cannot write %s\n", prog, argv[2]);
            rc = 2;
        }
    } else {
        FILE *f = fopen (argv[2], "r");
        char *old = f ? malloc (len + 2) : NULL;
        size_t got = old ? fread (old, 1, len + 1, f) : 0;
        if (!f)
            fprintf (stderr, "%s: cannot read %s\n", prog, argv[2]);
        if (!f || !old)
            rc = 2;
        else if (got != len || memcmp (old, text, len) != 0) {
            fprintf (stderr, "%s: %s is out of date with %s: run `make docs`\n", prog, argv[2], source);
            rc = 1;
        }
        free (old);
        if (f)
            fclose (f);
    }
    free (text);
    return rc;
}
