// Public surface of the agent component.
export { Agent, backoffDelay, defaultAgentOptions, type AgentOptions } from './agent';
export { enroll, type EnrollOptions } from './enroll';
export { AgentState, type AgentIdentity } from './state';
export { Spool } from './spool';
