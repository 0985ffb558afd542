-- flow-svc: the admin role. A user who holds it may be issued the admin scope
-- by the designated admin client (OSTIARY_ADMIN_CLIENT_ID), and token-svc asks
-- again (flow.user_roles) whenever such a token is used, so revoking the role
-- takes effect at once.
ALTER TABLE users ADD COLUMN admin boolean NOT NULL DEFAULT false;
