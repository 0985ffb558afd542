/*  fuzz_flow_def - flow definitions (flow_def_parse): the JSON files of
 *  flows/ and the graphs flow-svc reads back from flow.definitions for
 *  executions pinned to an older version.
 *
 *  Properties: a failure always writes "origin:line: what"; a definition
 *  that parses has a start node, every node is found by its name and every
 *  edge leads to a node of the definition. */
#include "flow-svc/flow_def.h"
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
s_check (const flow_def_t *def)
{
    if (!def->name || !def->start || !def->nnodes || !flow_def_node (def, def->start))
        abort ();
    if (strcmp (flow_kind_name (def->kind), "?") == 0)
        abort ();
    for (size_t i = 0; i < def->nnodes; i++) {
        const flow_node_t *node = &def->nodes[i];
        if (flow_def_node (def, node->name) != node || strcmp (flow_node_type_name (node->type), "?") == 0)
            abort ();
        if ((node->on_success && !flow_def_node (def, node->on_success)) ||
            (node->on_failure && !flow_def_node (def, node->on_failure)))
            abort ();
    }
    (void)flow_def_node (def, "no such node");
}

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    text[size] = 0;
    static const char *const stems[] = {NULL, "login"};
    for (size_t i = 0; i < 2; i++) {
        char err[512];
        err[0] = 0;
        flow_def_t *def = flow_def_parse (text, "flows/fuzz.json", stems[i], NULL, err, sizeof err);
        if (def)
            s_check (def);
        else if (strncmp (err, "flows/fuzz.json:", 16) != 0)
            abort ();
        flow_def_destroy (&def);
    }
    free (text);
    return 0;
}
