/*  flow_def - flow definitions: the JSON files of flows/ loaded and
 *  validated when flow-svc starts (docs/flows.md, "Flows as data"), stored in
 *  flow.definitions, and parsed again from there for executions pinned to a
 *  version that the files no longer hold. Every start-up error names the
 *  file and the line at fault. */
#ifndef FLOW_DEF_H
#define FLOW_DEF_H

#include "db.h"
#include "ost.h"

#include <jansson.h>
#include <stddef.h>

typedef struct _webhooks_t webhooks_t;
typedef struct _flow_defs_t flow_defs_t;

//  The node types: X (id, name, required edges). The engine's dispatch
//  table (engine.c) is indexed by the same ids.
#define EDGE_SUCCESS 1
#define EDGE_FAILURE 2
#define FLOW_NODE_TYPES(X)                                                                                   \
    X (NODE_PASSWORD, "password", EDGE_SUCCESS | EDGE_FAILURE)                                               \
    X (NODE_IDENTIFY, "identify", EDGE_SUCCESS)                                                              \
    X (NODE_REGISTER, "register", EDGE_SUCCESS)                                                              \
    X (NODE_SET_PASSWORD, "set_password", EDGE_SUCCESS)                                                      \
    X (NODE_TOTP, "totp", EDGE_SUCCESS | EDGE_FAILURE)                                                       \
    X (NODE_EMAIL_CODE, "email_code", EDGE_SUCCESS | EDGE_FAILURE)                                           \
    X (NODE_MAGIC_LINK, "magic_link", EDGE_SUCCESS)                                                          \
    X (NODE_WEBHOOK, "webhook", EDGE_SUCCESS | EDGE_FAILURE)                                                 \
    X (NODE_CONDITION, "condition", EDGE_SUCCESS | EDGE_FAILURE)                                             \
    X (NODE_SUCCESS, "success", 0)                                                                           \
    X (NODE_FAILURE, "failure", 0)

typedef enum {
#define FLOW_X_ENUM(id, name, edges) id,
    FLOW_NODE_TYPES (FLOW_X_ENUM)
#undef FLOW_X_ENUM
        NODE_TYPE_COUNT
} node_type_t;

//  What the success of a flow means (docs/flows.md).
#define FLOW_KINDS(X)                                                                                        \
    X (KIND_LOGIN, "login")                                                                                  \
    X (KIND_REGISTRATION, "registration")                                                                    \
    X (KIND_RECOVERY, "recovery")                                                                            \
    X (KIND_VERIFY_EMAIL, "verify_email")                                                                    \
    X (KIND_ENROLLMENT, "enrollment")

typedef enum {
#define FLOW_X_KIND(id, name) id,
    FLOW_KINDS (FLOW_X_KIND)
#undef FLOW_X_KIND
        KIND_COUNT
} flow_kind_t;

//  The tests of a condition node.
#define FLOW_TESTS(X)                                                                                        \
    X (TEST_TOTP_ENROLLED, "totp_enrolled")                                                                  \
    X (TEST_EMAIL_VERIFIED, "email_verified")                                                                \
    X (TEST_HAS_EMAIL, "has_email")                                                                          \
    X (TEST_HAS_PASSWORD, "has_password")                                                                    \
    X (TEST_USER_KNOWN, "user_known")

typedef enum {
#define FLOW_X_TEST(id, name) id,
    FLOW_TESTS (FLOW_X_TEST)
#undef FLOW_X_TEST
        TEST_COUNT
} flow_test_t;

typedef struct {
    const char *name; //  the key in "nodes" (borrowed from the graph)
    node_type_t type;
    const char *on_success; //  NULL when absent
    const char *on_failure; //  NULL when absent
    int enroll;             //  totp: "enroll": true
    int verify_email;       //  email_code: "verify_email": true
    const char *hook;       //  webhook: "hook"
    flow_test_t test;       //  condition: "test"
} flow_node_t;

typedef struct {
    const char *name;
    int version;
    flow_kind_t kind;
    const char *start;
    size_t nnodes;
    flow_node_t *nodes;
    json_t *graph; //  the whole definition, as stored
} flow_def_t;

const char *flow_node_type_name (node_type_t type);
const char *flow_kind_name (flow_kind_t kind);

//  Parses and validates one definition. origin names it in errors ("flows/
//  login.json"); text is what was read (used to find the line of a node);
//  stem, when not NULL, is the name the definition must have; hooks, when
//  not NULL, must define every hook a webhook node names. NULL on error,
//  with "origin:line: what" in err.
flow_def_t *flow_def_parse (const char *text, const char *origin, const char *stem, const webhooks_t *hooks,
                            char *err, size_t errlen);
void flow_def_destroy (flow_def_t **self_p);
//  The node called name, or NULL.
const flow_node_t *flow_def_node (const flow_def_t *self, const char *name);

//  Loads every *.json of dir. NULL on error (message in err).
flow_defs_t *flow_defs_load (const char *dir, const webhooks_t *hooks, char *err, size_t errlen);
void flow_defs_destroy (flow_defs_t **self_p);
//  The loaded definition called name, or NULL.
const flow_def_t *flow_defs_find (const flow_defs_t *self, const char *name);
//  Stores every loaded definition in flow.definitions. A (name, version)
//  already stored with another graph is an error ("bump the version").
//  0 ok, -1 with the message in err.
OST_WUR int flow_defs_store (const flow_defs_t *self, db_t *db, char *err, size_t errlen);

#endif
