import Type from 'typebox'
import { defineSettings, logSettings, type ConfigOf } from '@federate/config'

// The agent's configuration: a JSON file (--config / FEDERATE_AGENT_CONFIG) and the environment,
// the environment winning. Ports and directories are settings so many agents can share a process.

const Port = Type.Integer({ minimum: 0, maximum: 65535 })
const Ms = (min = 1, max = 600_000) => Type.Integer({ minimum: min, maximum: max })

export const agentSettings = defineSettings({
  servers: {
    env: 'FEDERATE_SERVERS',
    schema: Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1, maxItems: 64 }),
    default: ['http://127.0.0.1:8080/RPC2'],
    description: 'app servers\' XML-RPC URLs, comma-separated (or one load balancer URL)',
  },
  instanceId: {
    env: 'FEDERATE_INSTANCE_ID',
    schema: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' }),
    description: 'this instance\'s id, as the controller registered it',
  },
  instanceToken: {
    env: 'FEDERATE_INSTANCE_TOKEN',
    schema: Type.String({ minLength: 1, maxLength: 4096 }),
    description: 'this instance\'s bearer token for the app tier',
    secret: true,
  },
  agiHost: { env: 'FEDERATE_AGI_HOST', schema: Type.String({ minLength: 1 }), default: '127.0.0.1', description: 'FastAGI listen address (keep it on loopback)' },
  agiPort: { env: 'FEDERATE_AGI_PORT', schema: Port, default: 4573, description: 'FastAGI listen port (0: any free port)' },
  agiReadTimeoutMs: { env: 'FEDERATE_AGI_READ_TIMEOUT_MS', schema: Ms(), default: 5000, description: 'longest wait for any line from Asterisk on an AGI connection' },
  amiEnabled: { env: 'FEDERATE_AMI_ENABLED', schema: Type.Boolean(), default: true, description: 'use AMI (campaign calls, channel counts); off: inbound only, calls counted from AGI' },
  amiHost: { env: 'FEDERATE_AMI_HOST', schema: Type.String({ minLength: 1 }), default: '127.0.0.1', description: 'Asterisk manager address' },
  amiPort: { env: 'FEDERATE_AMI_PORT', schema: Port, default: 5038, description: 'Asterisk manager port' },
  amiUsername: { env: 'FEDERATE_AMI_USERNAME', schema: Type.String({ minLength: 1 }), default: 'federate', description: 'manager.conf user' },
  amiSecret: { env: 'FEDERATE_AMI_SECRET', schema: Type.String(), default: '', description: 'manager.conf secret', secret: true },
  amiActionTimeoutMs: { env: 'FEDERATE_AMI_ACTION_TIMEOUT_MS', schema: Ms(), default: 5000, description: 'longest wait for an AMI action\'s response' },
  capacity: { env: 'FEDERATE_CAPACITY', schema: Type.Integer({ minimum: 0, maximum: 10000 }), default: 100, description: 'concurrent calls this instance may carry' },
  dialTemplate: { env: 'FEDERATE_DIAL_TEMPLATE', schema: Type.String({ pattern: '\\{to\\}' }), default: 'PJSIP/{to}@carrier', description: 'dial string for campaign calls; {to} is the contact\'s number' },
  heartbeatMs: { env: 'FEDERATE_HEARTBEAT_MS', schema: Ms(10), default: 5000, description: 'instance.heartbeat interval' },
  drainHeartbeatMs: { env: 'FEDERATE_DRAIN_HEARTBEAT_MS', schema: Ms(10), default: 500, description: 'instance.heartbeat interval while draining (the controller terminates the instance once one reports it empty)' },
  dialerIntervalMs: { env: 'FEDERATE_DIALER_INTERVAL_MS', schema: Ms(10), default: 300, description: 'dialer.next polling interval while there is free capacity' },
  callTimeoutMs: { env: 'FEDERATE_CALL_TIMEOUT_MS', schema: Ms(), default: 2000, description: 'longest wait for an app server\'s answer' },
  connectTimeoutMs: { env: 'FEDERATE_CONNECT_TIMEOUT_MS', schema: Ms(), default: 500, description: 'longest wait for a TCP connection to an app server' },
  breakerFailures: { env: 'FEDERATE_BREAKER_FAILURES', schema: Type.Integer({ minimum: 1, maximum: 1000 }), default: 3, description: 'consecutive failures that open a server\'s circuit' },
  breakerCooldownMs: { env: 'FEDERATE_BREAKER_COOLDOWN_MS', schema: Ms(), default: 2000, description: 'time an open circuit waits before one probe call' },
  spoolDir: { env: 'FEDERATE_SPOOL_DIR', schema: Type.String({ minLength: 1 }), default: '/var/lib/federate-agent/spool', description: 'where unacknowledged call ends wait (one JSON file per call)' },
  spoolRetryMs: { env: 'FEDERATE_SPOOL_RETRY_MS', schema: Ms(10), default: 2000, description: 'interval between resends from the spool' },
  soundsDir: { env: 'FEDERATE_SOUNDS_DIR', schema: Type.String({ pattern: '^/' }), default: '/var/lib/asterisk/sounds/federate', description: 'synced prompts (absolute); prompt names resolve under it. With audio sync on it must end in /federate: the sync writes into its parent (the Asterisk sounds directory)' },
  recordingsDir: { env: 'FEDERATE_RECORDINGS_DIR', schema: Type.String({ pattern: '^/' }), default: '/var/spool/asterisk/federate/recordings', description: 'where Record() writes (absolute)' },
  audioSync: { env: 'FEDERATE_AUDIO_SYNC', schema: Type.Boolean(), default: true, description: 'keep FEDERATE_SOUNDS_DIR in step with the tier\'s audio manifest (storage.manifest)' },
  syncConcurrency: { env: 'FEDERATE_SYNC_CONCURRENCY', schema: Type.Integer({ minimum: 1, maximum: 32 }), default: 4, description: 'parallel prompt downloads' },
  syncDownloadTimeoutMs: { env: 'FEDERATE_SYNC_DOWNLOAD_TIMEOUT_MS', schema: Ms(100), default: 120_000, description: 'longest time for one prompt download' },
  syncRetryMs: { env: 'FEDERATE_SYNC_RETRY_MS', schema: Ms(10), default: 1000, description: 'first wait after a failed sync pass (doubles up to 60 s)' },
  recordingUpload: { env: 'FEDERATE_RECORDING_UPLOAD', schema: Type.Boolean(), default: true, description: 'upload recordings to the tier\'s storage (recording.upload) after each `recorded` event' },
  keepRecordings: { env: 'FEDERATE_KEEP_RECORDINGS', schema: Type.Boolean(), default: false, description: 'keep a recording on disk after it was uploaded' },
  uploadConcurrency: { env: 'FEDERATE_UPLOAD_CONCURRENCY', schema: Type.Integer({ minimum: 1, maximum: 32 }), default: 2, description: 'parallel recording uploads' },
  uploadTimeoutMs: { env: 'FEDERATE_UPLOAD_TIMEOUT_MS', schema: Ms(100), default: 300_000, description: 'longest time for one recording upload (the PUT)' },
  uploadRetryMs: { env: 'FEDERATE_UPLOAD_RETRY_MS', schema: Ms(10), default: 2000, description: 'first wait before a failed upload is retried (doubles up to 5 min)' },
  uploadCloseWaitMs: { env: 'FEDERATE_UPLOAD_CLOSE_WAIT_MS', schema: Ms(0), default: 5000, description: 'how long close() keeps trying pending uploads (they stay on disk for the next start)' },
  metricsPort: { env: 'FEDERATE_AGENT_METRICS_PORT', schema: Port, default: 0, description: 'loopback port for /metrics (0: off)' },
  metricsHost: { env: 'FEDERATE_AGENT_METRICS_HOST', schema: Type.String({ minLength: 1 }), default: '127.0.0.1', description: '/metrics listen address' },
  ...logSettings,
})

export type AgentConfig = ConfigOf<typeof agentSettings>
