/*  fuzz_cidr - lists of CIDR blocks (cidr_set_new: OSTIARY_TRUSTED_PROXIES)
 *  and single addresses (cidr_addr_parse: every hop of a forwarded header).
 *
 *  Properties: an address that parses formats to text that parses to the
 *  same address; a set holds at most CIDR_SET_MAX blocks and a failure
 *  always says why. */
#include "cidr.h"
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

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    cidr_addr_t addr;
    if (cidr_addr_parse ((const char *)data, size, &addr) == 0) {
        char text[CIDR_ADDR_TEXT_MAX];
        cidr_addr_t again;
        if (cidr_addr_format (&addr, text, sizeof text) || cidr_addr_parse (text, strlen (text), &again) ||
            !cidr_addr_equal (&addr, &again))
            abort ();
    }
    char *list = malloc (size + 1);
    if (!list)
        return 0;
    memcpy (list, data, size);
    list[size] = 0;
    const char *why = NULL;
    cidr_set_t *set = cidr_set_new (list, &why);
    free (list);
    if (!set) {
        if (!why)
            abort ();
        return 0;
    }
    if (cidr_set_count (set) > CIDR_SET_MAX)
        abort ();
    //  Every set answers for both families without reading past its blocks.
    cidr_addr_t v4 = {0, {10, 1, 2, 3}};
    cidr_addr_t v6 = {1, {0x20, 0x01, 0x0d, 0xb8}};
    (void)cidr_set_contains (set, &v4);
    (void)cidr_set_contains (set, &v6);
    cidr_set_destroy (&set);
    return 0;
}
