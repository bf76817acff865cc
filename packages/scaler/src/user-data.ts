import { ScalerError } from './errors.ts'

// Per-instance user-data: the cloud-init template of infra/aws with the instance's id, token and
// servers filled in. Values are checked against a conservative alphabet rather than escaped, so
// nothing placed in the YAML or in a shell line can change its meaning.

/** EC2 refuses user-data above 16 KB (before base64). */
export const USER_DATA_MAX_BYTES = 16 * 1024

// URLs may carry ? & ~ (signed query strings): the template puts them in single quotes.
const SAFE = /^[A-Za-z0-9_.:/,@+=%?&~-]*$/

/**
 * Replaces each `{{name}}` of the template with `vars[name]`. Throws FED_SCALER_INVALID_INPUT for
 * a placeholder without a value, a value outside the safe alphabet, or a result over 16 KB.
 */
export function renderUserData (template: string, vars: Readonly<Record<string, string | number>>): string {
  for (const [k, v] of Object.entries(vars)) {
    if (!SAFE.test(String(v))) throw new ScalerError('FED_SCALER_INVALID_INPUT', `user-data value ${k} has characters outside [A-Za-z0-9_.:/,@+=%?&~-]`)
  }
  const out = template.replace(/\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g, (_m, name: string) => {
    const v = vars[name]
    if (v === undefined) throw new ScalerError('FED_SCALER_INVALID_INPUT', `user-data template needs a value for {{${name}}}`)
    return String(v)
  })
  const bytes = Buffer.byteLength(out)
  if (bytes > USER_DATA_MAX_BYTES) throw new ScalerError('FED_SCALER_INVALID_INPUT', `user-data is ${bytes} bytes; EC2 takes at most ${USER_DATA_MAX_BYTES}`)
  return out
}
