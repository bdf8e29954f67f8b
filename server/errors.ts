// Failures of the server's own logic. Each maps to a transport status by its kind.
import { ErrorKind, FleetError } from '../common/errors';
import { quote } from '../common/format';

export class JoinTokenRefusedError extends FleetError {
  constructor(
    message: string,
    code:
      | 'TOKEN_UNKNOWN'
      | 'TOKEN_EXPIRED'
      | 'TOKEN_USED_UP'
      | 'TOKEN_REVOKED'
      | 'TOKEN_WRONG_SERVER'
      | 'TOKEN_MALFORMED'
      | 'TOKEN_MACHINE_GONE'
      | 'TOKEN_OTHER_MACHINE'
      | 'MACHINE_REJECTED'
      | 'MACHINE_PROVISIONED',
  ) {
    super(message, code, code === 'TOKEN_MALFORMED' ? ErrorKind.Invalid : ErrorKind.Unauthenticated);
    this.name = 'JoinTokenRefusedError';
  }
}

export class InvalidEnrollmentError extends FleetError {
  constructor(message: string, cause?: unknown) {
    super(message, 'INVALID_ENROLLMENT', ErrorKind.Invalid, { cause });
    this.name = 'InvalidEnrollmentError';
  }
}

/** The offline node a machine was taking over changed meanwhile (it came back, or was removed): try again. */
export class EnrollmentConflictError extends FleetError {
  constructor(node: string) {
    super(`node ${node} changed while this machine was enrolling (it came back online, or was removed); enroll again`, 'ENROLLMENT_CONFLICT', ErrorKind.Unavailable);
    this.name = 'EnrollmentConflictError';
  }
}

export class AgentRefusedError extends FleetError {
  constructor(message: string) {
    super(message, 'AGENT_REFUSED', ErrorKind.Unauthenticated);
    this.name = 'AgentRefusedError';
  }
}

export class NotAuthenticatedError extends FleetError {
  constructor(message = 'missing or unknown API token (run `fleet login`)') {
    super(message, 'NOT_AUTHENTICATED', ErrorKind.Unauthenticated);
    this.name = 'NotAuthenticatedError';
  }
}

export class ForbiddenError extends FleetError {
  constructor(role: string, needed: string) {
    super(`this needs the ${needed} role; your token has ${role}`, 'FORBIDDEN', ErrorKind.Forbidden);
    this.name = 'ForbiddenError';
  }
}

export class NodeNotFoundError extends FleetError {
  constructor(readonly node: string) {
    super(`no node named or with id ${quote(node)}`, 'NODE_NOT_FOUND', ErrorKind.NotFound);
    this.name = 'NodeNotFoundError';
  }
}

export class JobNotFoundError extends FleetError {
  constructor(readonly job: string) {
    super(`no job ${quote(job)}`, 'JOB_NOT_FOUND', ErrorKind.NotFound);
    this.name = 'JobNotFoundError';
  }
}

export class TokenNotFoundError extends FleetError {
  constructor(readonly token: string) {
    super(`no join token ${quote(token)}`, 'TOKEN_NOT_FOUND', ErrorKind.NotFound);
    this.name = 'TokenNotFoundError';
  }
}

export class ApiTokenNotFoundError extends FleetError {
  constructor(readonly id: string) {
    super(`no API token "${id}" (see \`fleet api-tokens list --all\`)`, 'API_TOKEN_NOT_FOUND', ErrorKind.NotFound);
    this.name = 'ApiTokenNotFoundError';
  }
}

export class InvalidRequestError extends FleetError {
  constructor(message: string) {
    super(message, 'INVALID_REQUEST', ErrorKind.Invalid);
    this.name = 'InvalidRequestError';
  }
}

export class NoTargetsError extends FleetError {
  constructor(what: string) {
    super(`no node matches ${what}`, 'NO_TARGETS', ErrorKind.NotFound);
    this.name = 'NoTargetsError';
  }
}

export class StartupError extends FleetError {
  constructor(message: string, cause?: unknown) {
    super(message, 'STARTUP', ErrorKind.Unavailable, { cause });
    this.name = 'StartupError';
  }
}

export class SessionNotFoundError extends FleetError {
  constructor(readonly session: string) {
    super(`no session ${quote(session)}`, 'SESSION_NOT_FOUND', ErrorKind.NotFound);
    this.name = 'SessionNotFoundError';
  }
}

