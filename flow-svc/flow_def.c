/*  flow_def - loading and validation of flow definitions (docs/flows.md,
 *  "Flows as data"). A definition is checked whole before anything runs:
 *  an error found at start-up is cheaper than one found in a user's login. */
#include "flow_def.h"

#include "flow_store.h"
#include "log.h"
#include "webhook.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Bounds on what a file may hold: a flow is a handful of nodes.
#define DEF_FILE_MAX (256 * 1024)
#define DEF_NODES_MAX 64
#define DEF_FILES_MAX 128
#define NAME_MAX_CHARS 64

struct _flow_defs_t {
    size_t count;
    flow_def_t *defs[DEF_FILES_MAX];
};

static const char *const s_type_names[] = {
#define FLOW_X_NAME(id, name, edges) name,
    FLOW_NODE_TYPES (FLOW_X_NAME)
#undef FLOW_X_NAME
};
static const int s_type_edges[] = {
#define FLOW_X_EDGES(id, name, edges) edges,
    FLOW_NODE_TYPES (FLOW_X_EDGES)
#undef FLOW_X_EDGES
};
static const char *const s_kind_names[] = {
#define FLOW_X_KNAME(id, name) name,
    FLOW_KINDS (FLOW_X_KNAME)
#undef FLOW_X_KNAME
};
static const char *const s_test_names[] = {
#define FLOW_X_TNAME(id, name) name,
    FLOW_TESTS (FLOW_X_TNAME)
#undef FLOW_X_TNAME
};

const char *
flow_node_type_name (node_type_t type)
{
    return type < NODE_TYPE_COUNT ? s_type_names[type] : "?";
}

const char *
flow_kind_name (flow_kind_t kind)
{
    return kind < KIND_COUNT ? s_kind_names[kind] : "?";
}

static int
s_lookup (const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (!strcmp (names[i], name))
            return (int)i;
    return -1;
}

//  The line (1-based) of the first `"key" :` in text at or after from, or of
//  from itself when the key is not found. Definitions are small, so a plain
//  scan is enough; a key that also appears as a value earlier is skipped by
//  requiring the colon.
static int
s_line_at (const char *text, const char *from, const char *key)
{
    const char *hit = from;
    size_t klen = strlen (key);
    for (const char *p = from; key && (p = strchr (p, '"')) != NULL; p++) {
        if (!strncmp (p + 1, key, klen) && p[1 + klen] == '"') {
            const char *q = p + 2 + klen;
            while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
                q++;
            if (*q == ':') {
                hit = p;
                break;
            }
        }
    }
    int line = 1;
    for (const char *p = text; p < hit; p++)
        line += *p == '\n';
    return line;
}

typedef struct {
    const char *text;
    const char *origin;
    char *err;
    size_t errlen;
} s_ctx_t;

//  Writes "origin:line: message" for the key (NULL: line 1) searched after
//  the `"nodes"` member when in_nodes. Returns -1.
static int __attribute__ ((format (printf, 5, 6)))
s_fail (s_ctx_t *ctx, int in_nodes, const char *node, const char *key, const char *fmt, ...)
{
    const char *from = ctx->text;
    if (in_nodes) {
        const char *nodes = strstr (ctx->text, "\"nodes\"");
        if (nodes)
            from = nodes;
        if (node) {
            //  The line of the node's own key, or of a member inside it.
            int nl = s_line_at (ctx->text, from, node);
            const char *p = ctx->text;
            for (int l = 1; l < nl && *p; p++)
                l += *p == '\n';
            from = p;
        }
    }
    int line = key ? s_line_at (ctx->text, from, key) : (node ? s_line_at (ctx->text, from, node) : 1);
    char msg[256];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    snprintf (ctx->err, ctx->errlen, "%s:%d: %s", ctx->origin, line, msg);
    return -1;
}

static int
s_name_ok (const char *s, int dash)
{
    size_t n = strlen (s);
    if (n < 1 || n > NAME_MAX_CHARS ||
        !(islower ((unsigned char)s[0]) || (!dash && isdigit ((unsigned char)s[0]))))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower ((unsigned char)s[i]) || isdigit ((unsigned char)s[i]) || s[i] == '_' ||
              (dash && s[i] == '-')))
            return 0;
    return 1;
}

//  The members a node of type t may have besides type, on and description.
static int
s_member_ok (node_type_t t, const char *key)
{
    if (!strcmp (key, "type") || !strcmp (key, "on") || !strcmp (key, "description"))
        return 1;
    return (t == NODE_TOTP && !strcmp (key, "enroll")) ||
           (t == NODE_EMAIL_CODE && !strcmp (key, "verify_email")) ||
           (t == NODE_WEBHOOK && !strcmp (key, "hook")) || (t == NODE_CONDITION && !strcmp (key, "test"));
}

