// Public surface of the job dispatcher: starting jobs against a selector under rate control, and
// the concurrency limit it shares with agent upgrades.
export { concurrencyLimit } from './concurrency';
export { JobDispatcher } from './dispatcher';
