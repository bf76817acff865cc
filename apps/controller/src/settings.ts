import Type from 'typebox'
import { databaseSettings, defineSettings, logSettings, type ConfigOf } from '@federate/config'

// Every setting of `federate controller`, read once from the environment (or a file).

const Sec = (min = 0, max = 86_400) => Type.Number({ minimum: min, maximum: max })
const Count = (min = 0, max = 10_000) => Type.Integer({ minimum: min, maximum: max })

export const controllerSettings = defineSettings({
  cluster: {
    env: 'FEDERATE_CLUSTER',
    schema: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' }),
    default: 'fed',
    description: 'fleet name: the leader lock, instance ids (<cluster>-<hex>-1), the EC2 tag federate:cluster',
  },
  provider: {
    env: 'FEDERATE_PROVIDER',
    schema: Type.Union([Type.Literal('local'), Type.Literal('ec2')]),
    default: 'local',
    description: 'where instances run: local (simulated instances as child processes) or ec2',
  },
  min: { env: 'FEDERATE_SCALE_MIN', schema: Count(), default: 1, description: 'fewest instances, whatever the load' },
  max: { env: 'FEDERATE_SCALE_MAX', schema: Count(1), default: 40, description: 'most instances, whatever the load' },
  callsPerInstance: { env: 'FEDERATE_CALLS_PER_INSTANCE', schema: Count(1), default: 100, description: 'concurrent calls one instance carries' },
  headroom: { env: 'FEDERATE_SCALE_HEADROOM', schema: Type.Number({ minimum: 0, maximum: 10 }), default: 0.1, description: 'spare capacity above the inbound load (0.1: 10 %)' },
  campaignHeadroom: { env: 'FEDERATE_SCALE_CAMPAIGN_HEADROOM', schema: Type.Number({ minimum: 0, maximum: 10 }), default: 0, description: 'spare capacity above the calls of campaigns still dialling (0: none; their demand already looks one launch lead ahead, and a full fleet only slows the dialer)' },
  scaleInTolerance: { env: 'FEDERATE_SCALE_IN_TOLERANCE', schema: Type.Number({ minimum: 0, maximum: 10 }), default: 0.05, description: 'extra headroom a smaller fleet must keep before draining (dead band against flapping)' },
  scaleInStabilisationSec: { env: 'FEDERATE_SCALE_IN_STABILISATION_SEC', schema: Sec(), default: 180, description: 'seconds a lower load must last before instances are drained' },
  saturationGrowth: { env: 'FEDERATE_SCALE_SATURATION_GROWTH', schema: Type.Number({ minimum: 0, maximum: 10 }), default: 1, description: 'when every ready channel is busy and nothing is starting, grow by this fraction at least (1: double)' },
  reconcilePeriodMs: { env: 'FEDERATE_RECONCILE_MS', schema: Count(50, 600_000), default: 5000, description: 'milliseconds between reconcile passes' },
  leaderRetryMs: { env: 'FEDERATE_LEADER_RETRY_MS', schema: Count(50, 60_000), default: 1000, description: 'how often a standby tries the leader lock (and the leader checks its lock connection)' },
  heartbeatLostSec: { env: 'FEDERATE_HEARTBEAT_LOST_SEC', schema: Sec(1), default: 30, description: 'an instance silent this long is lost: its calls are settled and it is replaced' },
  bootTimeoutSec: { env: 'FEDERATE_BOOT_TIMEOUT_SEC', schema: Sec(1), default: 600, description: 'an instance that never reported this long after launch is lost' },
  launchGraceSec: { env: 'FEDERATE_LAUNCH_GRACE_SEC', schema: Sec(0), default: 120, description: 'a launched instance the provider does not list yet is kept pending this long (EC2 eventual consistency)' },
  maxLaunchAttempts: { env: 'FEDERATE_MAX_LAUNCH_ATTEMPTS', schema: Count(1, 100), default: 3, description: 'failed launches of one instance id before it is given up (and another id launched)' },
  drainDeadlineSec: { env: 'FEDERATE_DRAIN_DEADLINE_SEC', schema: Sec(0), default: 900, description: 'a draining instance is terminated after this even with calls up (the calls cut are reported)' },
  campaignHorizonSec: { env: 'FEDERATE_CAMPAIGN_HORIZON_SEC', schema: Sec(1, 3600), default: 300, description: 'campaign demand looks at contacts due within this many seconds' },
  launchLeadSec: { env: 'FEDERATE_LAUNCH_LEAD_SEC', schema: Sec(0, 3600), default: 90, description: 'seconds a launch takes to become capacity, until the provider\'s own instances have been measured (90th percentile of the last 20); campaign demand looks this far ahead' },
  campaignHoldSec: { env: 'FEDERATE_CAMPAIGN_HOLD_SEC', schema: Sec(1, 3600), default: 60, description: 'seconds an attempt holds a channel, until a campaign has its own history' },
  agentServers: {
    env: 'FEDERATE_AGENT_SERVERS',
    schema: Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1, maxItems: 64 }),
    default: ['http://127.0.0.1:8080/RPC2'],
    description: 'app servers\' XML-RPC URLs the instances\' agents use, comma-separated (or one load balancer URL)',
  },
  prices: {
    env: 'FEDERATE_PRICES',
    schema: Type.Array(Type.String({ pattern: '^[A-Za-z0-9._-]+=[0-9]+(\\.[0-9]+)?$' })),
    default: ['default=0.0850', 'c7i.large=0.0893', 'c7i.xlarge=0.1785', 'sim.100=0.0850'],
    description: 'price per hour per instance type, type=price comma-separated (`default` for the rest)',
  },
  ec2Region: { env: 'FEDERATE_EC2_REGION', schema: Type.String({ minLength: 1 }), default: 'us-east-1', description: 'EC2 region' },
  ec2Endpoint: { env: 'FEDERATE_EC2_ENDPOINT', schema: Type.String(), default: '', description: 'EC2 endpoint override (tests); empty: AWS\'s own' },
  ec2LaunchTemplateId: { env: 'FEDERATE_EC2_LAUNCH_TEMPLATE_ID', schema: Type.String(), default: '', description: 'launch template (AMI, security groups, instance profile, IMDSv2); required for ec2' },
  ec2LaunchTemplateVersion: { env: 'FEDERATE_EC2_LAUNCH_TEMPLATE_VERSION', schema: Type.String({ pattern: '^(\\$Default|\\$Latest|[0-9]+)$' }), default: '$Default', description: 'launch template version' },
  ec2Subnets: { env: 'FEDERATE_EC2_SUBNETS', schema: Type.Array(Type.String({ pattern: '^subnet-[0-9a-f]+$' })), default: [], description: 'subnets to spread over and fall back to on capacity errors (one per AZ); empty: the template\'s' },
  ec2InstanceTypes: { env: 'FEDERATE_EC2_INSTANCE_TYPES', schema: Type.Array(Type.String({ pattern: '^[a-z0-9]+\\.[a-z0-9]+$' })), default: [], description: 'instance types in order of preference (fallbacks on capacity errors); empty: the template\'s' },
  ec2Tags: { env: 'FEDERATE_EC2_TAGS', schema: Type.Array(Type.String({ pattern: '^[^=,]{1,127}=[^,]{0,255}$' })), default: [], description: 'extra tags key=value, comma-separated' },
  ec2UserDataFile: { env: 'FEDERATE_EC2_USER_DATA_FILE', schema: Type.String(), default: '', description: 'cloud-init template; empty: infra/aws/user-data.yaml of this checkout' },
  ec2AgentPackageUrl: { env: 'FEDERATE_EC2_AGENT_PACKAGE_URL', schema: Type.String(), default: '', description: 'URL of the federate package the instances install (when the AMI does not have it)' },
  localCapacity: { env: 'FEDERATE_LOCAL_CAPACITY', schema: Count(1), default: 100, description: 'channels of each simulated instance' },
  localSpeed: { env: 'FEDERATE_LOCAL_SPEED', schema: Type.Number({ exclusiveMinimum: 0, maximum: 1000 }), default: 1, description: 'simulated time speed of the local instances' },
  localSeed: { env: 'FEDERATE_LOCAL_SEED', schema: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }), default: '1', description: 'seed of the local instances\' callers (each adds its id)' },
  localStateDir: { env: 'FEDERATE_LOCAL_STATE_DIR', schema: Type.String(), default: '', description: 'pid files and logs of local instances; empty: a folder in the temporary directory' },
  localBundle: { env: 'FEDERATE_LOCAL_BUNDLE', schema: Type.Boolean(), default: true, description: 'run local instances from a bundle of `federate sim` with plain node (false: through tsx, slow to boot)' },
  localKillAfterSec: { env: 'FEDERATE_LOCAL_KILL_AFTER_SEC', schema: Sec(0, 600), default: 15, description: 'a local instance still running this long after SIGTERM gets SIGKILL' },
  ...databaseSettings,
  ...logSettings,
})

export type ControllerConfig = ConfigOf<typeof controllerSettings>

/** `type=price` entries as a record. */
export function parsePrices (entries: readonly string[]): Record<string, number> {
  return Object.fromEntries(entries.map((e) => {
    const at = e.indexOf('=')
    return [e.slice(0, at), Number(e.slice(at + 1))]
  }))
}
