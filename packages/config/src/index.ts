export { defineSettings, loadConfig, settingsTable, redacted, ConfigError } from './settings.ts'
export type { Setting, SettingsSpec, ConfigOf } from './settings.ts'
export { databaseSettings, redisSettings, memcachedSettings, s3Settings, logSettings } from './shared.ts'
