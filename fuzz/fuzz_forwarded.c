/*  fuzz_forwarded - X-Forwarded-For and Forwarded (RFC 7239) header lines
 *  as forwarded_client reads them behind trusted proxies.
 *
 *  Input: header lines separated by '\n'; a line starting with 'F' is a
 *  Forwarded value, any other an X-Forwarded-For value (the first byte of
 *  the line is the marker and is dropped). The TCP peer is a trusted proxy.
 *
 *  Properties: the answer is the peer when nothing usable came, and
 *  otherwise an address that is not itself a trusted proxy unless every hop
 *  was (then the left-most one). */
#include "forwarded.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const unsigned char *data, size_t size);

static cidr_set_t *s_trusted;

static void
s_free (void)
{
    cidr_set_destroy (&s_trusted);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init ("fuzz", OST_LOG_ERROR);
    const char *why = NULL;
    s_trusted = cidr_set_new ("10.0.0.0/8, 192.168.0.0/16, 127.0.0.1, 2001:db8::/32, ::1", &why);
    if (!s_trusted)
        abort ();
    atexit (s_free);
    return 0;
}

#define MAX_LINES 64

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    text[size] = 0;
    const char *xff[MAX_LINES];
    const char *fwd[MAX_LINES];
    size_t nxff = 0, nfwd = 0;
    char *save = NULL;
    for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        if (line[0] == 'F' && nfwd < MAX_LINES)
            fwd[nfwd++] = line + 1;
        else if (line[0] != 'F' && nxff < MAX_LINES)
            xff[nxff++] = line + 1;
    }
    forwarded_headers_t headers = {xff, nxff, fwd, nfwd};
    cidr_addr_t peer;
    if (cidr_addr_parse ("10.0.0.1", 8, &peer))
        abort ();
    cidr_addr_t client;
    forwarded_source_t source = forwarded_client (s_trusted, &peer, &headers, &client);
    if (source == FORWARDED_PEER && !cidr_addr_equal (&client, &peer))
        abort ();
    //  An untrusted peer is never looked past.
    cidr_addr_t stranger;
    if (cidr_addr_parse ("203.0.113.9", 11, &stranger))
        abort ();
    if (forwarded_client (s_trusted, &stranger, &headers, &client) != FORWARDED_PEER ||
        !cidr_addr_equal (&client, &stranger))
        abort ();
    free (text);
    return 0;
}
