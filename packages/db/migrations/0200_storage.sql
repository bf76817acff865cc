-- Storage manager: the prompt library (objects in S3, addressed by content hash), the audio
-- manifest's change log that instances sync from, and call recordings.

-- Up Migration

CREATE TABLE prompts (
  -- Relative name, also the path under the instance's sounds/federate/ folder (without extension).
  name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$' AND length(name) <= 200),
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size integer NOT NULL CHECK (size > 0),
  -- Asterisk format name, also the file extension.
  format text NOT NULL CHECK (format IN ('wav', 'wav16', 'gsm', 'ulaw', 'alaw', 'sln', 'sln16')),
  -- prompts/sha256/<hex>.<format>: same content, same object (uploaded once).
  s3_key text NOT NULL,
  duration_ms integer NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Set on delete; the row stays so a re-upload keeps created_at and the log stays readable.
  deleted_at timestamptz
);

-- One row per change to the set of files instances hold. The manifest version is the highest
-- row; a delta after version N is the last change of each path above N. Writers take an
-- advisory lock first, so versions are committed in order and no reader skips one.
CREATE TABLE manifest_versions (
  version serial PRIMARY KEY,
  name text NOT NULL,
  -- Path on the instance, relative to the sounds directory (federate/<name>.<format>).
  path text NOT NULL,
  change text NOT NULL CHECK (change IN ('put', 'delete')),
  sha256 text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size integer CHECK (size > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((change = 'put') = (sha256 IS NOT NULL AND size IS NOT NULL))
);

CREATE INDEX manifest_versions_by_path ON manifest_versions (path, version DESC);

CREATE TABLE recordings (
  -- recordings/<yyyy>/<mm>/<dd>/<call id>/<file>
  key text PRIMARY KEY CHECK (key LIKE 'recordings/%'),
  -- No foreign key to calls: a recording may arrive before (or without) the call's record.
  call_id text NOT NULL,
  instance_id text,
  -- The flow node that recorded it.
  node text,
  -- NULL until known (the object was not uploaded yet when it was recorded).
  size bigint CHECK (size >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX recordings_by_call ON recordings (call_id, created_at);
CREATE INDEX recordings_by_time ON recordings (created_at);

-- Down Migration

DROP TABLE recordings;
DROP TABLE manifest_versions;
DROP TABLE prompts;
