-- Controller: why each instance ended, and every scaling decision with its reason (the
-- dashboard's history and the cost report's peak).

-- Up Migration

ALTER TABLE instances
  -- Failed launch attempts of this id (a row is written before its launch, so a new leader can retry it).
  ADD COLUMN launch_attempts integer NOT NULL DEFAULT 0 CHECK (launch_attempts >= 0),
  ADD COLUMN lost_at timestamptz,
  -- drained, drain deadline, lost, launch failed, orphan, ...
  ADD COLUMN end_reason text,
  -- Calls still up when the instance was terminated (deadline passed, or lost).
  ADD COLUMN calls_cut integer CHECK (calls_cut >= 0);

CREATE TABLE scaling_decisions (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  -- The controller that decided (hostname:pid:random), so a failover shows in the history.
  controller_id text NOT NULL,
  action text NOT NULL CHECK (action IN ('hold', 'scale_out', 'scale_in', 'terminate', 'lost', 'launch_failed', 'orphan')),
  -- A stable code for the reason (load_up, stabilising, drained, deadline, heartbeat, ...).
  code text NOT NULL,
  -- Instances counted as capacity (ready + starting) when deciding.
  observed integer NOT NULL CHECK (observed >= 0),
  desired integer NOT NULL CHECK (desired >= 0),
  load integer NOT NULL DEFAULT 0 CHECK (load >= 0),
  live_calls integer NOT NULL DEFAULT 0 CHECK (live_calls >= 0),
  campaign_demand integer NOT NULL DEFAULT 0 CHECK (campaign_demand >= 0),
  instance_ids text[] NOT NULL DEFAULT '{}',
  calls_cut integer NOT NULL DEFAULT 0 CHECK (calls_cut >= 0),
  reason text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX scaling_decisions_at ON scaling_decisions (at);

-- Down Migration

DROP TABLE scaling_decisions;
ALTER TABLE instances
  DROP COLUMN calls_cut,
  DROP COLUMN end_reason,
  DROP COLUMN lost_at,
  DROP COLUMN launch_attempts;
