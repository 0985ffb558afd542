-- flow-svc: end users. Applied inside schema flow, owned by the flow role.

-- One row per end user. The subject identifier is random and never derived
-- from the username (OpenID Connect Core §2: sub is "locally unique and never
-- reassigned"; a rename must not change it). Claims follow the names of
-- OpenID Connect Core §5.1; NULL means "not set", and such a claim is left out
-- of what user_claims returns (§5.3.2).
CREATE TABLE flow.users (
    sub                   text        PRIMARY KEY CHECK (sub ~ '^[A-Za-z0-9_-]{22,64}$'),
    -- Usernames are case-insensitive: stored folded to lowercase ASCII, so
    -- "Alice" and "alice" are one account and the unique index is the check.
    username              text        NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._@+-]{0,63}$'),
    email                 text        CHECK (octet_length(email) <= 254),
    email_verified        boolean     NOT NULL DEFAULT false,
    name                  text,
    given_name            text,
    family_name           text,
    middle_name           text,
    nickname              text,
    profile               text,
    picture               text,
    website               text,
    gender                text,
    birthdate             text,
    zoneinfo              text,
    locale                text,
    phone_number          text,
    phone_number_verified boolean     NOT NULL DEFAULT false,
    -- OpenID Connect Core §5.1.1: formatted, street_address, locality, region,
    -- postal_code, country (strings); flow-svc checks the members.
    address               jsonb       CHECK (address IS NULL OR jsonb_typeof(address) = 'object'),
    -- Argon2id in the PHC encoded form ($argon2id$v=19$m=..,t=..,p=..$salt$hash):
    -- the parameters travel with each hash, so they can change later. NULL: the
    -- user has no password and cannot log in with one.
    password_hash         text        CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    password_changed_at   timestamptz,
    disabled              boolean     NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    -- The updated_at claim (§5.1): the last change of the user's claims. A new
    -- password or the disabled flag do not change it.
    updated_at            timestamptz NOT NULL DEFAULT now()
);
