/*  claims - the claims request parameter and the acr. See claims.h. */
#include "claims.h"

#include "token_util.h"

#include <string.h>

static const struct {
    const char *name;
    int level;
    const char *amr;
} s_acrs[] = {
#define ACR(name, level, amr) {name, level, amr},
#include "acr.def"
#undef ACR
};
#define S_ACRS (sizeof s_acrs / sizeof s_acrs[0])

//  The claims Ostiary releases and the scope that requests each.
static const struct {
    const char *name;
    const char *scope;
} s_claims[] = {
#define CLAIM(name, scope) {name, scope},
#include "claims.def"
#undef CLAIM
};

//  A claim name: printable, without spaces, within the bound.
static int
s_name_ok (const char *name)
{
    size_t n = strlen (name);
    return n > 0 && n <= CLAIMS_NAME_MAX && tu_printable (name, 0) && !strchr (name, ' ');
}

//  A value or an entry of values: a string within the bound, a number or a
//  boolean (§5.5.1: "the value ... MUST be a JSON value of the claim's type").
static int
s_value_ok (const json_t *v)
{
    if (json_is_string (v))
        return json_string_length (v) <= CLAIMS_VALUE_MAX &&
               !memchr (json_string_value (v), 0, json_string_length (v));
    return json_is_number (v) || json_is_boolean (v);
}

//  One member (userinfo or id_token) of the parameter: an object whose
//  members are claims, each null or an object of which essential (a
//  boolean), value and values (an array) are checked (§5.5.1). Appends
//  the names to names; with acr set, what id_token asks of acr.
static const char *
s_member (const json_t *member, json_t *names, json_t **acr)
{
    if (!json_is_object (member))
        return "claims: userinfo and id_token must be objects";
    if (json_object_size (member) > CLAIMS_NAMES_MAX)
        return "claims: too many claims requested";
    const char *name;
    json_t *spec;
    json_object_foreach ((json_t *)member, name, spec)
    {
        if (!s_name_ok (name))
            return "claims: a claim name is malformed";
        if (!json_is_null (spec) && !json_is_object (spec))
            return "claims: each claim must be null or an object";
        const json_t *essential = json_object_get (spec, "essential");
        const json_t *value = json_object_get (spec, "value");
        const json_t *values = json_object_get (spec, "values");
        if (essential && !json_is_boolean (essential))
            return "claims: essential must be a boolean";
        if (value && !s_value_ok (value))
            return "claims: a value is malformed";
        if (values && (!json_is_array (values) || json_array_size (values) == 0 ||
                       json_array_size (values) > CLAIMS_VALUES_MAX))
            return "claims: values must be a short non-empty array";
        size_t i;
        const json_t *v;
        json_array_foreach (values, i, v)
        {
            if (!s_value_ok (v))
                return "claims: a value is malformed";
        }
        if (json_array_append_new (names, json_string (name)))
            return "internal error";
        //  §5.5.1.1: acr asked with a value or values.
        if (acr && !strcmp (name, "acr") && (value || values)) {
            json_t *wanted = json_array ();
            if (value && json_is_string (value))
                json_array_append (wanted, (json_t *)value);
            json_array_foreach (values, i, v)
            {
                if (json_is_string (v))
                    json_array_append (wanted, (json_t *)v);
            }
            *acr = json_pack ("{s:b, s:o}", "essential", json_is_true (essential), "values", wanted);
        }
    }
    return NULL;
}

