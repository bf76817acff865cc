-- Dialer: campaigns, their contacts, every dial attempt, the do-not-call list and the optional
-- global caps. PostgreSQL is the truth; Redis (BullMQ) only holds a few seconds of queued work.

-- Up Migration

CREATE TABLE campaigns (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  flow_id text NOT NULL REFERENCES flows (id),
  -- NULL until started: start pins the flow's latest version so a running campaign never changes flow.
  flow_version integer CHECK (flow_version >= 1),
  caller_id text NOT NULL CHECK (length(caller_id) BETWEEN 1 AND 64),
  rate_cps numeric(10, 3) NOT NULL CHECK (rate_cps > 0),
  max_concurrent integer NOT NULL CHECK (max_concurrent > 0),
  ring_timeout_sec integer NOT NULL DEFAULT 30 CHECK (ring_timeout_sec BETWEEN 1 AND 600),
  window_start text NOT NULL DEFAULT '09:00' CHECK (window_start ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$'),
  window_end text NOT NULL DEFAULT '21:00' CHECK (window_end ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$'),
  -- Local days of the week (0 = Sunday); NULL: every day.
  window_days smallint[],
  retry_policy jsonb NOT NULL,
  max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
  status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'paused', 'stopped', 'completed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  stopped_at timestamptz,
  completed_at timestamptz
);

CREATE INDEX campaigns_running ON campaigns (id) WHERE status = 'running';

CREATE TABLE contacts (
  id bigserial PRIMARY KEY,
  campaign_id text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  phone_e164 text NOT NULL CHECK (phone_e164 ~ '^\+[1-9][0-9]{4,15}$'),
  time_zone text NOT NULL,
  vars jsonb NOT NULL DEFAULT '{}',
  state text NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'queued', 'leased', 'dialing', 'done', 'failed')),
  -- Attempts that were dialled (settled with an outcome); an expired lease does not count.
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  queued_at timestamptz,
  last_outcome text,
  UNIQUE (campaign_id, phone_e164)
);

-- The dispatcher reads due contacts zone by zone, in due order.
CREATE INDEX contacts_due ON contacts (campaign_id, time_zone, next_attempt_at, id) WHERE state = 'pending';
-- Queued, leased and dialling contacts are counted on every tick against the caps.
CREATE INDEX contacts_in_flight ON contacts (campaign_id, state) WHERE state IN ('queued', 'leased', 'dialing');

CREATE TABLE attempts (
  id bigserial PRIMARY KEY,
  contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  campaign_id text NOT NULL,
  -- 1 for the first dialled attempt of the contact; an expired lease's number is used again.
  attempt_no integer NOT NULL CHECK (attempt_no >= 1),
  call_id text NOT NULL UNIQUE,
  instance_id text NOT NULL,
  leased_at timestamptz NOT NULL,
  lease_expires_at timestamptz NOT NULL,
  started_at timestamptz,
  ended_at timestamptz,
  -- NULL while open; 'expired' is a lease that was never dialled (counted in no outcome).
  outcome text CHECK (outcome IN ('answered', 'busy', 'noanswer', 'failed', 'machine', 'lost', 'expired')),
  cause text,
  amd text,
  duration_sec double precision CHECK (duration_sec >= 0),
  bill_sec double precision CHECK (bill_sec >= 0)
);

-- At most one open attempt per contact: a contact is never dialled twice at the same time.
CREATE UNIQUE INDEX attempts_one_open_per_contact ON attempts (contact_id) WHERE outcome IS NULL;
CREATE INDEX attempts_open_by_instance ON attempts (instance_id) WHERE outcome IS NULL;
CREATE INDEX attempts_open_by_lease ON attempts (lease_expires_at) WHERE outcome IS NULL AND started_at IS NULL;
CREATE INDEX attempts_by_campaign ON attempts (campaign_id, id);
CREATE INDEX attempts_by_campaign_leased ON attempts (campaign_id, leased_at);

CREATE TABLE dnc (
  phone_e164 text PRIMARY KEY,
  added_at timestamptz NOT NULL DEFAULT now(),
  source text
);

-- One row: caps across every campaign (NULL: no cap).
CREATE TABLE dialer_settings (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  max_concurrent integer CHECK (max_concurrent > 0),
  max_cps numeric(10, 3) CHECK (max_cps > 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO dialer_settings (id) VALUES (true);

-- Down Migration

DROP TABLE dialer_settings;
DROP TABLE dnc;
DROP TABLE attempts;
DROP TABLE contacts;
DROP TABLE campaigns;
