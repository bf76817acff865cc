import neostandard from 'neostandard'

// One lint and format setup for the whole workspace: neostandard's style rules are the formatter.
export default [
  ...neostandard({ ts: true, ignores: ['**/node_modules/**', '.data/**', 'apps/server/public/vendor/**', 'test-results/**'] }),
]
