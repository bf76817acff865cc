// What a templated value may contain where it ends up in a dialplan application's arguments.
// A comma would add Dial options (e.g. a Gosub), `&` a second destination: values coming from
// callers or web hooks must never be able to do that.

/** A whole dial string (literal parts may use `&` and `/`). */
export const DIAL_TO = /^[A-Za-z0-9+*#._@:/&-]{1,255}$/
/** A value substituted into a dial string: one number or user part. */
export const DIAL_VALUE = /^[A-Za-z0-9+*#._@-]*$/
export const CALLER_ID = /^[A-Za-z0-9 +*#._@<>"'-]{1,80}$/
export const CALLER_ID_VALUE = /^[A-Za-z0-9 +*#._@-]*$/
/** The protocol's GotoArgs.extension pattern, and what a substituted value may hold. */
export const EXTENSION = /^[A-Za-z0-9_+*#.-]{1,79}$/
export const EXTENSION_VALUE = /^[A-Za-z0-9_+*#.-]*$/
