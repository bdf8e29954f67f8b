// Errors shared by every component: input that does not parse.

/**
 * What sort of failure an error is, independent of any transport; the gRPC layer maps each kind to
 * one status code (transport/grpc/status.ts).
 */
export const ErrorKind = {
  Invalid: 'invalid',
  Unauthenticated: 'unauthenticated',
  Forbidden: 'forbidden',
  NotFound: 'not-found',
  Conflict: 'conflict',
  Unavailable: 'unavailable',
  Exhausted: 'exhausted',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** Base class: carries a stable code so callers never match on message text. */
export class FleetError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly kind: ErrorKind = ErrorKind.Invalid,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FleetError';
  }
}

export class InvalidDurationError extends FleetError {
  constructor(readonly input: string) {
    super(`invalid duration "${input}": use forms like 500ms, 30s, 10m, 1h30m`, 'INVALID_DURATION');
    this.name = 'InvalidDurationError';
  }
}

export class InvalidSelectorError extends FleetError {
  constructor(
    readonly input: string,
    detail: string,
  ) {
    super(`invalid selector "${input}": ${detail}`, 'INVALID_SELECTOR');
    this.name = 'InvalidSelectorError';
  }
}

export class InvalidLabelError extends FleetError {
  constructor(
    readonly input: string,
    detail: string,
  ) {
    super(`invalid label "${input}": ${detail}`, 'INVALID_LABEL');
    this.name = 'InvalidLabelError';
  }
}

export class MalformedJoinTokenError extends FleetError {
  constructor() {
    super('this is not a fleet join token (expected fj1_<id>_<secret>_<ca-hash>, as printed by `fleet tokens create`)', 'MALFORMED_JOIN_TOKEN');
    this.name = 'MalformedJoinTokenError';
  }
}
