// The one mapping between fleet errors and gRPC statuses, both ways. Unknown errors become
// INTERNAL with a generic message; the caller logs the real one on the server only.
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { ErrorKind, FleetError } from '../../common/errors';

const KIND_TO_STATUS: Record<ErrorKind, status> = {
  [ErrorKind.Invalid]: status.INVALID_ARGUMENT,
  [ErrorKind.Unauthenticated]: status.UNAUTHENTICATED,
  [ErrorKind.Forbidden]: status.PERMISSION_DENIED,
  [ErrorKind.NotFound]: status.NOT_FOUND,
  [ErrorKind.Conflict]: status.FAILED_PRECONDITION,
  [ErrorKind.Unavailable]: status.UNAVAILABLE,
  [ErrorKind.Exhausted]: status.RESOURCE_EXHAUSTED,
};

const STATUS_TO_KIND = new Map<number, ErrorKind>(Object.entries(KIND_TO_STATUS).map(([k, v]) => [v, k as ErrorKind]));

/** Trailer that carries the fleet error code, so clients can tell failures apart without parsing text. */
export const ERROR_CODE_TRAILER = 'fleet-error-code';

/** Converts any thrown value into a gRPC status. `known` is false for unexpected errors. */
export function toGrpcStatus(err: unknown): { status: Partial<StatusObject> & { code: status; details: string }; known: boolean } {
  if (err instanceof FleetError) {
    const metadata = new Metadata();
    metadata.set(ERROR_CODE_TRAILER, err.code);
    return { status: { code: KIND_TO_STATUS[err.kind], details: err.message, metadata }, known: true };
  }
  return { status: { code: status.INTERNAL, details: 'internal server error (see the server log)' }, known: false };
}

/** A FleetError rebuilt on the client from a gRPC error, keeping the server's code and message. */
export class RemoteError extends FleetError {
  constructor(
    message: string,
    code: string,
    kind: ErrorKind,
    readonly grpcCode: number,
    /** The server's id for the failed call (its log has a line with it), when it sent one. */
    readonly requestId = '',
  ) {
    super(message, code, kind);
    this.name = 'RemoteError';
  }
}

/** Trailer (and header) with the server's id for the call, quoted in client error messages. */
export const REQUEST_ID_TRAILER = 'x-request-id';

/**
 * Rebuilds a client-side error from a grpc-js ServiceError. When the server named the call
 * (`x-request-id`), the message ends with "(request id: …)" so the operator can find it in the
 * server log.
 */
export function fromGrpcError(err: ServiceError): RemoteError {
  const code = (err.metadata?.get(ERROR_CODE_TRAILER)[0] as string | undefined) ?? status[err.code] ?? 'UNKNOWN';
  const kind = STATUS_TO_KIND.get(err.code) ?? ErrorKind.Unavailable;
  const requestId = err.metadata?.get(REQUEST_ID_TRAILER)[0];
  const id = typeof requestId === 'string' ? requestId : '';
  return new RemoteError(`${err.details || err.message}${id ? ` (request id: ${id})` : ''}`, code, kind, err.code, id);
}

/** True when a value looks like a grpc-js ServiceError. */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as ServiceError).code === 'number' && 'details' in err;
}
