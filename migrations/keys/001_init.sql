-- keys-svc: signing keys and the key-encryption key check.
-- Applied by the migration runner inside schema keys, owned by the keys role.

-- One row per signing key. The lifecycle (ARCHITECTURE.md, "Keys"):
-- next (published, not signing) -> active (signing) -> retiring (published,
-- no longer signing) -> retired.
CREATE TABLE keys.signing_keys (
    -- RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
    kid          text        PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{1,63}$'),
    alg          text        NOT NULL CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    state        text        NOT NULL CHECK (state IN ('next', 'active', 'retiring', 'retired')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    -- When a retiring key may become retired (every token it signed expired).
    retire_after timestamptz,
    -- Public members only (kty, n/e or crv/x/y, kid, alg, use); for operators.
    public_jwk   jsonb       NOT NULL,
    -- PKCS#8 DER under AES-256-GCM with the KEK: 12-byte nonce || ciphertext
    -- || 16-byte tag; AAD "ostiary-key:" || kid || ":" || alg.
    private_enc  bytea       NOT NULL CHECK (octet_length(private_enc) > 28),
    CHECK (state <> 'active' OR activated_at IS NOT NULL)
);

-- At most one signing key per algorithm: two replicas starting at once
-- cannot both create one, and a rotation must retire the old key in the
-- same transaction as it activates the new one.
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON keys.signing_keys (alg) WHERE state = 'active';
CREATE INDEX signing_keys_state ON keys.signing_keys (state);

-- A known plaintext wrapped under the KEK at first start: a wrong
-- OSTIARY_KEK is detected before any key is decrypted.
CREATE TABLE keys.kek_check (
    id         smallint    PRIMARY KEY CHECK (id = 1),
    check_enc  bytea       NOT NULL CHECK (octet_length(check_enc) > 28),
    created_at timestamptz NOT NULL DEFAULT now()
);
