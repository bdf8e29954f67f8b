// Failures of the agent's own logic.
import { ErrorKind, FleetError } from '../common/errors';

export class NotEnrolledError extends FleetError {
  constructor(stateDir: string) {
    super(`this agent is not enrolled yet (no identity in ${stateDir}): pass --server and --token`, 'NOT_ENROLLED', ErrorKind.Invalid);
    this.name = 'NotEnrolledError';
  }
}

export class EnrollmentRefusedError extends FleetError {
  constructor(reason: string, code: string, cause?: unknown) {
    super(`enrollment refused: ${reason}`, code, ErrorKind.Unauthenticated, { cause });
    this.name = 'EnrollmentRefusedError';
  }
}

export class StateDirError extends FleetError {
  constructor(message: string, cause?: unknown) {
    super(message, 'STATE_DIR', ErrorKind.Unavailable, { cause });
    this.name = 'StateDirError';
  }
}

export class CommandRefusedError extends FleetError {
  constructor(reason: string) {
    super(reason, 'COMMAND_REFUSED', ErrorKind.Forbidden);
    this.name = 'CommandRefusedError';
  }
}
