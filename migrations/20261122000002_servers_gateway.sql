-- Servers, their deployments and tools, group restrictions, personal access tokens, tool-call
-- activity, and the change feed that keeps every replica's gateway cache fresh.

-- Server states (SPEC S2). Deleted servers stay as rows so their history reads "deprecated".
CREATE TYPE server_status AS ENUM ('active', 'disabled', 'deleted');
-- How a server gets upstream credentials (SPEC S8); fixed after creation.
CREATE TYPE server_auth_method AS ENUM ('none', 'credentials', 'oauth');

CREATE TABLE servers (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The URL name: /mcp/{slug}. Unique among servers that are not deleted.
    slug                text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    description         text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    status              server_status NOT NULL DEFAULT 'active',
    -- Where the server comes from, as the Rust `ServerSource` enum serialises it:
    -- {"kind":"remote","url":..,"transport":"streamable_http"|"sse"}
    -- {"kind":"command","command":..,"args":[..],"transport":"stdio"|"http"}
    source              jsonb NOT NULL,
    auth_method         server_auth_method NOT NULL DEFAULT 'none',
    -- Credential fields or OAuth provider settings; never secrets (those are env vars).
    auth_config         jsonb NOT NULL DEFAULT '{}',
    call_timeout_ms     integer NOT NULL DEFAULT 60000 CHECK (call_timeout_ms BETWEEN 100 AND 3600000),
    live_deployment_id  uuid,
    created_by          uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz
);
CREATE UNIQUE INDEX servers_slug_key ON servers (slug) WHERE status <> 'deleted';
CREATE INDEX servers_created_by_idx ON servers (created_by);

-- Environment variables, encrypted at rest (XChaCha20-Poly1305; nonce || ciphertext).
-- Changes take effect at the next deployment, which snapshots them.
CREATE TABLE server_env_vars (
    server_id   uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[A-Z_][A-Z0-9_]*$' AND length(name) <= 128),
    value       bytea NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, name)
);

-- Every change to a server's source or environment is a deployment (SPEC S4). The live one is
-- what the gateway serves; `env` is the encrypted snapshot of the variables it runs with.
CREATE TYPE deployment_status AS ENUM ('pending', 'building', 'deploying', 'live', 'failed', 'superseded');
CREATE TABLE deployments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    server_id       uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    number          integer NOT NULL,
    status          deployment_status NOT NULL,
    source          jsonb NOT NULL,
    env             bytea,
    summary         text NOT NULL,
    commit_sha      text,
    commit_message  text,
    author          text,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    error           text,
    UNIQUE (server_id, number)
);
ALTER TABLE servers ADD CONSTRAINT servers_live_deployment_fkey
    FOREIGN KEY (live_deployment_id) REFERENCES deployments (id) ON DELETE SET NULL;

-- The tools the live deployment exposed when last asked (SPEC S3 Tools tab).
CREATE TABLE server_tools (
    server_id      uuid PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    deployment_id  uuid REFERENCES deployments (id) ON DELETE SET NULL,
    tools          jsonb NOT NULL DEFAULT '[]',
    error          text,
    fetched_at     timestamptz NOT NULL DEFAULT now()
);

-- Tools a permission group may not call (SPEC S9). A restriction on a tool the server no
-- longer lists is kept (and shown as stale), never silently dropped.
CREATE TABLE tool_restrictions (
    group_id    uuid NOT NULL REFERENCES permission_groups (id) ON DELETE CASCADE,
    server_id   uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    tool_name   text NOT NULL CHECK (length(tool_name) BETWEEN 1 AND 256),
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, server_id, tool_name)
);
CREATE INDEX tool_restrictions_server_idx ON tool_restrictions (server_id);

-- Bearer tokens minted in the dashboard for clients that cannot do OAuth (SPEC S7, S10).
-- Only a SHA-256 of the token is stored; `prefix` is what the dashboard shows.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    token_hash    bytea NOT NULL UNIQUE,
    prefix        text NOT NULL,
    -- NULL: every server the person may use.
    server_ids    uuid[],
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- One row per tools/call through the gateway, denied ones included (SPEC S5, S6).
CREATE TYPE call_status AS ENUM ('in_progress', 'success', 'error', 'permission_denied', 'timeout');
CREATE TABLE tool_calls (
    id                uuid PRIMARY KEY,
    server_id         uuid NOT NULL REFERENCES servers (id),
    deployment_id     uuid REFERENCES deployments (id) ON DELETE SET NULL,
    user_id           uuid REFERENCES users (id) ON DELETE SET NULL,
    client_name       text,
    client_version    text,
    tool_name         text NOT NULL,
    input             jsonb,
    output            jsonb,
    output_truncated  boolean NOT NULL DEFAULT false,
    status            call_status NOT NULL,
    error             text,
    latency_ms        integer,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz
);
CREATE INDEX tool_calls_started_at_idx ON tool_calls (started_at DESC);
CREATE INDEX tool_calls_server_idx ON tool_calls (server_id, started_at DESC);
CREATE INDEX tool_calls_user_idx ON tool_calls (user_id, started_at DESC);

-- The change feed: every write to something the gateway caches notifies `gatehouse_changes`
-- with "table:key" when its transaction commits, so each replica drops exactly what changed.
CREATE FUNCTION gatehouse_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        key := to_jsonb(OLD) ->> TG_ARGV[0];
    ELSE
        key := to_jsonb(NEW) ->> TG_ARGV[0];
    END IF;
    PERFORM pg_notify('gatehouse_changes', TG_TABLE_NAME || ':' || coalesce(key, ''));
    RETURN NULL;
END;
$$;

CREATE TRIGGER servers_changed AFTER INSERT OR UPDATE OR DELETE ON servers
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change('id');
CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change('id');
-- Not on last_used_at: using a token must not churn every cache.
CREATE TRIGGER api_tokens_changed AFTER UPDATE OF revoked_at, expires_at, server_ids, user_id OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change('id');
CREATE TRIGGER tool_restrictions_changed AFTER INSERT OR UPDATE OR DELETE ON tool_restrictions
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change('server_id');
CREATE TRIGGER deployments_changed AFTER UPDATE ON deployments
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change('server_id');
