/*  form - a bounded parser of application/x-www-form-urlencoded data
 *  (WHATWG URL §5.1, as RFC 6749 Appendix B uses it): request bodies of
 *  /token, /authorize (POST), the login and consent forms, and query strings.
 *
 *  Every limit is explicit: total size, number of parameters, name and value
 *  length. Percent-decoding is strict (a '%' not followed by two hex digits
 *  is an error, not a literal), '+' is a space, a decoded NUL byte and
 *  invalid UTF-8 are refused (the bus carries UTF-8 strings only). Repeated
 *  names are kept, in order: the caller decides when that is an error
 *  (RFC 6749 §3.1, §3.2: "Request and response parameters MUST NOT be
 *  included more than once"). A parsed form is wiped when destroyed, since
 *  it may hold a password or a client secret. */
#ifndef OST_FORM_H
#define OST_FORM_H

#include "ost.h"
#include <jansson.h>
#include <stddef.h>

typedef struct _form_t form_t;

typedef struct {
    size_t max_total;  //  bytes of encoded input
    size_t max_params; //  name=value pairs (empty pairs between '&' do not count)
    size_t max_name;   //  decoded bytes of one name
    size_t max_value;  //  decoded bytes of one value
} form_limits_t;

typedef enum {
    FORM_OK = 0,
    FORM_TOO_LARGE,      //  input longer than max_total
    FORM_TOO_MANY,       //  more than max_params pairs
    FORM_NAME_TOO_LONG,  //  a decoded name longer than max_name
    FORM_VALUE_TOO_LONG, //  a decoded value longer than max_value
    FORM_BAD_ESCAPE,     //  '%' not followed by two hex digits
    FORM_NUL,            //  a NUL byte, raw or as %00
    FORM_BAD_UTF8,       //  a decoded name or value that is not UTF-8
    FORM_EMPTY_NAME,     //  "=value": a pair without a name
    FORM_NO_MEMORY,
} form_status_t;

//  Parses len bytes of data (need not be NUL-terminated; NULL with len 0 is
//  the empty form). Returns the form, or NULL with *status saying why.
OST_WUR form_t *form_parse (const char *data, size_t len, const form_limits_t *limits, form_status_t *status);
//  Wipes and frees; sets *self_p to NULL. Idempotent.
void form_destroy (form_t **self_p);
//  A fixed English sentence for status, fit for an error_description.
const char *form_status_text (form_status_t status);
//  A stable code for status ("too_large", "bad_utf8"...): what a page in
//  the user's language says it with (the catalogue's "error.form.<code>").
const char *form_status_code (form_status_t status);

//  Number of pairs, and pair i in the order received.
size_t form_count (const form_t *self);
const char *form_name_at (const form_t *self, size_t i);
const char *form_value_at (const form_t *self, size_t i);
//  The first value of name, or NULL. With skip_empty, pairs whose value is
//  empty are passed over (RFC 6749 §3.1: "Parameters sent without a value
//  MUST be treated as if they were omitted from the request").
const char *form_get (const form_t *self, const char *name, int skip_empty);
//  How many times name occurs (with skip_empty, non-empty values only).
size_t form_occurrences (const form_t *self, const char *name, int skip_empty);
//  The first name that occurs more than once (per skip_empty), or NULL.
const char *form_first_repeated (const form_t *self, int skip_empty);

//  {"name": first value, ...} (per skip_empty), or NULL on allocation failure.
OST_WUR json_t *form_to_json (const form_t *self, int skip_empty);
//  ["name", ...]: each name occurring more than once (per skip_empty), once,
//  in order of first appearance; NULL on allocation failure.
OST_WUR json_t *form_repeated_json (const form_t *self, int skip_empty);

//  Strict percent-decoding of one component (e.g. the client id and secret
//  of an RFC 6749 §2.3.1 Basic header): decodes len bytes of in into a new
//  NUL-terminated string of at most max bytes; plus_is_space turns '+' into
//  ' '. NULL on a bad escape, a NUL byte, invalid UTF-8, a result longer
//  than max, or no memory. Caller frees (secure_free_str if secret).
OST_WUR char *form_decode_component (const char *in, size_t len, size_t max, int plus_is_space);
//  Appends the application/x-www-form-urlencoded encoding of value to out
//  (size out_size, NUL-terminated), unreserved characters (RFC 3986 §2.3)
//  kept and every other byte %XX. Returns the new length of out, or -1 (out
//  unchanged) when it does not fit.
OST_WUR long form_encode_append (char *out, size_t out_size, const char *value);
//  Appends sep (e.g. "?" or "&"; "" for none), name, "=" and value to out,
//  name and value encoded as form_encode_append does: one parameter of a
//  query under construction. Returns the new length of out, or -1 (out
//  unchanged) when it does not fit.
OST_WUR long form_append_param (char *out, size_t out_size, const char *sep, const char *name,
                                const char *value);

#endif
