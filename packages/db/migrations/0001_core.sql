-- Core schema: flows and their immutable versions, number routing, calls and their results,
-- the instance fleet. Ids follow the protocol's Id pattern so they can travel in XML-RPC.

-- Up Migration

CREATE TABLE flows (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  -- Highest published version; bumped under the row lock so concurrent publishes get distinct numbers.
  latest_version integer NOT NULL DEFAULT 0 CHECK (latest_version >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE flow_versions (
  flow_id text NOT NULL REFERENCES flows (id),
  version integer NOT NULL CHECK (version >= 1),
  definition jsonb NOT NULL,
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (flow_id, version)
);

-- A version is cached forever as id@version, so it must never change once written.
CREATE FUNCTION flow_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'flow versions are immutable (% of %.% refused)', TG_OP, OLD.flow_id, OLD.version
    USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER flow_versions_immutable
  BEFORE UPDATE OR DELETE ON flow_versions
  FOR EACH ROW EXECUTE FUNCTION flow_versions_immutable();

CREATE TABLE numbers (
  number text PRIMARY KEY CHECK (number ~ '^[A-Za-z0-9+*#_.:-]{1,64}$'),
  flow_id text NOT NULL REFERENCES flows (id),
  -- NULL: always the latest version of the flow.
  flow_version integer,
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- MATCH SIMPLE: only checked when a version is pinned.
  FOREIGN KEY (flow_id, flow_version) REFERENCES flow_versions (flow_id, version)
);

CREATE TABLE calls (
  call_id text PRIMARY KEY,
  instance_id text NOT NULL,
  -- NULL only when call.end arrived before (or without) the call's start record.
  direction text CHECK (direction IN ('inbound', 'outbound')),
  number text,
  caller text,
  flow_id text,
  flow_version integer,
  campaign_id text,
  attempt_id bigint,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  cause text,
  duration_sec double precision CHECK (duration_sec >= 0),
  bill_sec double precision CHECK (bill_sec >= 0),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended', 'lost'))
);

CREATE INDEX calls_active_by_instance ON calls (instance_id) WHERE status = 'active';
CREATE INDEX calls_by_campaign ON calls (campaign_id, started_at) WHERE campaign_id IS NOT NULL;
CREATE INDEX calls_by_started_at ON calls (started_at);

CREATE TABLE call_results (
  call_id text NOT NULL,
  node text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (call_id, node, key)
);

CREATE TABLE instances (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  provider text NOT NULL DEFAULT 'unknown',
  provider_ref text,
  instance_type text,
  state text NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'booting', 'syncing', 'ready', 'draining', 'terminated', 'lost')),
  capacity integer NOT NULL DEFAULT 0 CHECK (capacity >= 0),
  active_calls integer NOT NULL DEFAULT 0 CHECK (active_calls >= 0),
  pending_uploads integer NOT NULL DEFAULT 0 CHECK (pending_uploads >= 0),
  manifest_version integer NOT NULL DEFAULT 0 CHECK (manifest_version >= 0),
  agent_version text,
  addr text,
  launched_at timestamptz NOT NULL DEFAULT now(),
  ready_at timestamptz,
  drain_started_at timestamptz,
  drain_deadline timestamptz,
  terminated_at timestamptz,
  last_heartbeat_at timestamptz,
  meta jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX instances_live ON instances (state) WHERE state <> 'terminated';

-- Down Migration

DROP TABLE instances;
DROP TABLE call_results;
DROP TABLE calls;
DROP TABLE numbers;
DROP TABLE flow_versions;
DROP FUNCTION flow_versions_immutable();
DROP TABLE flows;
