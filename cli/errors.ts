// CLI failures: a UserError prints one clean line and exits 1; a UsageError exits 2.
import { ErrorKind, FleetError } from '../common/errors';

export class UserError extends FleetError {
  constructor(message: string, code = 'USER_ERROR', cause?: unknown) {
    super(message, code, ErrorKind.Invalid, { cause });
    this.name = 'UserError';
  }
}

export class UsageError extends FleetError {
  constructor(message: string) {
    super(message, 'USAGE', ErrorKind.Invalid);
    this.name = 'UsageError';
  }
}

export class NotLoggedInError extends FleetError {
  constructor(context: string) {
    super(`not logged in (no context "${context}"): run \`fleet login --server URL --token TOKEN --ca-hash sha256:…\``, 'NOT_LOGGED_IN', ErrorKind.Unauthenticated);
    this.name = 'NotLoggedInError';
  }
}
