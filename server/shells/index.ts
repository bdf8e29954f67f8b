// Public surface of remote shells on the server: sessions relayed to agents, with their limits,
// and where their recordings are kept.
export { ShellSession, ShellSessions, defaultShellLimits, type ShellLimits } from './sessions';
export { ChannelRelay } from './channel-relay';
export { LocalRecordings } from './local-recordings';
export { BatchedRecordingWriter, RECORDING_HELD_BYTES, type BatchedWriterOptions, type RecordingSink } from './batched-recording-writer';
export { RECORDING_BACKLOG_BYTES, RECORDING_ID, type RecordingStore, type RecordingWriter } from './recording-store';