json_t *
claims_parse (const char *text, const char **problem)
{
    *problem = "claims is too long";
    if (strnlen (text, CLAIMS_TEXT_MAX + 1) > CLAIMS_TEXT_MAX)
        return NULL;
    *problem = "claims must be a JSON object";
    json_t *in = json_loads (text, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object (in)) {
        json_decref (in);
        return NULL;
    }
    json_t *out = json_object ();
    json_t *acr = NULL;
    *problem = out ? NULL : "internal error";
    static const char *const members[] = {"userinfo", "id_token"};
    //  §5.5: members other than userinfo and id_token are ignored.
    for (size_t k = 0; k < 2 && !*problem; k++) {
        const json_t *member = json_object_get (in, members[k]);
        if (!member)
            continue;
        json_t *names = json_array ();
        *problem = names ? s_member (member, names, k == 1 ? &acr : NULL) : "internal error";
        if (!*problem && json_object_set_new (out, members[k], names))
            *problem = "internal error";
        else if (*problem)
            json_decref (names);
    }
    if (!*problem && acr && json_object_set (out, "acr", acr))
        *problem = "internal error";
    json_decref (acr);
    json_decref (in);
    if (*problem) {
        json_decref (out);
        return NULL;
    }
    return out;
}

const json_t *
claims_names (const json_t *claims, const char *member)
{
    const json_t *names = json_object_get (claims, member);
    return json_array_size (names) > 0 ? names : NULL;
}

//  The level of the strongest acr the session meets.
static int
s_session_level (const json_t *amr)
{
    int level = 0;
    for (size_t k = 0; k < S_ACRS; k++)
        if ((!*s_acrs[k].amr || tu_has (amr, s_acrs[k].amr)) && s_acrs[k].level > level)
            level = s_acrs[k].level;
    return level;
}

//  The acr of our table named name (length n) that a session of level
//  meets, or NULL.
static const char *
s_met (const char *name, size_t n, int level)
{
    for (size_t k = 0; k < S_ACRS; k++)
        if (strlen (s_acrs[k].name) == n && !strncmp (s_acrs[k].name, name, n) && s_acrs[k].level <= level)
            return s_acrs[k].name;
    return NULL;
}

const char *
claims_acr (const json_t *amr, const char *acr_values, const json_t *claims)
{
    int level = s_session_level (amr);
    const char *strongest = NULL;
    for (size_t k = 0; k < S_ACRS; k++)
        if (s_acrs[k].level == level)
            strongest = s_acrs[k].name;
    //  §5.5.1.1: the values of the claims parameter's acr first; an
    //  essential one that cannot be met fails the authentication.
    const json_t *acr = json_object_get (claims, "acr");
    const json_t *values = json_object_get (acr, "values");
    size_t i;
    const json_t *v;
    json_array_foreach (values, i, v)
    {
        const char *met = s_met (json_string_value (v), json_string_length (v), level);
        if (met)
            return met;
    }
    if (json_is_true (json_object_get (acr, "essential")) && json_array_size (values) > 0)
        return NULL;
    //  §3.1.2.1: acr_values are voluntary, in order of preference.
    const char *p = acr_values;
    while (p && *p) {
        size_t n = strcspn (p, " ");
        const char *met = n ? s_met (p, n, level) : NULL;
        if (met)
            return met;
        p += n;
        p += strspn (p, " ");
    }
    return strongest;
}

json_t *
claims_beyond_scopes (const json_t *claims, const json_t *scopes)
{
    const json_t *userinfo = claims_names (claims, "userinfo");
    const json_t *id_token = claims_names (claims, "id_token");
    if (!userinfo && !id_token)
        return NULL;
    json_t *names = json_array ();
    for (size_t k = 0; names && k < sizeof s_claims / sizeof s_claims[0]; k++) {
        //  An ID Token claim of its own (no scope) is not the user's to allow.
        if (!*s_claims[k].scope || tu_has (scopes, s_claims[k].scope))
            continue;
        const char *name = s_claims[k].name;
        if ((tu_has (userinfo, name) || tu_has (id_token, name)) &&
            json_array_append_new (names, json_string (name)) != 0) {
            json_decref (names);
            names = NULL;
        }
    }
    if (names && json_array_size (names) == 0) {
        json_decref (names);
        names = NULL;
    }
    return names;
}