static int
s_parse_node (s_ctx_t *ctx, flow_def_t *def, flow_node_t *node, const char *name, json_t *value,
              const webhooks_t *hooks)
{
    node->name = name;
    if (!s_name_ok (name, 0))
        return s_fail (ctx, 1, name, NULL, "node \"%s\": a node name is 1 to 64 of a-z, 0-9, '_'", name);
    if (!json_is_object (value))
        return s_fail (ctx, 1, name, NULL, "node \"%s\": a node is an object", name);
    json_t *type = json_object_get (value, "type");
    if (!type)
        return s_fail (ctx, 1, name, NULL, "node \"%s\": missing member \"type\"", name);
    int t = s_lookup (s_type_names, NODE_TYPE_COUNT, json_string_value (type));
    if (t < 0)
        return s_fail (ctx, 1, name, "type", "node \"%s\": unknown node type \"%s\"", name,
                       json_is_string (type) ? json_string_value (type) : "(not a string)");
    node->type = (node_type_t)t;
    const char *key;
    json_t *member;
    json_object_foreach (value, key, member)
    {
        if (!s_member_ok (node->type, key))
            return s_fail (ctx, 1, name, key, "node \"%s\": unknown member \"%s\" for type %s", name, key,
                           s_type_names[t]);
    }
    json_t *enroll = json_object_get (value, "enroll"), *verify = json_object_get (value, "verify_email");
    if (enroll && !json_is_boolean (enroll))
        return s_fail (ctx, 1, name, "enroll", "node \"%s\": \"enroll\" is true or false", name);
    if (verify && !json_is_boolean (verify))
        return s_fail (ctx, 1, name, "verify_email", "node \"%s\": \"verify_email\" is true or false", name);
    node->enroll = json_is_true (enroll);
    node->verify_email = json_is_true (verify);
    if (node->type == NODE_WEBHOOK) {
        json_t *hook = json_object_get (value, "hook");
        if (!json_is_string (hook))
            return s_fail (ctx, 1, name, hook ? "hook" : NULL,
                           "node \"%s\": a webhook node needs \"hook\", a string", name);
        node->hook = json_string_value (hook);
        if (hooks && !webhooks_find (hooks, node->hook))
            return s_fail (ctx, 1, name, "hook",
                           "node \"%s\": hook \"%s\" is not defined in OSTIARY_WEBHOOKS_FILE", name,
                           node->hook);
    }
    if (node->type == NODE_CONDITION) {
        json_t *test = json_object_get (value, "test");
        int x = s_lookup (s_test_names, TEST_COUNT, json_string_value (test));
        if (x < 0)
            return s_fail (ctx, 1, name, test ? "test" : NULL,
                           "node \"%s\": \"test\" must be one of totp_enrolled, email_verified, has_email, "
                           "has_password, user_known",
                           name);
        node->test = (flow_test_t)x;
    }
    json_t *on = json_object_get (value, "on");
    int edges = s_type_edges[t];
    if (!edges && on)
        return s_fail (ctx, 1, name, "on", "node \"%s\": a %s node ends the flow and has no edges", name,
                       s_type_names[t]);
    if (on && !json_is_object (on))
        return s_fail (ctx, 1, name, "on", "node \"%s\": \"on\" is an object of edges", name);
    json_object_foreach (on, key, member)
    {
        if (strcmp (key, "success") && strcmp (key, "failure"))
            return s_fail (ctx, 1, name, key, "node \"%s\": unknown edge \"%s\" (success or failure)", name,
                           key);
        if (!json_is_string (member) ||
            !json_object_get (json_object_get (def->graph, "nodes"), json_string_value (member)))
            return s_fail (ctx, 1, name, key, "node \"%s\": edge \"%s\" names unknown node \"%s\"", name, key,
                           json_is_string (member) ? json_string_value (member) : "(not a string)");
    }
    node->on_success = json_string_value (json_object_get (on, "success"));
    node->on_failure = json_string_value (json_object_get (on, "failure"));
    if ((edges & EDGE_SUCCESS) && !node->on_success)
        return s_fail (ctx, 1, name, NULL, "node \"%s\": missing required edge \"success\"", name);
    if ((edges & EDGE_FAILURE) && !node->on_failure)
        return s_fail (ctx, 1, name, NULL, "node \"%s\": missing required edge \"failure\"", name);
    return 0;
}

static int
s_index (const flow_def_t *def, const char *name)
{
    for (size_t i = 0; name && i < def->nnodes; i++)
        if (!strcmp (def->nodes[i].name, name))
            return (int)i;
    return -1;
}

