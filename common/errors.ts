// Errors shared by every component: input that does not parse or validate (durations, selectors, labels,
// join tokens, specs and their templates, text fields over their limit).
import { quote } from './format';

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
    super(`invalid duration ${quote(input)}: use forms like 500ms, 30s, 10m, 1h30m`, 'INVALID_DURATION');
    this.name = 'InvalidDurationError';
  }
}

export class InvalidSelectorError extends FleetError {
  constructor(
    readonly input: string,
    detail: string,
  ) {
    super(`invalid selector ${quote(input)}: ${detail}`, 'INVALID_SELECTOR');
    this.name = 'InvalidSelectorError';
  }
}

export class InvalidLabelError extends FleetError {
  constructor(
    readonly input: string,
    detail: string,
  ) {
    super(`invalid label ${quote(input)}: ${detail}`, 'INVALID_LABEL');
    this.name = 'InvalidLabelError';
  }
}

export class MalformedJoinTokenError extends FleetError {
  constructor() {
    super('this is not a fleet join token (expected fj1_<id>_<secret>_<ca-hash>, as printed by `fleet tokens create`)', 'MALFORMED_JOIN_TOKEN');
    this.name = 'MalformedJoinTokenError';
  }
}

/**
 * A text field longer than its limit (common/limits.ts, documented in docs/protocol.md). The
 * message names the field and the limit, never the value.
 */
export class FieldTooLongError extends FleetError {
  constructor(
    /** The field as the request names it, such as `node` or `start.argv[2]`. */
    readonly field: string,
    readonly length: number,
    readonly limit: number,
    /** Where it was sent (the gRPC method), put in front of the message when given. */
    context = '',
  ) {
    super(`${context ? `${context}: ` : ''}${field} is ${length} characters long; the limit is ${limit} (see "Limits" in docs/protocol.md)`, 'FIELD_TOO_LONG', ErrorKind.Invalid);
    this.name = 'FieldTooLongError';
  }
}

/** One thing wrong with a spec file: where it is (1-based line and column), which field, and what. */
export interface SpecProblem {
  line: number;
  col: number;
  /** The field's path, such as `resources[1].path`; empty for the document as a whole (YAML syntax, size). */
  field: string;
  message: string;
}

/**
 * A spec file that cannot be used. The message lists every problem, one per line, as
 * `FILE:LINE:COL: FIELD: MESSAGE` (without `FIELD: ` when the problem concerns the whole document).
 */
export class SpecError extends FleetError {
  constructor(
    readonly fileName: string,
    readonly problems: SpecProblem[],
    options?: { cause?: unknown },
  ) {
    super(
      problems.map((p) => `${fileName}:${p.line}:${p.col}: ${p.field === '' ? '' : `${p.field}: `}${p.message}`).join('\n'),
      'INVALID_SPEC',
      ErrorKind.Invalid,
      options,
    );
    this.name = 'SpecError';
  }
}

/**
 * A spec's templates cannot be filled in for one node: an unknown variable, a label or fact the node
 * lacks, or a filled-in value that makes the result invalid. `subject` names the resource
 * ("file:/etc/app.conf") or check ("check http-ok").
 */
export class TemplateError extends FleetError {
  constructor(
    readonly subject: string,
    detail: string,
    /** The variable at fault, such as "labels.port", when one is. */
    readonly variable?: string,
    options?: { cause?: unknown },
  ) {
    super(`${subject}: ${detail}`, 'TEMPLATE', ErrorKind.Invalid, options);
    this.name = 'TemplateError';
  }
}

/** A shell recording that is not asciicast v2, or one of its lines that is not an event. */
export class CastFormatError extends FleetError {
  constructor(
    detail: string,
    /** The 1-based line at fault, when there is one. */
    readonly line?: number,
    options?: { cause?: unknown },
  ) {
    super(line === undefined ? detail : `recording line ${line}: ${detail}`, 'CAST_FORMAT', ErrorKind.Invalid, options);
    this.name = 'CastFormatError';
  }
}

/** A FLEET_* environment variable whose value does not parse; the message names the variable. */
export class InvalidEnvError extends FleetError {
  constructor(
    readonly variable: string,
    readonly value: string,
    detail: string,
  ) {
    super(`${variable}=${quote(value)}: ${detail}`, 'INVALID_ENV');
    this.name = 'InvalidEnvError';
  }
}
