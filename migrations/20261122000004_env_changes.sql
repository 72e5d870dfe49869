-- When a server's environment variables last changed, so the dashboard can say that the live
-- deployment runs with older values until the next deployment.
ALTER TABLE servers ADD COLUMN env_changed_at timestamptz;
