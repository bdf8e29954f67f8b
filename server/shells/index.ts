// Public surface of remote shells on the server: sessions relayed to agents, with their limits,
// and where their recordings are kept.
export { ShellSession, ShellSessions, defaultShellLimits, type ShellLimits } from './sessions';
export { LocalRecordings } from './local-recordings';
export type { RecordingStore, RecordingWriter } from './recording-store';
