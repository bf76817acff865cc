import { randomBytes } from 'node:crypto'

/**
 * A new instance id: `<cluster>-<10 hex>-1`. The trailing `-1` is instance 1 of that launch, the
 * way `federate sim --id-prefix <p>` names its first instance `<p>1`, so the same id works for
 * every provider (ec2 tags it, local passes `--id-prefix <cluster>-<hex>-`).
 */
export function newInstanceId (cluster: string): string {
  return `${cluster}-${randomBytes(5).toString('hex')}-1`
}
