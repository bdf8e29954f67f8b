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

/** The server accepted the connection (or never answered it) but did not finish the handshake. */
export class ServerNotAnsweringError extends FleetError {
  constructor(address: string, waited: string) {
    super(
      `cannot reach fleet-server at ${address}: no answer within ${waited} (the connection was not completed: check the address and port, and any firewall or proxy in between; --request-timeout waits longer)`,
      'SERVER_NOT_ANSWERING',
      ErrorKind.Unavailable,
    );
    this.name = 'ServerNotAnsweringError';
  }
}

/** A connection that was up went away before the server's answer came. */
export class ConnectionLostError extends FleetError {
  constructor(address: string) {
    super(`the connection to fleet-server at ${address} ended without an answer (the server may have restarted, or sent an answer this client refused; see the server log)`, 'CONNECTION_LOST', ErrorKind.Unavailable);
    this.name = 'ConnectionLostError';
  }
}

/** A call the server did not answer within the request timeout. */
export class RequestTimeoutError extends FleetError {
  constructor(address: string, method: string, waited: string) {
    super(`fleet-server at ${address} did not answer ${method} within ${waited} (it may be overloaded; --request-timeout waits longer)`, 'REQUEST_TIMEOUT', ErrorKind.Unavailable);
    this.name = 'RequestTimeoutError';
  }
}

/** The server stayed away too long while the CLI followed a job; the job carries on there. */
export class JobFollowLostError extends FleetError {
  constructor(jobId: string) {
    super(`lost the server while following job ${jobId}; it carries on there: see \`fleet jobs show ${jobId}\``, 'JOB_FOLLOW_LOST', ErrorKind.Unavailable);
    this.name = 'JobFollowLostError';
  }
}

export class NotLoggedInError extends FleetError {
  constructor(context: string) {
    super(`not logged in (no context "${context}"): run \`fleet login --server URL --token TOKEN --ca-hash sha256:…\``, 'NOT_LOGGED_IN', ErrorKind.Unauthenticated);
    this.name = 'NotLoggedInError';
  }
}

/** A spec file (`-f FILE`) that cannot be read. */
export class SpecFileUnreadableError extends UserError {
  constructor(file: string, detail: string, cause?: unknown) {
    super(`cannot read spec file ${file}: ${detail}`, 'SPEC_FILE_UNREADABLE', cause);
    this.name = 'SpecFileUnreadableError';
  }
}

/** A local artifact a spec names with `file:` that cannot be read. */
export class LocalFileUnreadableError extends UserError {
  constructor(where: string, file: string, detail: string, cause?: unknown) {
    super(`${where}: cannot read ${file}: ${detail}`, 'LOCAL_FILE_UNREADABLE', cause);
    this.name = 'LocalFileUnreadableError';
  }
}

/** A local artifact whose SHA-256 is not the one its resource declares. */
export class LocalFileDigestError extends UserError {
  constructor(where: string, file: string, actual: string, expected: string) {
    super(`${where}: ${file} has sha256 ${actual}, but the spec says ${expected}; fix sha256 (or the file)`, 'LOCAL_FILE_DIGEST');
    this.name = 'LocalFileDigestError';
  }
}

/** A spec name that would write outside the `fleet history --out` directory. */
export class UnsafeSpecNameError extends UserError {
  constructor(name: string) {
    super(`refusing to write history for spec ${JSON.stringify(name)}: the name would escape the output directory`, 'UNSAFE_SPEC_NAME');
    this.name = 'UnsafeSpecNameError';
  }
}

/** A PXE config file (`fleet pxe set -f FILE`) that cannot be read. */
export class PxeConfigUnreadableError extends UserError {
  constructor(file: string, detail: string, cause?: unknown) {
    super(`cannot read PXE config file ${file}: ${detail}`, 'PXE_CONFIG_UNREADABLE', cause);
    this.name = 'PxeConfigUnreadableError';
  }
}
