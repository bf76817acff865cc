export { createTestDatabase, databaseUrl } from './database.ts'
export { waitFor } from './wait.ts'
export { freePort, suffix } from './ports.ts'
export { startHeartbeatServer, type HeartbeatServer } from './heartbeat-server.ts'
