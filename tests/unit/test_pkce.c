/*  Unit tests of common/pkce: the S256 challenge of RFC 7636. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "pkce.h"

#include <string.h>

//  RFC 7636 Appendix B.
static void
test_the_rfc_example_verifier_gives_its_challenge (void **state)
{
    (void)state;
    char out[PKCE_CHALLENGE_SIZE];
    assert_int_equal (pkce_s256 ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", out), 0);
    assert_string_equal (out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void
test_a_different_verifier_gives_another_challenge_of_43_characters (void **state)
{
    (void)state;
    char a[PKCE_CHALLENGE_SIZE], b[PKCE_CHALLENGE_SIZE];
    assert_int_equal (pkce_s256 ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", a), 0);
    assert_int_equal (pkce_s256 ("", b), 0);
    assert_int_equal (strlen (a), 43);
    assert_int_equal (strlen (b), 43);
    assert_string_not_equal (a, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    //  SHA-256 of nothing.
    assert_string_equal (b, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
}

static void
test_no_verifier_is_refused_with_an_empty_challenge (void **state)
{
    (void)state;
    char out[PKCE_CHALLENGE_SIZE] = "x";
    assert_int_equal (pkce_s256 (NULL, out), -1);
    assert_string_equal (out, "");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_the_rfc_example_verifier_gives_its_challenge),
        cmocka_unit_test (test_a_different_verifier_gives_another_challenge_of_43_characters),
        cmocka_unit_test (test_no_verifier_is_refused_with_an_empty_challenge),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
