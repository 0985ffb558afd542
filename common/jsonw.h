/*  jsonw - compact JSON text of a jansson value, byte for byte what
 *  json_dumps (json, JSON_COMPACT) writes (with sort_keys, what
 *  JSON_COMPACT | JSON_SORT_KEYS writes), in a fraction of its
 *  instructions: strings are copied by runs of bytes that need no escape
 *  instead of one code point at a time. Used where every request serializes
 *  (the gateway's JSON answers, JWS signing inputs). */
#ifndef OST_JSONW_H
#define OST_JSONW_H

#include "ost.h"

#include <jansson.h>
#include <stddef.h>

#define JSONW_MAX_DEPTH 2048

//  A newly allocated, NUL-terminated compact JSON text of json (an object or
//  an array, as json_dumps takes without JSON_ENCODE_ANY), its length in
//  *len when len is not NULL. Object keys in insertion order, or sorted
//  (byte order, as jansson's) with sort_keys. NULL when json_dumps would
//  fail (not an object or array, a string that is not UTF-8), for nesting
//  deeper than JSONW_MAX_DEPTH, or out of memory.
OST_WUR char *jsonw_dump (const json_t *json, int sort_keys, size_t *len);

#endif
