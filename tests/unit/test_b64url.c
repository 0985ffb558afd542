/*  Unit tests of base64url: RFC 4648 §10 vectors (in the URL alphabet,
 *  without padding, as RFC 7515 §2 uses them) and every input the strict
 *  decoder must refuse. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "secure.h"

#include <stdlib.h>
#include <string.h>

//  RFC 4648 §10, padding removed.
static const struct {
    const char *plain;
    const char *encoded;
} s_vectors[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void
test_b64url_rfc4648_vectors (void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_vectors / sizeof s_vectors[0]; i++) {
        const char *plain = s_vectors[i].plain;
        const char *encoded = s_vectors[i].encoded;
        char out[16];
        assert_int_equal (b64url_encoded_len (strlen (plain)), strlen (encoded));
        assert_int_equal (b64url_encode (plain, strlen (plain), out), strlen (encoded));
        assert_string_equal (out, encoded);

        unsigned char back[16];
        long n = b64url_decode (encoded, strlen (encoded), back, sizeof back);
        assert_int_equal (n, (long)strlen (plain));
        assert_memory_equal (back, plain, strlen (plain));
    }
}

static void
test_b64url_uses_url_alphabet (void **state)
{
    (void)state;
    //  0xfb 0xff is "+/8=" in base64 and "-_8" in base64url (RFC 4648 §5).
    const unsigned char bytes[] = {0xfb, 0xff};
    char out[8];
    b64url_encode (bytes, sizeof bytes, out);
    assert_string_equal (out, "-_8");
    const unsigned char ones[] = {0xff, 0xff, 0xff};
    b64url_encode (ones, sizeof ones, out);
    assert_string_equal (out, "____");

    unsigned char back[4];
    assert_int_equal (b64url_decode ("-_8", 3, back, sizeof back), 2);
    assert_memory_equal (back, bytes, 2);
}

static void
test_b64url_encode_alloc_matches_encode (void **state)
{
    (void)state;
    char *out = b64url_encode_alloc ("foobar", 6);
    assert_non_null (out);
    assert_string_equal (out, "Zm9vYmFy");
    free (out);
    out = b64url_encode_alloc ("", 0);
    assert_non_null (out);
    assert_string_equal (out, "");
    free (out);
}

static void
test_b64url_roundtrips_every_length (void **state)
{
    (void)state;
    unsigned char bytes[130];
    assert_int_equal (secure_random (bytes, sizeof bytes), 0);
    for (size_t n = 0; n <= sizeof bytes; n++) {
        char *text = b64url_encode_alloc (bytes, n);
        assert_non_null (text);
        assert_int_equal (strlen (text), b64url_encoded_len (n));
        assert_null (strchr (text, '='));
        unsigned char back[sizeof bytes];
        assert_int_equal (b64url_decode (text, strlen (text), back, sizeof back), (long)n);
        assert_memory_equal (back, bytes, n);
        free (text);
    }
}

static void
test_b64url_rejects_padding (void **state)
{
    (void)state;
    unsigned char out[16];
    assert_int_equal (b64url_decode ("Zg==", 4, out, sizeof out), -1);
    assert_int_equal (b64url_decode ("Zm8=", 4, out, sizeof out), -1);
    assert_int_equal (b64url_decode ("Zm9vYg==", 8, out, sizeof out), -1);
}

static void
test_b64url_rejects_standard_alphabet_and_bad_characters (void **state)
{
    (void)state;
    unsigned char out[16];
    assert_int_equal (b64url_decode ("+/8", 3, out, sizeof out), -1);
    assert_int_equal (b64url_decode ("Zm9 v", 5, out, sizeof out), -1);
    assert_int_equal (b64url_decode ("Zm9v\n", 5, out, sizeof out), -1);
    assert_int_equal (b64url_decode ("Zm\0v", 4, out, sizeof out), -1);
    assert_int_equal (b64url_decode ("Zm9\xc3", 4, out, sizeof out), -1);
    assert_int_equal (b64url_decode ("Zm.v", 4, out, sizeof out), -1);
}

static void
test_b64url_rejects_length_one_mod_four (void **state)
{
    (void)state;
    unsigned char out[16];
    assert_int_equal (b64url_decode ("Z", 1, out, sizeof out), -1);
    assert_int_equal (b64url_decode ("Zm9vY", 5, out, sizeof out), -1);
}

static void
test_b64url_rejects_noncanonical_trailing_bits (void **state)
{
    (void)state;
    unsigned char out[16];
    //  "Zg" is "f"; "Zh" carries a set bit past the byte and also reads "f".
    assert_int_equal (b64url_decode ("Zh", 2, out, sizeof out), -1);
    //  "Zm8" is "fo"; "Zm9" sets one of the two spare bits.
    assert_int_equal (b64url_decode ("Zm9", 3, out, sizeof out), -1);
    assert_int_equal (b64url_decode ("Zm9vYh", 6, out, sizeof out), -1);
}

static void
test_b64url_decode_rejects_output_larger_than_buffer (void **state)
{
    (void)state;
    unsigned char out[6];
    assert_int_equal (b64url_decode ("Zm9vYmFy", 8, out, 5), -1);
    assert_int_equal (b64url_decode ("Zm9vYmFy", 8, out, 6), 6);
    assert_int_equal (b64url_decode ("", 0, out, 0), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_b64url_rfc4648_vectors),
        cmocka_unit_test (test_b64url_uses_url_alphabet),
        cmocka_unit_test (test_b64url_encode_alloc_matches_encode),
        cmocka_unit_test (test_b64url_roundtrips_every_length),
        cmocka_unit_test (test_b64url_rejects_padding),
        cmocka_unit_test (test_b64url_rejects_standard_alphabet_and_bad_characters),
        cmocka_unit_test (test_b64url_rejects_length_one_mod_four),
        cmocka_unit_test (test_b64url_rejects_noncanonical_trailing_bits),
        cmocka_unit_test (test_b64url_decode_rejects_output_larger_than_buffer),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