//  Every node reachable from start, and at least one success node among them.
static int
s_check_graph (s_ctx_t *ctx, flow_def_t *def)
{
    char seen[DEF_NODES_MAX] = {0};
    int stack[DEF_NODES_MAX], top = 0;
    int start = s_index (def, def->start);
    stack[top++] = start;
    seen[start] = 1;
    int success = 0;
    while (top > 0) {
        const flow_node_t *n = &def->nodes[stack[--top]];
        success |= n->type == NODE_SUCCESS;
        const char *next[2] = {n->on_success, n->on_failure};
        for (int e = 0; e < 2; e++) {
            int i = s_index (def, next[e]);
            if (i >= 0 && !seen[i]) {
                seen[i] = 1;
                stack[top++] = i;
            }
        }
    }
    for (size_t i = 0; i < def->nnodes; i++)
        if (!seen[i])
            return s_fail (ctx, 1, def->nodes[i].name, NULL,
                           "node \"%s\": unreachable from start node \"%s\"", def->nodes[i].name, def->start);
    if (!success)
        return s_fail (ctx, 0, NULL, "start", "no success node is reachable from start node \"%s\"",
                       def->start);
    return 0;
}

flow_def_t *
flow_def_parse (const char *text, const char *origin, const char *stem, const webhooks_t *hooks, char *err,
                size_t errlen)
{
    s_ctx_t ctx = {text, origin, err, errlen};
    json_error_t jerr;
    json_t *graph = json_loads (text, JSON_REJECT_DUPLICATES, &jerr);
    if (!graph) {
        snprintf (err, errlen, "%s:%d: JSON syntax: %s", origin, jerr.line, jerr.text);
        return NULL;
    }
    flow_def_t *def = calloc (1, sizeof *def);
    if (!def) {
        json_decref (graph);
        snprintf (err, errlen, "%s: out of memory", origin);
        return NULL;
    }
    def->graph = graph;
    if (!json_is_object (graph)) {
        s_fail (&ctx, 0, NULL, NULL, "a flow definition is a JSON object");
        goto fail;
    }
    static const char *const members[] = {"name", "version", "kind", "start", "nodes", "description"};
    const char *key;
    json_t *value;
    json_object_foreach (graph, key, value)
    {
        if (s_lookup (members, sizeof members / sizeof *members, key) < 0) {
            s_fail (&ctx, 0, NULL, key, "unknown member \"%s\"", key);
            goto fail;
        }
    }
    for (size_t i = 0; i < 5; i++)
        if (!json_object_get (graph, members[i])) {
            s_fail (&ctx, 0, NULL, NULL, "missing member \"%s\"", members[i]);
            goto fail;
        }
    json_t *name = json_object_get (graph, "name"), *version = json_object_get (graph, "version");
    if (!json_is_string (name) || !s_name_ok (json_string_value (name), 1)) {
        s_fail (&ctx, 0, NULL, "name", "\"name\" is 1 to 64 of a-z, 0-9, '_', '-', starting with a letter");
        goto fail;
    }
    def->name = json_string_value (name);
    if (stem && strcmp (stem, def->name)) {
        s_fail (&ctx, 0, NULL, "name", "\"name\" is \"%s\" but the file is named %s.json", def->name, stem);
        goto fail;
    }
    if (!json_is_integer (version) || json_integer_value (version) < 1 ||
        json_integer_value (version) > 1000000) {
        s_fail (&ctx, 0, NULL, "version", "\"version\" is a positive integer");
        goto fail;
    }
    def->version = (int)json_integer_value (version);
    int kind = s_lookup (s_kind_names, KIND_COUNT, json_string_value (json_object_get (graph, "kind")));
    if (kind < 0) {
        s_fail (&ctx, 0, NULL, "kind",
                "\"kind\" must be one of login, registration, recovery, verify_email, enrollment");
        goto fail;
    }
    def->kind = (flow_kind_t)kind;
    json_t *nodes = json_object_get (graph, "nodes");
    if (!json_is_object (nodes) || json_object_size (nodes) == 0 ||
        json_object_size (nodes) > DEF_NODES_MAX) {
        s_fail (&ctx, 0, NULL, "nodes", "\"nodes\" is an object of 1 to %d nodes", DEF_NODES_MAX);
        goto fail;
    }
    def->start = json_string_value (json_object_get (graph, "start"));
    if (!def->start || !json_object_get (nodes, def->start)) {
        s_fail (&ctx, 0, NULL, "start", "\"start\" names unknown node \"%s\"", def->start ? def->start : "");
        goto fail;
    }
    def->nodes = calloc (json_object_size (nodes), sizeof *def->nodes);
    if (!def->nodes) {
        snprintf (err, errlen, "%s: out of memory", origin);
        goto fail;
    }
    json_object_foreach (nodes, key, value)
    {
        if (s_parse_node (&ctx, def, &def->nodes[def->nnodes], key, value, hooks) != 0)
            goto fail;
        def->nnodes++;
    }
    const flow_node_t *first = flow_def_node (def, def->start);
    if (first->type == NODE_SUCCESS || first->type == NODE_FAILURE) {
        s_fail (&ctx, 0, NULL, "start", "the start node \"%s\" must not end the flow", def->start);
        goto fail;
    }
    if (s_check_graph (&ctx, def) != 0)
        goto fail;
    return def;
fail:
    flow_def_destroy (&def);
    return NULL;
}

