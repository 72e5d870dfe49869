-- Foundation: people, their groups, sessions and the audit trail.

-- Roles (SPEC S1). Admins and platform admins reach the dashboard; managers and members do not.
CREATE TYPE user_role AS ENUM ('admin', 'platform_admin', 'manager', 'member');

-- Permission groups (SPEC S9). Exactly one group is the default that new users join; the partial
-- unique index makes a second default impossible.
CREATE TABLE permission_groups (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX permission_groups_name_key ON permission_groups (lower(name));
CREATE UNIQUE INDEX permission_groups_one_default ON permission_groups (is_default) WHERE is_default;
INSERT INTO permission_groups (name, is_default) VALUES ('Default', true);

-- People. Every user is in exactly one group (NOT NULL + foreign key). Emails are unique
-- case-insensitively. `password_hash` is an argon2id PHC string, NULL for SSO-only accounts.
CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name           text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 120),
    role           user_role NOT NULL DEFAULT 'member',
    group_id       uuid NOT NULL REFERENCES permission_groups (id),
    password_hash  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_group_id_idx ON users (group_id);

-- Dashboard sessions, in the layout tower-sessions-sqlx-store reads and writes.
CREATE TABLE sessions (
    id           text PRIMARY KEY NOT NULL,
    data         bytea NOT NULL,
    expiry_date  timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_date_idx ON sessions (expiry_date);

-- Sign-in attempts, kept briefly to slow down password guessing across every replica.
CREATE TABLE sign_in_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text NOT NULL,
    client_ip    inet,
    succeeded    boolean NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_attempts_email_idx ON sign_in_attempts (lower(email), attempted_at DESC);
CREATE INDEX sign_in_attempts_ip_idx ON sign_in_attempts (client_ip, attempted_at DESC);

-- Who changed what (SPEC S6 audit log). `actor_id` is NULL for changes made from the CLI.
-- `before`/`after` hold the changed fields; secrets never appear in them.
CREATE TABLE audit_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_label  text NOT NULL,
    kind         text NOT NULL,
    subject      text NOT NULL,
    before       jsonb,
    after        jsonb
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at DESC);
