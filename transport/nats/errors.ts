// Failures of the NATS transport. Each is a FleetError with a stable code.
import { ErrorKind, FleetError } from '../../common/errors';

/** The server refused an agent's NATS link (bad or missing proof, unknown node). */
export class AgentRefusedOnNatsError extends FleetError {
  constructor(message: string) {
    super(message, 'NATS_LINK_REFUSED', ErrorKind.Unauthenticated);
    this.name = 'AgentRefusedOnNatsError';
  }
}

/** No fleet server answered on NATS (or the broker connection is gone). */
export class NatsLinkLostError extends FleetError {
  constructor(message: string, cause?: unknown) {
    super(message, 'NATS_LINK_LOST', ErrorKind.Unavailable, { cause });
    this.name = 'NatsLinkLostError';
  }
}

/** The server ended the link (sent a close control), with its reason. */
export class NatsLinkClosedError extends FleetError {
  constructor(reason: string) {
    super(reason || 'the server closed the link', 'NATS_LINK_CLOSED', ErrorKind.Unavailable);
    this.name = 'NatsLinkClosedError';
  }
}

/** Bad NATS options (URLs, credentials). */
export class InvalidNatsOptionError extends FleetError {
  constructor(message: string, cause?: unknown) {
    super(message, 'NATS_INVALID_OPTION', ErrorKind.Invalid, { cause });
    this.name = 'InvalidNatsOptionError';
  }
}

/** Parses "nats://a:4222,nats://b:4222" into a list of broker URLs. */
export function parseNatsServers(text: string): string[] {
  const servers = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (servers.length === 0) throw new InvalidNatsOptionError('no NATS server given (expected nats://HOST:PORT[,nats://HOST:PORT…])');
  for (const s of servers) {
    if (!/^(nats|tls):\/\/[^\s/]+(:\d+)?\/?$/.test(s) && !/^[^\s/:]+:\d+$/.test(s)) {
      throw new InvalidNatsOptionError(`invalid NATS server "${s}" (expected nats://HOST:PORT)`);
    }
  }
  return servers;
}
