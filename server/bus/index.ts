// Public surface of the bus: events by topic between the server's parts (and replicas), and the
// leases that say which server drives a job or a rollout.
export { jobTopic, rolloutTopic, type EventBus } from './event-bus';
export { LocalBus } from './local-bus';
export { LocalLeases, type DriverLeases } from './leases';