export class RolloutNotFoundError extends FleetError {
  constructor(readonly rollout: string) {
    super(`no rollout ${quote(rollout)}`, 'ROLLOUT_NOT_FOUND', ErrorKind.NotFound);
    this.name = 'RolloutNotFoundError';
  }
}

/** A rollout names a revision the store does not hold. */
export class RevisionNotFoundError extends FleetError {
  constructor(
    readonly spec: string,
    readonly revision: number,
  ) {
    super(`spec ${spec} has no revision ${revision}`, 'REVISION_NOT_FOUND', ErrorKind.NotFound);
    this.name = 'RevisionNotFoundError';
  }
}

/** A rollout of the same spec is still going, or the rollout is not in a state that allows the request. */
export class RolloutConflictError extends FleetError {
  constructor(message: string) {
    super(message, 'ROLLOUT_CONFLICT', ErrorKind.Conflict);
    this.name = 'RolloutConflictError';
  }
}

/** An uploaded file was refused (too big, checksum mismatch, malformed upload). */
export class HostedFileError extends FleetError {
  constructor(message: string) {
    super(message, 'HOSTED_FILE', ErrorKind.Invalid);
    this.name = 'HostedFileError';
  }
}

/** The data given to a blob store was not the size announced (a hosted file's upload, say). */
export class BlobSizeError extends HostedFileError {
  constructor(message: string) {
    super(message);
    this.name = 'BlobSizeError';
  }
}

/** The data given to a blob store did not have the SHA-256 announced, or the digest is not one. */
export class BlobDigestError extends HostedFileError {
  constructor(message: string) {
    super(message);
    this.name = 'BlobDigestError';
  }
}

export class MachineNotFoundError extends FleetError {
  constructor(readonly machine: string) {
    super(`no machine named, with id or with MAC ${quote(machine)} (fleet machines list)`, 'MACHINE_NOT_FOUND', ErrorKind.NotFound);
    this.name = 'MachineNotFoundError';
  }
}

export class MachineConflictError extends FleetError {
  constructor(message: string) {
    super(message, 'MACHINE_CONFLICT', ErrorKind.Conflict);
    this.name = 'MachineConflictError';
  }
}

/** The machine booted unknown and waits for approval; the agent tries again later. */
export class MachinePendingError extends FleetError {
  constructor(readonly machine: string) {
    super(`machine ${machine} waits for approval (fleet machines approve ${machine}); trying again later`, 'MACHINE_PENDING', ErrorKind.Unavailable);
    this.name = 'MachinePendingError';
  }
}

/** A wrong token from an address held back after too many of them (a valid token is never refused). */
export class TooManySignInsError extends FleetError {
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed sign-ins from this address (wrong or revoked tokens); try again in ${retryAfterSeconds} s`, 'TOO_MANY_SIGN_INS', ErrorKind.Exhausted);
    this.name = 'TooManySignInsError';
  }
}

export class OutOfScopeError extends FleetError {
  constructor(readonly scope: string, what: string) {
    super(`your token is limited to nodes matching "${scope}": ${what}`, 'OUT_OF_SCOPE', ErrorKind.Forbidden);
    this.name = 'OutOfScopeError';
  }
}

export class NodeRemovedError extends FleetError {
  constructor(readonly node: string, removedAt: number) {
    super(`node ${node} was removed from the fleet on ${new Date(removedAt).toISOString()}; enroll it again with a new join token`, 'NODE_REMOVED', ErrorKind.Unauthenticated);
    this.name = 'NodeRemovedError';
  }
}

/** `fleet-server backup` could not make a complete, verified backup. */
export class BackupFailedError extends FleetError {
  constructor(message: string, cause?: unknown) {
    super(message, 'BACKUP_FAILED', ErrorKind.Unavailable, { cause });
    this.name = 'BackupFailedError';
  }
}

/** A backup file that is not a fleet backup, or is truncated or damaged. */
export class BackupCorruptError extends FleetError {
  constructor(message: string, cause?: unknown) {
    super(message, 'BACKUP_CORRUPT', ErrorKind.Invalid, { cause });
    this.name = 'BackupCorruptError';
  }
}

/** `fleet-server restore` will not write into that data directory (not empty, or in use). */
export class RestoreRefusedError extends FleetError {
  constructor(message: string) {
    super(message, 'RESTORE_REFUSED', ErrorKind.Conflict);
    this.name = 'RestoreRefusedError';
  }
}
