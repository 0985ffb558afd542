-- token-svc: disabling a client ends what it was issued. token.client_update
-- disabling a client revokes its refresh-token families (revoke_reason
-- client_disabled) and stamps tokens_revoked_at: an access token of the
-- client whose iat is not after it is revoked (introspection inactive,
-- userinfo invalid_token), whether the client is enabled again or not. A
-- client enabled again gets new tokens only through new grants.
-- Every SQL statement that touches this column is in token-svc/token_store.c.
ALTER TABLE clients ADD COLUMN tokens_revoked_at timestamptz;
