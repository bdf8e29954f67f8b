// Public surface of remote shells on the server: sessions relayed to agents, with their limits.
export { ShellSession, ShellSessions, defaultShellLimits, type ShellLimits } from './sessions';
