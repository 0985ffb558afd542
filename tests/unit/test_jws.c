/*  Unit tests of the JWS helpers: signing input, compact form, parsing
 *  limits, ECDSA signature conversion, verification of RS256, ES256 and
 *  EdDSA (round trips and the RFCs' own examples), and public JWKs both ways. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *s_rsa, *s_ec, *s_ed;

static int
s_group_setup (void **state)
{
    (void)state;
    s_rsa = EVP_RSA_gen (2048);
    s_ec = EVP_EC_gen ("P-256");
    s_ed = EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
    return s_rsa && s_ec && s_ed ? 0 : -1;
}

static int
s_group_teardown (void **state)
{
    (void)state;
    EVP_PKEY_free (s_rsa);
    EVP_PKEY_free (s_ec);
    EVP_PKEY_free (s_ed);
    return 0;
}

static EVP_PKEY *
s_key (jws_alg_t alg)
{
    return alg == JWS_ALG_RS256 ? s_rsa : alg == JWS_ALG_ES256 ? s_ec : s_ed;
}

//  Signs input as keys-svc does: DigestSign, and R || S for ES256.
static unsigned char *
s_sign (EVP_PKEY *pkey, jws_alg_t alg, const char *input, size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    assert_non_null (ctx);
    assert_int_equal (EVP_DigestSignInit (ctx, NULL, alg == JWS_ALG_EDDSA ? NULL : EVP_sha256 (), NULL, pkey),
                      1);
    size_t len = 0;
    assert_int_equal (EVP_DigestSign (ctx, NULL, &len, (const unsigned char *)input, strlen (input)), 1);
    unsigned char *sig = malloc (len);
    assert_non_null (sig);
    assert_int_equal (EVP_DigestSign (ctx, sig, &len, (const unsigned char *)input, strlen (input)), 1);
    EVP_MD_CTX_free (ctx);
    if (alg == JWS_ALG_ES256) {
        unsigned char *raw = malloc (64);
        assert_non_null (raw);
        assert_int_equal (jws_ecdsa_der_to_raw (sig, len, raw, 32), 0);
        free (sig);
        sig = raw;
        len = 64;
    }
    *siglen = len;
    return sig;
}

//  A signed compact JWS with header {"alg": header_alg, "typ": "JWT"}.
static char *
s_token (jws_alg_t alg, const char *header_alg)
{
    json_t *header = json_object ();
    json_object_set_new (header, "alg", json_string (header_alg));
    json_object_set_new (header, "typ", json_string ("JWT"));
    json_t *claims = json_object ();
    json_object_set_new (claims, "iss", json_string ("http://127.0.0.1:8080"));
    json_object_set_new (claims, "sub", json_string ("alice"));
    json_object_set_new (claims, "exp", json_integer (1800000000));
    char *input = jws_signing_input (header, claims);
    assert_non_null (input);
    size_t siglen;
    unsigned char *sig = s_sign (s_key (alg), alg, input, &siglen);
    char *compact = jws_compact (input, sig, siglen);
    assert_non_null (compact);
    free (sig);
    free (input);
    json_decref (header);
    json_decref (claims);
    return compact;
}

static char *
s_b64 (const char *text)
{
    char *out = b64url_encode_alloc (text, strlen (text));
    assert_non_null (out);
    return out;
}

//  A compact JWS built from raw header and payload text and any signature.
static char *
s_raw_token (const char *header, const char *payload, const char *sig_b64)
{
    char *h = s_b64 (header), *p = s_b64 (payload);
    size_t n = strlen (h) + strlen (p) + strlen (sig_b64) + 3;
    char *out = malloc (n);
    assert_non_null (out);
    snprintf (out, n, "%s.%s.%s", h, p, sig_b64);
    free (h);
    free (p);
    return out;
}

//  --- algorithms, signing input, compact form --------------------------------

static void
test_jws_alg_parse_and_name (void **state)
{
    (void)state;
    assert_int_equal (jws_alg_parse ("RS256"), JWS_ALG_RS256);
    assert_int_equal (jws_alg_parse ("ES256"), JWS_ALG_ES256);
    assert_int_equal (jws_alg_parse ("EdDSA"), JWS_ALG_EDDSA);
    //  RFC 8725 §3.1: "none" is never an algorithm we accept.
    assert_int_equal (jws_alg_parse ("none"), JWS_ALG_NONE);
    assert_int_equal (jws_alg_parse ("HS256"), JWS_ALG_NONE);
    assert_int_equal (jws_alg_parse ("rs256"), JWS_ALG_NONE);
    assert_int_equal (jws_alg_parse (""), JWS_ALG_NONE);
    assert_int_equal (jws_alg_parse (NULL), JWS_ALG_NONE);
    assert_string_equal (jws_alg_name (JWS_ALG_RS256), "RS256");
    assert_string_equal (jws_alg_name (JWS_ALG_ES256), "ES256");
    assert_string_equal (jws_alg_name (JWS_ALG_EDDSA), "EdDSA");
    assert_null (jws_alg_name (JWS_ALG_NONE));
}

static void
test_jws_signing_input_is_compact_json_with_sorted_keys (void **state)
{
    (void)state;
    json_t *header = json_loads ("{\"typ\": \"JWT\", \"alg\": \"ES256\", \"kid\": \"k1\"}", 0, NULL);
    json_t *claims = json_loads ("{\"sub\": \"alice\", \"aud\": [\"c1\"], \"exp\": 1}", 0, NULL);
    char *input = jws_signing_input (header, claims);
    assert_non_null (input);
    char *h = s_b64 ("{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}");
    char *c = s_b64 ("{\"aud\":[\"c1\"],\"exp\":1,\"sub\":\"alice\"}");
    char expected[512];
    snprintf (expected, sizeof expected, "%s.%s", h, c);
    assert_string_equal (input, expected);
    free (h);
    free (c);
    free (input);

    //  Both parts must be objects.
    json_t *array = json_array ();
    assert_null (jws_signing_input (header, array));
    assert_null (jws_signing_input (array, claims));
    assert_null (jws_signing_input (NULL, claims));
    json_decref (array);
    json_decref (header);
    json_decref (claims);
}

static void
test_jws_compact_appends_base64url_signature (void **state)
{
    (void)state;
    const unsigned char sig[] = {0xfb, 0xff};
    char *compact = jws_compact ("aaa.bbb", sig, sizeof sig);
    assert_non_null (compact);
    assert_string_equal (compact, "aaa.bbb.-_8");
    free (compact);
    assert_null (jws_compact ("aaa.bbb", sig, 0));
    assert_null (jws_compact (NULL, sig, sizeof sig));
}

//  --- parsing ----------------------------------------------------------------

static void
test_jws_parse_splits_and_decodes (void **state)
{
    (void)state;
    char *compact = s_token (JWS_ALG_ES256, "ES256");
    jws_parts_t *parts = jws_parse (compact);
    assert_non_null (parts);
    assert_string_equal (json_string_value (json_object_get (parts->header, "alg")), "ES256");
    assert_string_equal (json_string_value (json_object_get (parts->claims, "sub")), "alice");
    assert_int_equal (parts->siglen, 64);
    assert_int_equal (strncmp (compact, parts->signing_input, strlen (parts->signing_input)), 0);
    assert_int_equal (compact[strlen (parts->signing_input)], '.');
    jws_parts_destroy (&parts);
    assert_null (parts);
    jws_parts_destroy (&parts);
    free (compact);
}

static void
test_jws_parse_rejects_four_parts (void **state)
{
    (void)state;
    char *compact = s_token (JWS_ALG_EDDSA, "EdDSA");
    size_t n = strlen (compact);
    char *four = malloc (n + 6);
    assert_non_null (four);
    snprintf (four, n + 6, "%s.AAAA", compact);
    assert_null (jws_parse (four));
    snprintf (four, n + 6, "%s.", compact);
    assert_null (jws_parse (four));
    free (four);
    free (compact);
}

static void
test_jws_parse_rejects_fewer_parts_and_empty_parts (void **state)
{
    (void)state;
    char *h = s_b64 ("{\"alg\":\"ES256\"}");
    char *p = s_b64 ("{\"sub\":\"a\"}");
    char buf[256];
    const char *shapes[] = {"%s", "%s.%s", "%s.%s.", ".%s.AAAA", "%s..AAAA", "..", ""};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        snprintf (buf, sizeof buf, shapes[i], h, p);
        assert_null (jws_parse (buf));
    }
    assert_null (jws_parse (NULL));
    free (h);
    free (p);
}

static void
test_jws_parse_rejects_more_than_max_length (void **state)
{
    (void)state;
    //  A payload just large enough to push the whole over JWS_MAX_COMPACT.
    size_t fill = JWS_MAX_COMPACT / 4 * 3;
    char *payload = malloc (fill + 32);
    assert_non_null (payload);
    snprintf (payload, fill + 32, "{\"x\":\"%*s\"}", (int)fill - 10, "");
    char *big = s_raw_token ("{\"alg\":\"EdDSA\"}", payload, "AAAA");
    assert_true (strlen (big) > JWS_MAX_COMPACT);
    assert_null (jws_parse (big));
    free (big);

    //  A well-formed token under the limit parses.
    payload[fill / 2] = '\0';
    strcat (payload, "\"}");
    char *ok = s_raw_token ("{\"alg\":\"EdDSA\"}", payload, "AAAA");
    assert_true (strlen (ok) <= JWS_MAX_COMPACT);
    jws_parts_t *parts = jws_parse (ok);
    assert_non_null (parts);
    jws_parts_destroy (&parts);
    free (ok);
    free (payload);
}

static void
test_jws_parse_requires_json_objects (void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"[\"alg\"]", "{}"},
        {"{\"alg\":\"ES256\"}", "\"a string\""},
        {"{\"alg\":\"ES256\"}", "Example of Ed25519 signing"},
        {"{\"alg\":\"ES256\"", "{}"},
        {"{\"alg\":\"ES256\"} trailing", "{}"},
        //  RFC 7515 §5.2: duplicate member names are refused.
        {"{\"alg\":\"ES256\",\"alg\":\"none\"}", "{}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *token = s_raw_token (bad[i][0], bad[i][1], "AAAA");
        assert_null (jws_parse (token));
        free (token);
    }
}

static void
test_jws_parse_rejects_bad_base64url (void **state)
{
    (void)state;
    char *good = s_token (JWS_ALG_EDDSA, "EdDSA");
    char *bad = malloc (strlen (good) + 3);
    assert_non_null (bad);
    //  Padding on the signature, then a character outside the alphabet.
    sprintf (bad, "%s==", good);
    assert_null (jws_parse (bad));
    strcpy (bad, good);
    bad[3] = '+';
    assert_null (jws_parse (bad));
    free (bad);
    free (good);
}

//  --- ECDSA signature forms -----------------------------------------------------

static void
test_jws_ecdsa_der_raw_roundtrip_left_pads (void **state)
{
    (void)state;
    //  r has two leading zero bytes: DER drops them, JWS keeps 32 bytes.
    unsigned char raw[64];
    memset (raw, 0, sizeof raw);
    raw[2] = 0x01;
    raw[31] = 0x42;
    memset (raw + 32, 0x7f, 32);
    unsigned char *der = NULL;
    size_t derlen = 0;
    assert_int_equal (jws_ecdsa_raw_to_der (raw, sizeof raw, &der, &derlen), 0);
    assert_non_null (der);
    assert_int_equal (der[0], 0x30);
    unsigned char back[64];
    assert_int_equal (jws_ecdsa_der_to_raw (der, derlen, back, 32), 0);
    assert_memory_equal (back, raw, sizeof raw);

    //  Too small a size for the integers, trailing bytes, garbage.
    assert_int_equal (jws_ecdsa_der_to_raw (der, derlen, back, 16), -1);
    unsigned char longer[128];
    memcpy (longer, der, derlen);
    longer[derlen] = 0;
    assert_int_equal (jws_ecdsa_der_to_raw (longer, derlen + 1, back, 32), -1);
    assert_int_equal (jws_ecdsa_der_to_raw ((const unsigned char *)"\x30\x02\x01", 3, back, 32), -1);
    assert_int_equal (jws_ecdsa_der_to_raw (der, 0, back, 32), -1);
    OPENSSL_free (der);

    assert_int_equal (jws_ecdsa_raw_to_der (raw, 63, &der, &derlen), -1);
    assert_int_equal (jws_ecdsa_raw_to_der (raw, 0, &der, &derlen), -1);
}

static void
test_jws_es256_signature_is_64_raw_bytes (void **state)
{
    (void)state;
    //  Many signatures, so that some r or s has a leading zero byte and the
    //  padding path runs with real OpenSSL output.
    for (int i = 0; i < 64; i++) {
        char *token = s_token (JWS_ALG_ES256, "ES256");
        jws_parts_t *parts = jws_parse (token);
        assert_non_null (parts);
        assert_int_equal (parts->siglen, 64);
        assert_int_equal (jws_verify (parts, JWS_ALG_ES256, s_ec), 1);
        jws_parts_destroy (&parts);
        free (token);
    }
}

//  --- verification ----------------------------------------------------------------

static void
s_roundtrip (jws_alg_t alg)
{
    char *token = s_token (alg, jws_alg_name (alg));
    jws_parts_t *parts = jws_parse (token);
    assert_non_null (parts);
    assert_int_equal (jws_verify (parts, alg, s_key (alg)), 1);

    //  A changed payload byte or signature byte fails.
    parts->signing_input[strlen (parts->signing_input) - 1] ^= 1;
    assert_int_equal (jws_verify (parts, alg, s_key (alg)), 0);
    parts->signing_input[strlen (parts->signing_input) - 1] ^= 1;
    parts->sig[parts->siglen / 2] ^= 0x80;
    assert_int_equal (jws_verify (parts, alg, s_key (alg)), 0);
    parts->sig[parts->siglen / 2] ^= 0x80;
    assert_int_equal (jws_verify (parts, alg, s_key (alg)), 1);

    //  Another key of the same type fails.
    EVP_PKEY *other = alg == JWS_ALG_RS256   ? EVP_RSA_gen (2048)
                      : alg == JWS_ALG_ES256 ? EVP_EC_gen ("P-256")
                                             : EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
    assert_non_null (other);
    assert_int_equal (jws_verify (parts, alg, other), 0);
    EVP_PKEY_free (other);
    jws_parts_destroy (&parts);
    free (token);
}

static void
test_jws_rs256_roundtrip_verifies (void **state)
{
    (void)state;
    s_roundtrip (JWS_ALG_RS256);
}

static void
test_jws_es256_roundtrip_verifies (void **state)
{
    (void)state;
    s_roundtrip (JWS_ALG_ES256);
}

static void
test_jws_eddsa_roundtrip_verifies (void **state)
{
    (void)state;
    s_roundtrip (JWS_ALG_EDDSA);
}

static void
test_jws_rejects_alg_mismatch (void **state)
{
    (void)state;
    //  The header says RS256 but the verifier expects ES256, and the other
    //  way round: the verifier's alg decides (RFC 8725 §3.1).
    char *rs = s_token (JWS_ALG_RS256, "RS256");
    jws_parts_t *parts = jws_parse (rs);
    assert_non_null (parts);
    assert_int_equal (jws_verify (parts, JWS_ALG_ES256, s_ec), 0);
    assert_int_equal (jws_verify (parts, JWS_ALG_EDDSA, s_ed), 0);
    assert_int_equal (jws_verify (parts, JWS_ALG_NONE, s_rsa), 0);
    jws_parts_destroy (&parts);
    free (rs);

    //  Signed correctly by the EC key, but the header names another alg.
    const char *liars[] = {"RS256", "none", "es256", "HS256"};
    for (size_t i = 0; i < sizeof liars / sizeof liars[0]; i++) {
        char *token = s_token (JWS_ALG_ES256, liars[i]);
        parts = jws_parse (token);
        assert_non_null (parts);
        assert_int_equal (jws_verify (parts, JWS_ALG_ES256, s_ec), 0);
        jws_parts_destroy (&parts);
        free (token);
    }
}

static void
test_jws_rejects_missing_or_non_string_alg (void **state)
{
    (void)state;
    char *token = s_token (JWS_ALG_EDDSA, "EdDSA");
    jws_parts_t *parts = jws_parse (token);
    assert_non_null (parts);
    json_object_del (parts->header, "alg");
    assert_int_equal (jws_verify (parts, JWS_ALG_EDDSA, s_ed), 0);
    json_object_set_new (parts->header, "alg", json_integer (1));
    assert_int_equal (jws_verify (parts, JWS_ALG_EDDSA, s_ed), 0);
    json_object_set_new (parts->header, "alg", json_string ("EdDSA"));
    assert_int_equal (jws_verify (parts, JWS_ALG_EDDSA, s_ed), 1);
    assert_int_equal (jws_verify (NULL, JWS_ALG_EDDSA, s_ed), 0);
    assert_int_equal (jws_verify (parts, JWS_ALG_EDDSA, NULL), 0);
    jws_parts_destroy (&parts);
    free (token);
}

static void
test_jws_rejects_key_of_wrong_type_or_size (void **state)
{
    (void)state;
    char *token = s_token (JWS_ALG_RS256, "RS256");
    jws_parts_t *parts = jws_parse (token);
    assert_non_null (parts);
    assert_int_equal (jws_verify (parts, JWS_ALG_RS256, s_ec), 0);
    assert_int_equal (jws_verify (parts, JWS_ALG_RS256, s_ed), 0);
    jws_parts_destroy (&parts);
    free (token);

    //  RFC 7518 §3.3: RSA keys under 2048 bits MUST NOT be used. Sign with a
    //  1024-bit key directly and check the verifier refuses it.
    EVP_PKEY *small = EVP_RSA_gen (1024);
    assert_non_null (small);
    char *input = s_raw_token ("{\"alg\":\"RS256\"}", "{\"sub\":\"a\"}", "");
    input[strlen (input) - 1] = '\0'; //  drop the final '.'
    size_t siglen;
    unsigned char *sig = s_sign (small, JWS_ALG_RS256, input, &siglen);
    char *compact = jws_compact (input, sig, siglen);
    parts = jws_parse (compact);
    assert_non_null (parts);
    assert_int_equal (jws_verify (parts, JWS_ALG_RS256, small), 0);
    jws_parts_destroy (&parts);
    free (compact);
    free (sig);
    free (input);
    EVP_PKEY_free (small);
}

static void
test_jws_rejects_crit_header (void **state)
{
    (void)state;
    json_t *header = json_loads ("{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"exp\":1}", 0, NULL);
    json_t *claims = json_loads ("{\"sub\":\"a\"}", 0, NULL);
    char *input = jws_signing_input (header, claims);
    size_t siglen;
    unsigned char *sig = s_sign (s_ed, JWS_ALG_EDDSA, input, &siglen);
    char *compact = jws_compact (input, sig, siglen);
    jws_parts_t *parts = jws_parse (compact);
    assert_non_null (parts);
    //  RFC 7515 §4.1.11: an extension we do not understand is fatal.
    assert_int_equal (jws_verify (parts, JWS_ALG_EDDSA, s_ed), 0);
    jws_parts_destroy (&parts);
    free (compact);
    free (sig);
    free (input);
    json_decref (header);
    json_decref (claims);
}

//  --- the RFCs' own examples ---------------------------------------------------

//  RFC 7515 Appendix A.2 (RS256) and A.3 (ES256): payload
//  {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}
#define RFC7515_PAYLOAD                                                                                      \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

static void
s_verify_vector (const char *jwk_text, const char *compact, jws_alg_t alg)
{
    json_t *jwk = json_loads (jwk_text, 0, NULL);
    assert_non_null (jwk);
    EVP_PKEY *pkey = jws_jwk_to_pkey (jwk);
    assert_non_null (pkey);
    jws_parts_t *parts = jws_parse (compact);
    assert_non_null (parts);
    assert_int_equal (jws_verify (parts, alg, pkey), 1);
    assert_string_equal (json_string_value (json_object_get (parts->claims, "iss")), "joe");
    parts->sig[0] ^= 1;
    assert_int_equal (jws_verify (parts, alg, pkey), 0);
    jws_parts_destroy (&parts);
    EVP_PKEY_free (pkey);
    json_decref (jwk);
}

static void
test_jws_rfc7515_a2_rs256_example_verifies (void **state)
{
    (void)state;
    s_verify_vector (
        "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_"
        "wWJcyQoTbji9k0l8W26mPddxHmfHQp-"
        "Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-"
        "bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_"
        "I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\"}",
        "eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD
        ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_"
        "O8W2Fp5jujGbds9uJdbF9"
        "CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_"
        "eSN9383Lc"
        "OLn6_dO--xi12jzDwusC-"
        "eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywl"
        "VmtVrBp0igcN_IoypGlUPQGe77Rw",
        JWS_ALG_RS256);
}

static void
test_jws_rfc7515_a3_es256_example_verifies (void **state)
{
    (void)state;
    s_verify_vector (
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
        "eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD
        ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
        JWS_ALG_ES256);
}

static void
test_jws_rfc8037_a4_eddsa_example_verifies (void **state)
{
    (void)state;
    //  RFC 8037 A.4 signs a sentence, not a JSON object, so jws_parse (which
    //  only takes JWTs) refuses it; the parts are assembled by hand instead.
    const char *input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    const char *sig =
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    char compact[256];
    snprintf (compact, sizeof compact, "%s.%s", input, sig);
    assert_null (jws_parse (compact));

    json_t *jwk = json_loads (
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}", 0,
        NULL);
    EVP_PKEY *pkey = jws_jwk_to_pkey (jwk);
    assert_non_null (pkey);
    unsigned char raw[64];
    jws_parts_t parts = {0};
    parts.header = json_loads ("{\"alg\":\"EdDSA\"}", 0, NULL);
    parts.signing_input = (char *)input;
    parts.sig = raw;
    parts.siglen = (size_t)b64url_decode (sig, strlen (sig), raw, sizeof raw);
    assert_int_equal (parts.siglen, 64);
    assert_int_equal (jws_verify (&parts, JWS_ALG_EDDSA, pkey), 1);
    raw[63] ^= 1;
    assert_int_equal (jws_verify (&parts, JWS_ALG_EDDSA, pkey), 0);
    json_decref (parts.header);
    EVP_PKEY_free (pkey);
    json_decref (jwk);
}

//  --- JWKs ------------------------------------------------------------------------

static size_t
s_b64_member_len (const json_t *jwk, const char *name)
{
    const char *text = json_string_value (json_object_get (jwk, name));
    assert_non_null (text);
    unsigned char buf[1024];
    long n = b64url_decode (text, strlen (text), buf, sizeof buf);
    assert_true (n > 0);
    return (size_t)n;
}

static void
s_assert_no_private_members (const json_t *jwk)
{
    const char *private[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
    for (size_t i = 0; i < sizeof private / sizeof private[0]; i++)
        assert_null (json_object_get (jwk, private[i]));
}

static void
test_jws_public_jwk_rsa_has_n_e_kid_alg_use (void **state)
{
    (void)state;
    json_t *jwk = jws_public_jwk (s_rsa, JWS_ALG_RS256, "rsa-1");
    assert_non_null (jwk);
    assert_string_equal (json_string_value (json_object_get (jwk, "kty")), "RSA");
    assert_string_equal (json_string_value (json_object_get (jwk, "kid")), "rsa-1");
    assert_string_equal (json_string_value (json_object_get (jwk, "alg")), "RS256");
    assert_string_equal (json_string_value (json_object_get (jwk, "use")), "sig");
    assert_string_equal (json_string_value (json_object_get (jwk, "e")), "AQAB");
    assert_int_equal (s_b64_member_len (jwk, "n"), 256);
    s_assert_no_private_members (jwk);
    json_decref (jwk);
}

static void
test_jws_public_jwk_ec_has_fixed_width_coordinates (void **state)
{
    (void)state;
    //  Find a key whose x or y is below 2^248, so that a minimal encoding
    //  would be 31 bytes; RFC 7518 §6.2.1.2 wants the full 32.
    EVP_PKEY *key = NULL;
    for (int i = 0; i < 5000 && !key; i++) {
        EVP_PKEY *candidate = EVP_EC_gen ("P-256");
        assert_non_null (candidate);
        BIGNUM *x = NULL, *y = NULL;
        assert_int_equal (EVP_PKEY_get_bn_param (candidate, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
        assert_int_equal (EVP_PKEY_get_bn_param (candidate, OSSL_PKEY_PARAM_EC_PUB_Y, &y), 1);
        if (BN_num_bytes (x) < 32 || BN_num_bytes (y) < 32)
            key = candidate;
        else
            EVP_PKEY_free (candidate);
        BN_free (x);
        BN_free (y);
    }
    assert_non_null (key);
    json_t *jwk = jws_public_jwk (key, JWS_ALG_ES256, "ec-1");
    assert_non_null (jwk);
    assert_string_equal (json_string_value (json_object_get (jwk, "kty")), "EC");
    assert_string_equal (json_string_value (json_object_get (jwk, "crv")), "P-256");
    assert_string_equal (json_string_value (json_object_get (jwk, "alg")), "ES256");
    assert_string_equal (json_string_value (json_object_get (jwk, "use")), "sig");
    assert_int_equal (s_b64_member_len (jwk, "x"), 32);
    assert_int_equal (s_b64_member_len (jwk, "y"), 32);
    s_assert_no_private_members (jwk);
    EVP_PKEY *back = jws_jwk_to_pkey (jwk);
    assert_non_null (back);
    assert_int_equal (EVP_PKEY_eq (key, back), 1);
    EVP_PKEY_free (back);
    json_decref (jwk);
    EVP_PKEY_free (key);
}

static void
test_jws_public_jwk_okp_has_x (void **state)
{
    (void)state;
    json_t *jwk = jws_public_jwk (s_ed, JWS_ALG_EDDSA, "ed-1");
    assert_non_null (jwk);
    assert_string_equal (json_string_value (json_object_get (jwk, "kty")), "OKP");
    assert_string_equal (json_string_value (json_object_get (jwk, "crv")), "Ed25519");
    assert_string_equal (json_string_value (json_object_get (jwk, "alg")), "EdDSA");
    assert_string_equal (json_string_value (json_object_get (jwk, "kid")), "ed-1");
    assert_int_equal (s_b64_member_len (jwk, "x"), 32);
    s_assert_no_private_members (jwk);
    json_decref (jwk);
}

static void
test_jws_public_jwk_refuses_mismatched_alg_or_missing_kid (void **state)
{
    (void)state;
    assert_null (jws_public_jwk (s_rsa, JWS_ALG_ES256, "k"));
    assert_null (jws_public_jwk (s_ec, JWS_ALG_EDDSA, "k"));
    assert_null (jws_public_jwk (s_ed, JWS_ALG_RS256, "k"));
    assert_null (jws_public_jwk (s_ed, JWS_ALG_NONE, "k"));
    assert_null (jws_public_jwk (s_ed, JWS_ALG_EDDSA, NULL));
    assert_null (jws_public_jwk (s_ed, JWS_ALG_EDDSA, ""));
    assert_null (jws_public_jwk (NULL, JWS_ALG_EDDSA, "k"));
    EVP_PKEY *p384 = EVP_EC_gen ("P-384");
    assert_non_null (p384);
    assert_null (jws_public_jwk (p384, JWS_ALG_ES256, "k"));
    EVP_PKEY_free (p384);
}

static void
test_jws_jwk_roundtrip_gives_the_same_public_key (void **state)
{
    (void)state;
    jws_alg_t algs[] = {JWS_ALG_RS256, JWS_ALG_ES256, JWS_ALG_EDDSA};
    for (size_t i = 0; i < 3; i++) {
        json_t *jwk = jws_public_jwk (s_key (algs[i]), algs[i], "k");
        assert_non_null (jwk);
        EVP_PKEY *back = jws_jwk_to_pkey (jwk);
        assert_non_null (back);
        assert_int_equal (EVP_PKEY_eq (s_key (algs[i]), back), 1);
        //  And a token signed by the private key verifies with the copy.
        char *token = s_token (algs[i], jws_alg_name (algs[i]));
        jws_parts_t *parts = jws_parse (token);
        assert_int_equal (jws_verify (parts, algs[i], back), 1);
        jws_parts_destroy (&parts);
        free (token);
        EVP_PKEY_free (back);
        json_decref (jwk);
    }
}

//  Applies one edit to a fresh public JWK of alg and expects a refusal.
static void
s_assert_jwk_refused (jws_alg_t alg, const char *member, json_t *value)
{
    json_t *jwk = jws_public_jwk (s_key (alg), alg, "k");
    assert_non_null (jwk);
    if (value)
        json_object_set_new (jwk, member, value);
    else
        json_object_del (jwk, member);
    EVP_PKEY *pkey = jws_jwk_to_pkey (jwk);
    if (pkey)
        fail_msg ("a JWK with %s edited was accepted", member);
    json_decref (jwk);
}

static void
test_jws_jwk_to_pkey_refuses_malformed_keys (void **state)
{
    (void)state;
    //  Private members, another use, an alg of another key type.
    s_assert_jwk_refused (JWS_ALG_EDDSA, "d", json_string ("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"));
    s_assert_jwk_refused (JWS_ALG_RS256, "use", json_string ("enc"));
    s_assert_jwk_refused (JWS_ALG_RS256, "alg", json_string ("ES256"));
    //  Missing or unknown type and curve.
    s_assert_jwk_refused (JWS_ALG_RS256, "kty", NULL);
    s_assert_jwk_refused (JWS_ALG_RS256, "kty", json_string ("oct"));
    s_assert_jwk_refused (JWS_ALG_ES256, "crv", json_string ("P-384"));
    s_assert_jwk_refused (JWS_ALG_EDDSA, "crv", json_string ("X25519"));
    //  Coordinates that are short, padded, or not base64url.
    s_assert_jwk_refused (JWS_ALG_ES256, "x", json_string ("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVA"));
    s_assert_jwk_refused (JWS_ALG_ES256, "y", json_string ("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0="));
    s_assert_jwk_refused (JWS_ALG_EDDSA, "x", json_string ("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR"));
    s_assert_jwk_refused (JWS_ALG_EDDSA, "x", json_integer (5));
    //  RFC 7518 §6.3.1.1: no leading zero octet in n.
    s_assert_jwk_refused (JWS_ALG_RS256, "e", json_string ("AAEAAQ"));
    s_assert_jwk_refused (JWS_ALG_RS256, "n", NULL);
    assert_null (jws_jwk_to_pkey (NULL));
    json_t *array = json_array ();
    assert_null (jws_jwk_to_pkey (array));
    json_decref (array);
}

static void
test_jws_jwk_to_pkey_refuses_point_off_the_curve (void **state)
{
    (void)state;
    //  RFC 7515 A.3's key with y changed by one: not on P-256.
    json_t *jwk =
        json_loads ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4\"}",
                    0, NULL);
    assert_non_null (jwk);
    assert_null (jws_jwk_to_pkey (jwk));
    json_decref (jwk);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_jws_alg_parse_and_name),
        cmocka_unit_test (test_jws_signing_input_is_compact_json_with_sorted_keys),
        cmocka_unit_test (test_jws_compact_appends_base64url_signature),
        cmocka_unit_test (test_jws_parse_splits_and_decodes),
        cmocka_unit_test (test_jws_parse_rejects_four_parts),
        cmocka_unit_test (test_jws_parse_rejects_fewer_parts_and_empty_parts),
        cmocka_unit_test (test_jws_parse_rejects_more_than_max_length),
        cmocka_unit_test (test_jws_parse_requires_json_objects),
        cmocka_unit_test (test_jws_parse_rejects_bad_base64url),
        cmocka_unit_test (test_jws_ecdsa_der_raw_roundtrip_left_pads),
        cmocka_unit_test (test_jws_es256_signature_is_64_raw_bytes),
        cmocka_unit_test (test_jws_rs256_roundtrip_verifies),
        cmocka_unit_test (test_jws_es256_roundtrip_verifies),
        cmocka_unit_test (test_jws_eddsa_roundtrip_verifies),
        cmocka_unit_test (test_jws_rejects_alg_mismatch),
        cmocka_unit_test (test_jws_rejects_missing_or_non_string_alg),
        cmocka_unit_test (test_jws_rejects_key_of_wrong_type_or_size),
        cmocka_unit_test (test_jws_rejects_crit_header),
        cmocka_unit_test (test_jws_rfc7515_a2_rs256_example_verifies),
        cmocka_unit_test (test_jws_rfc7515_a3_es256_example_verifies),
        cmocka_unit_test (test_jws_rfc8037_a4_eddsa_example_verifies),
        cmocka_unit_test (test_jws_public_jwk_rsa_has_n_e_kid_alg_use),
        cmocka_unit_test (test_jws_public_jwk_ec_has_fixed_width_coordinates),
        cmocka_unit_test (test_jws_public_jwk_okp_has_x),
        cmocka_unit_test (test_jws_public_jwk_refuses_mismatched_alg_or_missing_kid),
        cmocka_unit_test (test_jws_jwk_roundtrip_gives_the_same_public_key),
        cmocka_unit_test (test_jws_jwk_to_pkey_refuses_malformed_keys),
        cmocka_unit_test (test_jws_jwk_to_pkey_refuses_point_off_the_curve),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
