// The one interface every provider (ec2, local, memory) implements. Instances are named by the
// controller's own ids: launching an id twice starts one instance (the id is the idempotency key,
// EC2's ClientToken), and `list` finds instances by that id (a tag, a pid file) so a new leader
// can see what the old one started.

export interface LaunchRequest {
  /** The controller's instance id: the row in `instances`, the agent's FEDERATE_INSTANCE_ID. */
  id: string
  /** The instance's bearer token for the app tier (plaintext, shown to the instance only). */
  token: string
  /** Preferred instance type (providers with types may fall back to another on capacity errors). */
  instanceType?: string
}

/** pending: starting; running: up; stopping: on its way out; terminated: gone. */
export type ProviderState = 'pending' | 'running' | 'stopping' | 'terminated'

export interface ProviderInstance {
  /** The controller's id (from the instance's tag). */
  id: string
  /** The provider's own id (EC2 instance id, pid). */
  ref: string
  state: ProviderState
  instanceType: string | null
  launchedAt: Date | null
  /** Private address, when the provider knows it. */
  addr?: string | null
}

export interface LaunchResult {
  launched: ProviderInstance[]
  /** Requests that failed after the provider's retries: the controller marks them and tries later. */
  failed: Array<{ id: string, error: Error }>
}

export interface Provider {
  /** `ec2`, `local`, `memory`: stored in instances.provider. */
  readonly name: string
  /** Starts one instance per request; an id already launched is returned, not started again. */
  launch: (requests: readonly LaunchRequest[]) => Promise<LaunchResult>
  /**
   * Instances of this fleet the provider knows, terminated ones included while it still lists
   * them. May lag behind `launch` (EC2 is eventually consistent): absence is not proof.
   */
  list: () => Promise<ProviderInstance[]>
  /** Terminates by controller id; unknown or already terminated ids are not an error. */
  terminate: (ids: readonly string[]) => Promise<void>
  close: () => Promise<void>
}
