-- token-svc: the claims request parameter (OpenID Connect Core §5.5) and the
-- acr of the authentication (§2). claims holds the request's claims as
-- token-svc normalised them: {"userinfo": [names], "id_token": [names]}
-- (NULL when the request had none); it follows the request into its code and
-- the code's refresh family, so that every ID token and access token the
-- grant yields releases the same claims. acr is decided when the code is
-- issued (token.issue_code) and kept by the family for the ID tokens of
-- refreshes. Every SQL statement that touches these tables is in
-- token-svc/token_store.c.
ALTER TABLE authz_requests ADD COLUMN claims jsonb;
ALTER TABLE codes ADD COLUMN claims jsonb, ADD COLUMN acr text;
ALTER TABLE refresh_families ADD COLUMN claims jsonb, ADD COLUMN acr text;
