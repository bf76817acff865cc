-- Credentials: per-instance tokens, operator API keys, and the keyring that signs call state
-- tokens. Secrets are stored as sha256 digests (tokens, keys) or raw bytes (signing keys).

-- Up Migration

CREATE TABLE instance_tokens (
  id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
  -- No foreign key: a token may be issued before the instance row exists (launch races heartbeat).
  instance_id text NOT NULL,
  token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE INDEX instance_tokens_by_instance ON instance_tokens (instance_id) WHERE revoked_at IS NULL;

CREATE TABLE api_keys (
  id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

CREATE TABLE signing_keys (
  kid text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{1,32}$'),
  secret bytea NOT NULL CHECK (length(secret) >= 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set when a newer key becomes current; a retired key still verifies tokens for a grace period.
  retired_at timestamptz
);

-- At most one current key at any time.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((true)) WHERE retired_at IS NULL;

-- Down Migration

DROP TABLE signing_keys;
DROP TABLE api_keys;
DROP TABLE instance_tokens;
