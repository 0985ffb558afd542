-- token-svc: what a client registered for logout. OpenID Connect
-- RP-Initiated Logout 1.0 §3.1: the post_logout_redirect_uris, compared
-- exactly; OpenID Connect Back-Channel Logout 1.0 §2.2: the URI that
-- receives logout tokens and whether it needs their sid.
-- Every SQL statement that touches this table is in token-svc/token_store.c.

ALTER TABLE clients
    ADD COLUMN post_logout_redirect_uris jsonb NOT NULL DEFAULT '[]'::jsonb
        CHECK (jsonb_typeof(post_logout_redirect_uris) = 'array'),
    ADD COLUMN backchannel_logout_uri text,
    ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false;
