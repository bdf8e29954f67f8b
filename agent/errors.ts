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

/** A resource names a path that resolves outside the agent's root (through "..", or a symlink). */
export class PathOutsideRootError extends FleetError {
  constructor(
    readonly path: string,
    root: string,
    detail = 'resolves outside',
  ) {
    super(`${path} ${detail} the root ${root}; refusing to touch it`, 'PATH_OUTSIDE_ROOT', ErrorKind.Forbidden);
    this.name = 'PathOutsideRootError';
  }
}

/** A downloaded artifact is not the one the spec pinned. */
export class ChecksumMismatchError extends FleetError {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`sha256 mismatch: expected ${expected}, got ${actual}`, 'SHA256_MISMATCH', ErrorKind.Invalid);
    this.name = 'ChecksumMismatchError';
  }
}

/** Fetching an artifact (binary, .deb) failed. */
export class DownloadFailedError extends FleetError {
  constructor(what: string, cause: unknown) {
    super(`download of ${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, 'DOWNLOAD_FAILED', ErrorKind.Unavailable, { cause });
    this.name = 'DownloadFailedError';
  }
}

/** A command run while converging a resource (exec step, dpkg, systemctl) did not succeed. */
export class ResourceCommandError extends FleetError {
  constructor(
    readonly command: string,
    detail: string,
  ) {
    super(`${command}: ${detail}`, 'RESOURCE_COMMAND_FAILED', ErrorKind.Unavailable);
    this.name = 'ResourceCommandError';
  }
}

/** This node cannot converge the resource as asked (no package manager, no systemd, not root). */
export class ResourceUnsupportedError extends FleetError {
  constructor(reason: string) {
    super(reason, 'RESOURCE_UNSUPPORTED', ErrorKind.Invalid);
    this.name = 'ResourceUnsupportedError';
  }
}

/** Something on disk is in the way of a resource (a directory where a file belongs). */
export class ResourceConflictError extends FleetError {
  constructor(reason: string) {
    super(reason, 'RESOURCE_CONFLICT', ErrorKind.Conflict);
    this.name = 'ResourceConflictError';
  }
}

/** A file resource names an owner or group this host does not know. */
export class UnknownAccountError extends FleetError {
  constructor(kind: 'user' | 'group', account: string) {
    super(`no such ${kind} "${account}" on this host`, 'UNKNOWN_ACCOUNT', ErrorKind.NotFound);
    this.name = 'UnknownAccountError';
  }
}

/** The package manager finished but the package is not at the version the spec asks for. */
export class PackageVersionError extends FleetError {
  constructor(pkg: string, wanted: string, installed: string | null) {
    super(`after installing, ${pkg} is ${installed === null ? 'not installed' : `at ${installed}`}, not ${wanted}`, 'PACKAGE_VERSION', ErrorKind.Conflict);
    this.name = 'PackageVersionError';
  }
}

/** A spec name that cannot be a file name in the agent's state directory. */
export class InvalidSpecNameError extends FleetError {
  constructor(spec: string) {
    super(`invalid spec name "${spec}"`, 'INVALID_SPEC_NAME', ErrorKind.Invalid);
    this.name = 'InvalidSpecNameError';
  }
}

/** A command-line option or FLEET_* variable has a value the agent cannot use. */
export class InvalidOptionError extends FleetError {
  constructor(message: string) {
    super(message, 'INVALID_OPTION');
    this.name = 'InvalidOptionError';
  }
}

/** A signed command this agent has already accepted came again: someone replayed it. */
export class ReplayedCommandError extends CommandRefusedError {
  constructor(readonly commandId: string) {
    super(`replayed command: ${commandId} was already received (refused until it expires)`);
    this.name = 'ReplayedCommandError';
  }
}
