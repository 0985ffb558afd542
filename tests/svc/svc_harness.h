/*  svc_harness - the bus services inside a test process: a broker on an
 *  inproc:// endpoint, keys-svc, token-svc and flow-svc started from their
 *  service definitions exactly as their programs start them (service_new:
 *  migrations, app, worker threads), and a bus client to call their ops with
 *  JSON bodies as the gateway and ostiaryctl do. CURVE is off in-process.
 *
 *  The database is the one OSTIARY_TEST_DB names (scripts/test.sh makes a
 *  throwaway cluster): the services' schemas (token, flow, keys) are dropped
 *  before they start and after they stop, so each test program begins from
 *  empty schemas. Without OSTIARY_TEST_DB, svc_harness_new returns NULL and
 *  the tests skip. */
#ifndef SVC_HARNESS_H
#define SVC_HARNESS_H

#include "bus_client.h"
#include "db.h"
#include <jansson.h>
#include <libpq-fe.h>

typedef struct _svc_harness_t svc_harness_t;

//  The harness of the test program. svc_setup and svc_teardown are cmocka
//  group setup and teardown that start it without settings and stop it; a
//  program with settings of its own sets svc_h in its own setup
//  (svc_harness_new (settings)) and stops it with svc_teardown.
extern svc_harness_t *svc_h;
int svc_setup (void **state);
int svc_teardown (void **state);

//  Starts the broker and the three services. settings: NULL or a
//  NULL-terminated list of "OSTIARY_X=value" applied over the harness's
//  own (cheap argon2, fresh keys, no SMTP server, ...). NULL when
//  OSTIARY_TEST_DB is not set; a failure to start fails the test (cmocka).
svc_harness_t *svc_harness_new (const char *const *settings);
void svc_harness_destroy (svc_harness_t **self_p);

//  Calls op with the JSON text body_fmt (printf-formatted; "" or NULL = {}).
//  0 and *result (caller json_decref()s), or -1 and *error.
int svc_call (svc_harness_t *self, const char *op, json_t **result, bus_error_t *error, const char *body_fmt,
              ...) __attribute__ ((format (printf, 5, 6)));
//  The same with a body already built (not consumed).
int svc_call_json (svc_harness_t *self, const char *op, const json_t *body, json_t **result,
                   bus_error_t *error);
//  Calls op and fails the test unless it succeeds; returns the result.
json_t *svc_ok (svc_harness_t *self, const char *op, const char *body_fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
//  Calls op and fails the test if it succeeds; returns the error's wire
//  code (a static string of errors.def, or "" for an unknown one).
const char *svc_err (svc_harness_t *self, const char *op, const char *body_fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  A bus client of its own on the harness's broker (caller destroys it with
//  bus_client_destroy): for calls from another thread at the same time.
bus_client_t *svc_harness_client_new (svc_harness_t *self);

//  Runs sql (printf-formatted) on the test database and returns the first
//  column of the first row as a long (count(*) and the like); fails the test
//  on an error or an empty result.
long svc_sql_long (svc_harness_t *self, const char *sql_fmt, ...) __attribute__ ((format (printf, 2, 3)));
//  The same for a text value, copied into out (NULL value: "(null)").
void svc_sql_text (svc_harness_t *self, char *out, size_t size, const char *sql_fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
//  Runs a statement without result (test set-up: UPDATE ... to age a row).
void svc_sql_exec (svc_harness_t *self, const char *sql_fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  On db (a connection whose statements are prepared), EXPLAIN EXECUTE of
//  each of executes ("name(args)"), once under generic and once under
//  custom plans: prints each plan that scans a table sequentially (with
//  cmocka's print_error) and returns how many did.
int svc_seq_scans (db_t *db, const char *const *executes, size_t n);

//  Fails the test unless op refuses body with invalid_request described as
//  "invalid request: " why (what the bus worker says of a body outside
//  proto/ops/, before the handler runs).
void svc_refused_naming (svc_harness_t *self, const char *op, const json_t *body, const char *why);
//  The same with the body as JSON text (printf-formatted).
void svc_refused_text (svc_harness_t *self, const char *op, const char *why, const char *body_fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  Where the clients of svc_client come back to: SVC_RP followed by their id.
#define SVC_RP "https://rp.example/cb/"

//  A client registered by svc_client.
typedef struct {
    char id[80];
    char secret[128]; //  "" for a public client
    char redirect_uri[160];
    char method[32]; //  its token_endpoint_auth_method
} svc_client_t;

//  Registers a client with token.client_add, failing the test unless it is
//  registered: its id prefix followed by random digits, the name "Test",
//  the one redirect URI SVC_RP<id>, and the members of members_fmt
//  (printf-formatted JSON members without the braces, "" for none) over
//  these.
void svc_client (svc_harness_t *self, svc_client_t *c, const char *prefix, const char *members_fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  A new user with flow.user_add (username: prefix and random digits, into
//  username; the password SVC_PASSWORD), sub into sub; admin also grants the
//  admin role (flow.user_set_admin). Fails the test unless each call succeeds.
#define SVC_PASSWORD "correct horse battery staple"
void svc_user (svc_harness_t *self, const char *prefix, int admin, char *username, size_t usize, char *sub,
               size_t ssize);

//  A fresh PKCE pair: a code_verifier of 32 random bytes (43 characters) and
//  its S256 challenge (common/pkce.h).
void svc_pkce (char verifier[44], char challenge[44]);

//  The token response (caller json_decref()s) of a code flow with PKCE S256
//  for sub at c (client_secret_post when c->secret is set, else public),
//  asking scope: token.authorize, token.issue_code (session sid, signed in a
//  second ago), token.exchange. Fails the test unless each call succeeds.
json_t *svc_code_tokens (svc_harness_t *self, const svc_client_t *c, const char *sub, const char *scope,
                         const char *sid);

//  The payload of a compact JWS, parsed (caller json_decref()s); fails the
//  test when it is malformed.
json_t *svc_jws_payload (const char *jws);

//  Members of a result, failing the test when absent or of another type.
//  A fresh name for a test object: prefix followed by 10 random hex digits.
void svc_unique (char *out, size_t size, const char *prefix);
const char *svc_str (const json_t *obj, const char *path);
long long svc_int (const json_t *obj, const char *path);
int svc_bool (const json_t *obj, const char *path);

//  At the top of a test: skips it (cmocka's skip) when the group's harness h
//  could not start (no OSTIARY_TEST_DB, or the database is unreachable).
#define SVC_NEED_DB(h)                                                                                       \
    do {                                                                                                     \
        if (!(h))                                                                                            \
            skip ();                                                                                         \
    } while (0)

#endif
