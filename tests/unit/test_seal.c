/*  Unit tests of seal: key derivation (RFC 5869 HKDF-Expand), AES-256-GCM
 *  sealing, and refusal of tampered text, wrong keys and wrong data. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "seal.h"
#include "secure.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static unsigned char s_master[32];
static unsigned char s_key[32];

static int
s_setup (void **state)
{
    (void)state;
    for (int i = 0; i < 32; i++)
        s_master[i] = (unsigned char)i;
    return seal_derive (s_master, "test", s_key);
}

static void
test_seal_derive_is_hkdf_expand_with_the_label (void **state)
{
    (void)state;
    //  RFC 5869 §2.3, one block: T(1) = HMAC-SHA256(PRK, info || 0x01).
    const char info[] = "ostiary seal v1 outbox\x01";
    unsigned char expect[32], out[32];
    unsigned int len = 0;
    assert_non_null (
        HMAC (EVP_sha256 (), s_master, 32, (const unsigned char *)info, sizeof info - 1, expect, &len));
    assert_int_equal (seal_derive (s_master, "outbox", out), 0);
    assert_memory_equal (out, expect, 32);
}

static void
test_seal_derive_gives_distinct_keys_per_label (void **state)
{
    (void)state;
    unsigned char a[32], b[32], c[32];
    assert_int_equal (seal_derive (s_master, "outbox", a), 0);
    assert_int_equal (seal_derive (s_master, "totp", b), 0);
    assert_int_equal (seal_derive (s_master, "outbox", c), 0);
    assert_memory_not_equal (a, b, 32);
    assert_memory_equal (a, c, 32);
    unsigned char other[32];
    memcpy (other, s_master, 32);
    other[0] ^= 1;
    assert_int_equal (seal_derive (other, "outbox", c), 0);
    assert_memory_not_equal (a, c, 32);
}

static void
test_seal_derive_refuses_bad_labels (void **state)
{
    (void)state;
    unsigned char out[32];
    char long_label[300];
    memset (long_label, 'x', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = '\0';
    assert_int_equal (seal_derive (s_master, "", out), -1);
    assert_int_equal (seal_derive (s_master, NULL, out), -1);
    assert_int_equal (seal_derive (s_master, long_label, out), -1);
}

static void
test_seal_round_trips_with_a_fresh_nonce (void **state)
{
    (void)state;
    const char msg[] = "JBSWY3DPEHPK3PXP";
    char *a = seal_encrypt (s_key, "user_totp:sub-1", msg, strlen (msg));
    char *b = seal_encrypt (s_key, "user_totp:sub-1", msg, strlen (msg));
    assert_non_null (a);
    assert_non_null (b);
    //  version (1) + nonce (12) + 16 bytes + tag (16), base64url.
    assert_int_equal (strlen (a), b64url_encoded_len (1 + 12 + strlen (msg) + 16));
    assert_string_not_equal (a, b);
    unsigned char *pt = NULL;
    size_t len = 0;
    assert_int_equal (seal_decrypt (s_key, "user_totp:sub-1", a, &pt, &len), 0);
    assert_int_equal (len, strlen (msg));
    assert_memory_equal (pt, msg, len);
    assert_int_equal (pt[len], '\0');
    secure_wipe (pt, len);
    free (pt);
    free (a);
    free (b);
}

static void
test_seal_round_trips_empty_and_large_plaintexts (void **state)
{
    (void)state;
    char *s = seal_encrypt (s_key, NULL, NULL, 0);
    assert_non_null (s);
    unsigned char *pt = NULL;
    size_t len = 99;
    assert_int_equal (seal_decrypt (s_key, "", s, &pt, &len), 0);
    assert_int_equal (len, 0);
    free (pt);
    free (s);
    size_t big = 100000;
    unsigned char *buf = malloc (big);
    assert_non_null (buf);
    assert_int_equal (secure_random (buf, big), 0);
    s = seal_encrypt (s_key, "big", buf, big);
    assert_non_null (s);
    assert_int_equal (seal_decrypt (s_key, "big", s, &pt, &len), 0);
    assert_int_equal (len, big);
    assert_memory_equal (pt, buf, big);
    free (pt);
    free (s);
    free (buf);
}

static void
test_seal_refuses_plaintexts_over_the_limit (void **state)
{
    (void)state;
    unsigned char *buf = calloc (1, SEAL_MAX_PLAINTEXT + 1);
    assert_non_null (buf);
    assert_null (seal_encrypt (s_key, "x", buf, SEAL_MAX_PLAINTEXT + 1));
    free (buf);
}

static void
test_seal_decrypt_refuses_wrong_key_and_wrong_aad (void **state)
{
    (void)state;
    char *s = seal_encrypt (s_key, "outbox:email:7", "hello", 5);
    assert_non_null (s);
    unsigned char other[32];
    assert_int_equal (seal_derive (s_master, "other", other), 0);
    unsigned char *pt = (unsigned char *)"sentinel";
    size_t len = 5;
    assert_int_equal (seal_decrypt (other, "outbox:email:7", s, &pt, &len), -1);
    assert_null (pt);
    assert_int_equal (len, 0);
    assert_int_equal (seal_decrypt (s_key, "outbox:email:8", s, &pt, &len), -1);
    assert_int_equal (seal_decrypt (s_key, "", s, &pt, &len), -1);
    assert_int_equal (seal_decrypt (s_key, NULL, s, &pt, &len), -1);
    assert_null (pt);
    free (s);
}

static void
test_seal_decrypt_refuses_every_flipped_bit (void **state)
{
    (void)state;
    char *s = seal_encrypt (s_key, "aad", "secret", 6);
    assert_non_null (s);
    unsigned char blob[64];
    long n = b64url_decode (s, strlen (s), blob, sizeof blob);
    assert_true (n > 0);
    //  Version byte, nonce, ciphertext and tag: no bit may change unnoticed.
    for (long i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            blob[i] ^= (unsigned char)(1u << bit);
            char *t = b64url_encode_alloc (blob, (size_t)n);
            assert_non_null (t);
            unsigned char *pt = NULL;
            size_t len = 0;
            assert_int_equal (seal_decrypt (s_key, "aad", t, &pt, &len), -1);
            free (t);
            blob[i] ^= (unsigned char)(1u << bit);
        }
    }
    free (s);
}

static void
test_seal_decrypt_refuses_malformed_text (void **state)
{
    (void)state;
    unsigned char *pt = NULL;
    size_t len = 0;
    char *s = seal_encrypt (s_key, "aad", "secret", 6);
    assert_non_null (s);
    size_t slen = strlen (s);
    //  Truncated (loses part of the tag), extended, padded, outside the alphabet.
    char *t = strdup (s);
    t[slen - 1] = '\0';
    assert_int_equal (seal_decrypt (s_key, "aad", t, &pt, &len), -1);
    t[slen - 4] = '\0';
    assert_int_equal (seal_decrypt (s_key, "aad", t, &pt, &len), -1);
    free (t);
    t = malloc (slen + 8);
    snprintf (t, slen + 8, "%sAAAA", s);
    assert_int_equal (seal_decrypt (s_key, "aad", t, &pt, &len), -1);
    snprintf (t, slen + 8, "%s=", s);
    assert_int_equal (seal_decrypt (s_key, "aad", t, &pt, &len), -1);
    free (t);
    assert_int_equal (seal_decrypt (s_key, "aad", "", &pt, &len), -1);
    assert_int_equal (seal_decrypt (s_key, "aad", "AQ", &pt, &len), -1);
    assert_int_equal (seal_decrypt (s_key, "aad", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", &pt, &len),
                      -1);
    //  A blob of another version, even if otherwise intact, is refused.
    unsigned char blob[64];
    long n = b64url_decode (s, slen, blob, sizeof blob);
    blob[0] = 2;
    t = b64url_encode_alloc (blob, (size_t)n);
    assert_int_equal (seal_decrypt (s_key, "aad", t, &pt, &len), -1);
    free (t);
    assert_null (pt);
    free (s);
}

static void
test_seal_gcm_primitive_round_trips_binary_aad (void **state)
{
    (void)state;
    const unsigned char aad[] = {0, 1, 2, 0};
    unsigned char out[5 + SEAL_OVERHEAD], back[5];
    assert_int_equal (seal_gcm_encrypt (s_key, aad, sizeof aad, "hello", 5, out), 0);
    assert_int_equal (seal_gcm_decrypt (s_key, aad, sizeof aad, out, sizeof out, back), 0);
    assert_memory_equal (back, "hello", 5);
    assert_int_equal (seal_gcm_decrypt (s_key, aad, 3, out, sizeof out, back), -1);
    assert_int_equal (seal_gcm_decrypt (s_key, aad, sizeof aad, out, SEAL_OVERHEAD - 1, back), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_seal_derive_is_hkdf_expand_with_the_label),
        cmocka_unit_test (test_seal_derive_gives_distinct_keys_per_label),
        cmocka_unit_test (test_seal_derive_refuses_bad_labels),
        cmocka_unit_test (test_seal_round_trips_with_a_fresh_nonce),
        cmocka_unit_test (test_seal_round_trips_empty_and_large_plaintexts),
        cmocka_unit_test (test_seal_refuses_plaintexts_over_the_limit),
        cmocka_unit_test (test_seal_decrypt_refuses_wrong_key_and_wrong_aad),
        cmocka_unit_test (test_seal_decrypt_refuses_every_flipped_bit),
        cmocka_unit_test (test_seal_decrypt_refuses_malformed_text),
        cmocka_unit_test (test_seal_gcm_primitive_round_trips_binary_aad),
    };
    return cmocka_run_group_tests (tests, s_setup, NULL);
}
