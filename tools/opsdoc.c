/*  ostiary-opsdoc - proto/ops.md, the reference of every bus op, printed from
 *  the tables common/ops.c expands from proto/ops.def.
 *
 *    ostiary-opsdoc              print the page
 *    ostiary-opsdoc --check F    exit 1 when F differs from it (make test)
 *    ostiary-opsdoc --update F   write it to F (make docs)
 *  Exit status 2 on a usage or file error. */
#include "docgen.h"
#include "ops.h"
#include "proto.h"
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_intro[] =
    "# Bus operations — request and result bodies\n"
    "\n"
    "<!-- Generated from proto/ops.def by tools/opsdoc.c (`make docs`); do not edit. `make test` checks that "
    "it\n"
    "     is current. -->\n"
    "\n"
    "Every op, its limits and the members of its request and result, as `proto/ops.def` defines them. "
    "Bodies\n"
    "are msgpack maps, written here as JSON. The bus worker checks each request against its table before\n"
    "the handler runs: a member that is not listed, of the wrong type, out of bounds, a string with control\n"
    "characters (but where *text* allows line breaks) or a required member that is missing or null is\n"
    "refused with `invalid_request` and a description naming the member (never its value). Optional members\n"
    "may be absent or null. Builds with assertions (the tests) also check every result against its table.\n"
    "\n"
    "Errors are the `{\"error\": {...}}` replies of `proto/bus.md` with a code of `proto/errors.def`. "
    "Besides\n"
    "those listed for an op, every op may answer `invalid_request` (a body that does not fit), `forbidden`\n"
    "(a caller whose bus role `proto/access.def` does not allow), `duplicate_request` (a WRITE seen "
    "before),\n"
    "`deadline_exceeded`, `temporarily_unavailable` and `server_error`. Descriptions are fixed sentences;\n"
    "they never contain secrets, SQL or OpenSSL text.\n"
    "\n"
    "Conventions: times are integer seconds since the epoch; `sub` is the stable random subject of a user\n"
    "(never the username); every handle that grants something (codes, session and flow cookie values, "
    "client\n"
    "secrets) is ≥ 256 random bits, base64url, and stored only as a hash by the service that owns it.\n";

//  Markdown table cells: a | would end the cell, a line break the row.
static void
s_cell (FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|')
            fputs ("\\|", out);
        else if (*p == '\n')
            fputc (' ', out);
        else
            fputc (*p, out);
    }
}

static void
s_type (FILE *out, const schema_field_t *f)
{
    switch (f->type) {
    case SCH_STR:
    case SCH_LINES:
    case SCH_SECRET:
        if (f->min == f->max)
            fprintf (out, "%s, %lld bytes", schema_type_name (f->type), (long long)f->max);
        else
            fprintf (out, "%s, %lld–%lld bytes", schema_type_name (f->type), (long long)f->min,
                     (long long)f->max);
        break;
    case SCH_INT:
        fprintf (out, "integer %lld–%lld", (long long)f->min, (long long)f->max);
        break;
    case SCH_STRS:
        fprintf (out, "≤ %lld strings of ≤ %lld bytes", (long long)f->count, (long long)f->max);
        break;
    case SCH_MAP:
        fprintf (out, "map of ≤ %lld strings of ≤ %lld bytes", (long long)f->count, (long long)f->max);
        break;
    case SCH_OBJ:
        if (f->count)
            fprintf (out, "object of ≤ %lld members", (long long)f->count);
        else
            fputs ("object", out);
        break;
    case SCH_SHAPE:
        fprintf (out, "[%s](#shape-%s)", f->shape->name, f->shape->name);
        break;
    case SCH_SHAPES:
        fprintf (out, "≤ %lld [%s](#shape-%s)", (long long)f->max, f->shape->name, f->shape->name);
        break;
    default:
        fputs (schema_type_name (f->type), out);
        break;
    }
}

static void
s_fields (FILE *out, const char *title, const schema_t *schema)
{
    if (!schema->nfields) {
        fprintf (out, "%s: `{}`\n\n", title);
        return;
    }
    fprintf (out, "%s:\n\n| member | type | | meaning |\n|---|---|---|---|\n", title);
    for (size_t i = 0; i < schema->nfields; i++) {
        const schema_field_t *f = &schema->fields[i];
        char wire[SCHEMA_NAME_MAX];
        fprintf (out, "| `%s` | ", schema_wire_name (f, wire, sizeof wire));
        s_type (out, f);
        fprintf (out, " | %s | ", f->presence == SCH_REQ ? "required" : "optional");
        s_cell (out, f->doc);
        fputs (" |\n", out);
    }
    fputc ('\n', out);
}

static void
s_print (FILE *out)
{
    fputs (s_intro, out);
    const char *service = NULL;
    for (size_t i = 0; i < proto_op_count (); i++) {
        const op_def_t *op = proto_op_at (i);
        if (!service || strcmp (service, op->service) != 0) {
            service = op->service;
            fprintf (out, "\n## %s\n\n", service);
        }
        fprintf (out, "### `%s`\n\n", op->name);
        fprintf (out, "%s, body ≤ %zu bytes, default deadline %d ms.", op->kind == OP_READ ? "READ" : "WRITE",
                 op->max_body, op->timeout_ms);
        if (op->doc && *op->doc)
            fprintf (out, " %s", op->doc);
        fputs ("\n\n", out);
        s_fields (out, "Request", op->in);
        s_fields (out, "Result", op->out);
        if (op->errs[0].err != OST_ERR__COUNT) {
            fputs ("Errors:\n\n", out);
            for (const op_err_doc_t *e = op->errs; e->err != OST_ERR__COUNT; e++)
                fprintf (out, "- `%s`: %s\n", proto_err (e->err)->code, e->doc);
            fputc ('\n', out);
        }
    }
    fputs (
        "## Shapes\n\nObjects that members refer to by name, and the arguments of keys-svc's admin commands "
        "(`proto/keys_admin.h`).\n\n",
        out);
    for (size_t i = 0; ops_shapes[i]; i++) {
        fprintf (out, "<a id=\"shape-%s\"></a>\n\n### %s\n\n%s\n\n", ops_shapes[i]->name, ops_shapes[i]->name,
                 ops_shapes[i]->doc ? ops_shapes[i]->doc : "");
        s_fields (out, "Members", ops_shapes[i]);
    }
}

int
main (int argc, char **argv)
{
    return docgen_main (argc, argv, "ostiary-opsdoc", "proto/ops.def", s_print);
}
