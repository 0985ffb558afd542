-- token-svc: OpenID Connect Front-Channel Logout 1.0 §2: the URI a client
-- registers for the OP to render in an iframe when a session it took part
-- in ends, and whether it needs iss and sid as query parameters there.
-- Every SQL statement that touches this table is in token-svc/token_store.c.
ALTER TABLE clients
    ADD COLUMN frontchannel_logout_uri text,
    ADD COLUMN frontchannel_logout_session_required boolean NOT NULL DEFAULT false;
