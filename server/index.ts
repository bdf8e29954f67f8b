// Public surface of the server component for other components' tests (fleet-server itself starts
// from bin.ts): the NATS account authority, whose JWTs test/nats.test.ts checks from outside.
export { NatsAuthority } from './nats-authority';
