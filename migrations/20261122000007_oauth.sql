-- The OAuth 2.1 authorization server (SPEC S7): the clients that may ask, what each person
-- allowed each client (a grant: one family of tokens), and the codes and tokens it issued.
-- Codes and tokens are stored only as SHA-256 digests.

CREATE TYPE oauth_client_kind AS ENUM ('metadata_document', 'dynamic', 'manual');

CREATE TABLE oauth_clients (
    -- For a Client ID Metadata Document, the document's HTTPS URL; otherwise generated.
    id                          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 2048),
    kind                        oauth_client_kind NOT NULL,
    name                        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    redirect_uris               text[] NOT NULL CHECK (cardinality(redirect_uris) > 0),
    client_uri                  text,
    logo_uri                    text,
    -- 'none' for public clients (PKCE alone); the others carry a secret.
    token_endpoint_auth_method  text NOT NULL DEFAULT 'none'
        CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
    secret_hash                 bytea,
    -- The registration request or document as received, for the record.
    metadata                    jsonb NOT NULL DEFAULT '{}',
    created_by                  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    -- When a metadata document was last fetched (it is fetched again when stale).
    fetched_at                  timestamptz,
    CHECK ((token_endpoint_auth_method = 'none') = (secret_hash IS NULL))
);

-- An authorization request waiting for the person's answer on the consent page. Its id is the
-- page's unguessable handle; it is answered once.
CREATE TABLE oauth_requests (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id         text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri      text NOT NULL,
    state             text,
    code_challenge    text NOT NULL,
    scope             text NOT NULL,
    resource          text NOT NULL,
    -- NULL: the gateway root, every server the person may use.
    server_id         uuid REFERENCES servers (id) ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    answered_at       timestamptz
);
CREATE INDEX oauth_requests_expires_idx ON oauth_requests (expires_at);

-- What one person allowed one client to reach; every code and token it leads to belongs to it,
-- so revoking the grant revokes the family.
CREATE TABLE oauth_grants (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id       text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope           text NOT NULL,
    resource        text NOT NULL,
    server_id       uuid REFERENCES servers (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    revoked_reason  text
);
CREATE INDEX oauth_grants_user_idx ON oauth_grants (user_id, created_at DESC);
CREATE INDEX oauth_grants_client_idx ON oauth_grants (client_id);

CREATE TABLE oauth_codes (
    code_hash       bytea PRIMARY KEY,
    grant_id        uuid NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    redirect_uri    text NOT NULL,
    code_challenge  text NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX oauth_codes_grant_idx ON oauth_codes (grant_id);

CREATE TYPE oauth_token_kind AS ENUM ('access', 'refresh');
CREATE TABLE oauth_tokens (
    token_hash  bytea PRIMARY KEY,
    grant_id    uuid NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    kind        oauth_token_kind NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- Refresh tokens: when it was exchanged (rotated). A second exchange is a replay.
    used_at     timestamptz
);
CREATE INDEX oauth_tokens_grant_idx ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_expires_idx ON oauth_tokens (expires_at);

-- Revoking a grant (or deleting it, with its client or person) must reach every replica's
-- token cache; the gateway reads these as token changes.
CREATE TRIGGER oauth_grants_changed AFTER UPDATE OF revoked_at OR DELETE ON oauth_grants
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change('id');
