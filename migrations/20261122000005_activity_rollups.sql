-- Activity rollups (SPEC S6). The activity pages answer stat cards, percentiles and volume
-- charts over millions of calls by reading a few thousand pre-aggregated rows instead of every
-- call: a range is split into whole days (activity_daily), whole hours at its edges
-- (activity_hourly) and the minutes before the first and after the last whole hour (raw
-- tool_calls). See docs/PERFORMANCE.md for the measurements behind the choice.
--
-- The recorder adds each finished call to these tables in the same transaction that writes it,
-- exactly once (a call is counted when it is first written finished, or when its running row
-- becomes finished). Running calls are never rolled up; they are few and read from tool_calls.

-- A latency histogram: 192 buckets, exact below 16 ms, then 8 buckets per power of two (at most
-- 6% wide) up to 2^26 ms. `gatehouse_latency_bucket` is the SQL twin of
-- `activity::histogram::bucket` in Rust; a test keeps them in agreement.
CREATE FUNCTION gatehouse_latency_bucket(ms integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN v < 16 THEN v
        ELSE 16 + (e - 4) * 8 + ((v >> (e - 3)) & 7)
    END
    FROM (SELECT v, length(ltrim(v::bit(32)::text, '0')) - 1 AS e
          FROM (SELECT least(greatest(coalesce(ms, 0), 0), (1 << 26) - 1) AS v) clamped) parts
$$;

CREATE TABLE activity_hourly (
    bucket        timestamptz NOT NULL,
    server_id     uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    status        call_status NOT NULL,
    calls         bigint NOT NULL,
    latency_sum   bigint NOT NULL,
    latency_hist  integer[] NOT NULL,
    PRIMARY KEY (bucket, server_id, status)
);
CREATE INDEX activity_hourly_server_idx ON activity_hourly (server_id, bucket);

CREATE TABLE activity_daily (LIKE activity_hourly INCLUDING ALL);
ALTER TABLE activity_daily ADD FOREIGN KEY (server_id) REFERENCES servers (id) ON DELETE CASCADE;

-- Who called, per hour and per day, for "unique users" (a count of distinct people cannot be
-- added up from per-bucket counts). Per server, and across all servers (so the global page
-- merges one row per person per day, not one per person per server). `statuses` has a bit per
-- status the person's calls ended with (gatehouse_status_bit), so a status filter needs no
-- extra rows. A person removed later still counted as a caller then.
CREATE FUNCTION gatehouse_status_bit(status call_status) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status WHEN 'success' THEN 1 WHEN 'error' THEN 2
                       WHEN 'permission_denied' THEN 4 WHEN 'timeout' THEN 8 ELSE 0 END
$$;
CREATE TABLE activity_hourly_users (
    bucket     timestamptz NOT NULL,
    server_id  uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    statuses   integer NOT NULL,
    PRIMARY KEY (bucket, server_id, user_id)
);
CREATE INDEX activity_hourly_users_server_idx ON activity_hourly_users (server_id, bucket);
CREATE TABLE activity_daily_users (LIKE activity_hourly_users INCLUDING ALL);
ALTER TABLE activity_daily_users ADD FOREIGN KEY (server_id) REFERENCES servers (id) ON DELETE CASCADE;
CREATE TABLE activity_hourly_people (
    bucket     timestamptz NOT NULL,
    user_id    uuid NOT NULL,
    statuses   integer NOT NULL,
    PRIMARY KEY (bucket, user_id)
);
CREATE TABLE activity_daily_people (LIKE activity_hourly_people INCLUDING ALL);

-- Indexes for the filters that read raw calls: a tool on a server's tab, a status anywhere, and
-- the few calls still running.
-- Both carry what the stat cards and charts read, so a tool or a person over a month is an
-- index-only scan rather than a heap fetch per call.
CREATE INDEX tool_calls_server_tool_idx ON tool_calls (server_id, tool_name, started_at DESC)
    INCLUDE (status, latency_ms, user_id);
DROP INDEX tool_calls_user_idx;
CREATE INDEX tool_calls_user_idx ON tool_calls (user_id, started_at DESC)
    INCLUDE (server_id, status, latency_ms);
CREATE INDEX tool_calls_status_idx ON tool_calls (status, started_at DESC);
CREATE INDEX tool_calls_running_idx ON tool_calls (started_at) WHERE status = 'in_progress';

-- Rebuilds every rollup from tool_calls: used after bulk loads (the data generator) and to
-- check that incremental maintenance agrees with the raw rows.
CREATE FUNCTION gatehouse_rebuild_activity_rollups() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE activity_hourly, activity_daily, activity_hourly_users, activity_daily_users,
             activity_hourly_people, activity_daily_people;
    INSERT INTO activity_hourly (bucket, server_id, status, calls, latency_sum, latency_hist)
    SELECT bucket, server_id, status, sum(n), sum(total),
           gatehouse_hist_from(b, n)
    FROM (
        SELECT date_trunc('hour', started_at, 'UTC') AS bucket, server_id, status,
               gatehouse_latency_bucket(latency_ms) AS b, count(*) AS n,
               coalesce(sum(latency_ms), 0) AS total
        FROM tool_calls WHERE status <> 'in_progress'
        GROUP BY 1, 2, 3, 4
    ) per_bucket
    GROUP BY bucket, server_id, status;
    INSERT INTO activity_daily (bucket, server_id, status, calls, latency_sum, latency_hist)
    SELECT date_trunc('day', bucket, 'UTC'), server_id, status, sum(calls), sum(latency_sum),
           gatehouse_hist_sum(latency_hist)
    FROM activity_hourly GROUP BY 1, 2, 3;
    INSERT INTO activity_hourly_users (bucket, server_id, user_id, statuses)
    SELECT date_trunc('hour', started_at, 'UTC'), server_id, user_id, bit_or(gatehouse_status_bit(status))
    FROM tool_calls WHERE status <> 'in_progress' AND user_id IS NOT NULL
    GROUP BY 1, 2, 3;
    INSERT INTO activity_daily_users (bucket, server_id, user_id, statuses)
    SELECT date_trunc('day', bucket, 'UTC'), server_id, user_id, bit_or(statuses)
    FROM activity_hourly_users GROUP BY 1, 2, 3;
    INSERT INTO activity_hourly_people (bucket, user_id, statuses)
    SELECT bucket, user_id, bit_or(statuses) FROM activity_hourly_users GROUP BY 1, 2;
    INSERT INTO activity_daily_people (bucket, user_id, statuses)
    SELECT bucket, user_id, bit_or(statuses) FROM activity_daily_users GROUP BY 1, 2;
END;
$$;

-- A histogram from (bucket, count) pairs, and the element-wise sum of histograms: the two
-- aggregates the rebuild needs. The recorder builds its histograms in Rust.
CREATE FUNCTION gatehouse_hist_put(state integer[], b integer, n bigint) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (coalesce(state, array_fill(0, ARRAY[192])))[1:b]
           || ((coalesce(state, array_fill(0, ARRAY[192])))[b + 1] + n::integer)
           || (coalesce(state, array_fill(0, ARRAY[192])))[b + 2:192]
$$;
CREATE AGGREGATE gatehouse_hist_from(integer, bigint) (sfunc = gatehouse_hist_put, stype = integer[]);

CREATE FUNCTION gatehouse_hist_add(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN a IS NULL THEN b
        WHEN b IS NULL THEN a
        ELSE ARRAY(SELECT x + y FROM unnest(a, b) AS t(x, y))
    END
$$;
CREATE AGGREGATE gatehouse_hist_sum(integer[]) (sfunc = gatehouse_hist_add, stype = integer[]);

SELECT gatehouse_rebuild_activity_rollups();
