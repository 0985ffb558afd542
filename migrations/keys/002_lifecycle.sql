-- keys-svc: the key lifecycle. See docs/keys.md.
--
-- next (published, not signing) -> active (signing) -> retiring (published,
-- no longer signing) -> retired (gone from the JWKS, private part destroyed).
-- keys-svc moves a key with one guarded UPDATE ... WHERE state = <expected>,
-- whose row count decides, under a transaction-scoped advisory lock, so that
-- several replicas never rotate twice.

-- When a next key may start to sign: set when it is created, from the
-- creating replica's publish delay, so every replica promotes it alike.
ALTER TABLE keys.signing_keys ADD COLUMN activate_after timestamptz;
-- When the key stopped signing (active -> retiring or retired).
ALTER TABLE keys.signing_keys ADD COLUMN deactivated_at timestamptz;
-- When the key left the JWKS and its private part was destroyed.
ALTER TABLE keys.signing_keys ADD COLUMN retired_at timestamptz;

-- A retired key keeps its public JWK (for the audit trail) but not its
-- private part: the transition to retired sets private_enc to NULL in the
-- same UPDATE. The check makes "retired" and "destroyed" the same thing.
ALTER TABLE keys.signing_keys ALTER COLUMN private_enc DROP NOT NULL;
ALTER TABLE keys.signing_keys ADD CONSTRAINT signing_keys_retired_destroyed
    CHECK ((state = 'retired') = (private_enc IS NULL));
ALTER TABLE keys.signing_keys ADD CONSTRAINT signing_keys_next_has_activate_after
    CHECK (state <> 'next' OR activate_after IS NOT NULL);
ALTER TABLE keys.signing_keys ADD CONSTRAINT signing_keys_retiring_has_retire_after
    CHECK (state <> 'retiring' OR retire_after IS NOT NULL);

-- At most one pending key per algorithm: two replicas asked to rotate at the
-- same moment cannot both create one (the advisory lock already orders
-- them; this index is the last line of defence).
CREATE UNIQUE INDEX signing_keys_one_next_per_alg ON keys.signing_keys (alg) WHERE state = 'next';

-- The keyring generation: bumped by every statement that changes
-- signing_keys, in the same transaction. Every keys-svc replica polls it
-- and reloads its keyring when it moves, so a rotation made by one replica
-- reaches all of them within one poll interval.
CREATE TABLE keys.generation (
    id smallint PRIMARY KEY CHECK (id = 1),
    n  bigint   NOT NULL
);
INSERT INTO keys.generation (id, n) VALUES (1, 1);

CREATE FUNCTION keys.bump_generation() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    UPDATE keys.generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER signing_keys_generation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON keys.signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keys.bump_generation();

-- Every command of the admin socket, whatever its outcome. Arguments never
-- hold secrets (a new key-encryption key is recorded as "(given)").
CREATE TABLE keys.audit (
    id      bigserial   PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    -- host:pid of the keys-svc replica that ran the command
    replica text        NOT NULL,
    -- "local" for the ipc:// socket, else the client's CURVE public key (Z85)
    peer    text        NOT NULL,
    command text        NOT NULL,
    args    jsonb       NOT NULL DEFAULT '{}',
    outcome text        NOT NULL CHECK (outcome IN ('ok', 'error')),
    -- the error code of proto/errors.def when outcome = 'error'
    code    text,
    detail  text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON keys.audit (at);
