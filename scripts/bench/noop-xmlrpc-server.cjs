// The ceiling for bench:steps: the xmlrpc package's own server answering a no-op method.
const xmlrpc = require('xmlrpc')
const server = xmlrpc.createServer({ host: '127.0.0.1', port: Number(process.argv[2]) })
server.on('noop', (_err, _params, callback) => { callback(null, { ok: true }) })
process.on('SIGTERM', () => { server.close(() => process.exit(0)) })