void
flow_def_destroy (flow_def_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    flow_def_t *self = *self_p;
    free (self->nodes);
    json_decref (self->graph);
    free (self);
    *self_p = NULL;
}

const flow_node_t *
flow_def_node (const flow_def_t *self, const char *name)
{
    int i = s_index (self, name);
    return i >= 0 ? &self->nodes[i] : NULL;
}

//  ------------------------------------------------------------------ folder

static char *
s_read_file (const char *path, char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, errlen, "%s: cannot open", path);
        return NULL;
    }
    char *buf = malloc (DEF_FILE_MAX + 1);
    size_t n = buf ? fread (buf, 1, DEF_FILE_MAX + 1, f) : 0;
    fclose (f);
    if (!buf || n > DEF_FILE_MAX) {
        snprintf (err, errlen, "%s:1: the file is larger than %d bytes", path, DEF_FILE_MAX);
        free (buf);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen (buf) != n) {
        snprintf (err, errlen, "%s:1: the file holds a NUL byte", path);
        free (buf);
        return NULL;
    }
    return buf;
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

flow_defs_t *
flow_defs_load (const char *dir, const webhooks_t *hooks, char *err, size_t errlen)
{
    DIR *d = opendir (dir);
    if (!d) {
        snprintf (err, errlen, "%s: cannot open the flows folder (OSTIARY_FLOWS_DIR)", dir);
        return NULL;
    }
    //  Files in name order, so that errors come in a stable order.
    char *names[DEF_FILES_MAX];
    size_t n = 0;
    int too_many = 0;
    struct dirent *e;
    while ((e = readdir (d)) != NULL) {
        size_t len = strlen (e->d_name);
        if (len <= 5 || e->d_name[0] == '.' || strcmp (e->d_name + len - 5, ".json"))
            continue;
        if (n == DEF_FILES_MAX) {
            too_many = 1;
            break;
        }
        names[n] = strdup (e->d_name);
        if (names[n])
            n++;
    }
    closedir (d);
    flow_defs_t *self = calloc (1, sizeof *self);
    if (too_many || !self) {
        snprintf (err, errlen, "%s: more than %d flow files", dir, DEF_FILES_MAX);
        goto fail;
    }
    qsort (names, n, sizeof *names, s_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[4096], stem[256];
        snprintf (path, sizeof path, "%s%s%s", dir, dir[0] && dir[strlen (dir) - 1] == '/' ? "" : "/",
                  names[i]);
        snprintf (stem, sizeof stem, "%.*s", (int)(strlen (names[i]) - 5), names[i]);
        char *text = s_read_file (path, err, errlen);
        if (!text)
            goto fail;
        flow_def_t *def = flow_def_parse (text, path, stem, hooks, err, errlen);
        free (text);
        if (!def)
            goto fail;
        if (flow_defs_find (self, def->name)) {
            snprintf (err, errlen, "%s:1: two files define flow \"%s\"", path, def->name);
            flow_def_destroy (&def);
            goto fail;
        }
        self->defs[self->count++] = def;
    }
    for (size_t i = 0; i < n; i++)
        free (names[i]);
    return self;
fail:
    for (size_t i = 0; i < n; i++)
        free (names[i]);
    flow_defs_destroy (&self);
    return NULL;
}

void
flow_defs_destroy (flow_defs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    flow_defs_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        flow_def_destroy (&self->defs[i]);
    free (self);
    *self_p = NULL;
}

const flow_def_t *
flow_defs_find (const flow_defs_t *self, const char *name)
{
    for (size_t i = 0; self && name && i < self->count; i++)
        if (!strcmp (self->defs[i]->name, name))
            return self->defs[i];
    return NULL;
}

int
flow_defs_store (const flow_defs_t *self, db_t *db, char *err, size_t errlen)
{
    for (size_t i = 0; i < self->count; i++) {
        const flow_def_t *def = self->defs[i];
        int same = 0;
        db_status_t st =
            flow_store_definition_put (db, def->name, def->version, def->start, def->graph, &same);
        if (st != DB_OK) {
            snprintf (err, errlen, "flow \"%s\" v%d: cannot store the definition (%s)", def->name,
                      def->version, db_status_name (st));
            return -1;
        }
        if (!same) {
            snprintf (err, errlen,
                      "flow \"%s\" version %d is already stored with a different graph: bump the version",
                      def->name, def->version);
            return -1;
        }
    }
    return 0;
}
