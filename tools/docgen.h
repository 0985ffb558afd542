/*  docgen - the command line every page generator shares:
 *    PROG                 print the page
 *    PROG --update FILE   write it to FILE
 *    PROG --check FILE    exit 1 when FILE differs from it ("run `make docs`")
 *  Exit 2 on a usage or I/O error. */
#ifndef OST_TOOLS_DOCGEN_H
#define OST_TOOLS_DOCGEN_H

#include <stdio.h>

//  prog names the tool in messages, source the table the page comes from.
int docgen_main (int argc, char **argv, const char *prog, const char *source, void (*print) (FILE *out));

#endif
