// Failures of the gRPC transport itself (as opposed to the handlers behind it).
import { ErrorKind, FleetError } from '../../common/errors';

/** A request whose bytes are not a valid protobuf message of the method's request type. */
export class MalformedRequestError extends FleetError {
  constructor(
    readonly method: string,
    cause?: unknown,
  ) {
    const why = cause instanceof Error && cause.message ? ` (${cause.message.slice(0, 200)})` : '';
    super(`malformed request to ${method}: the message does not decode as its protobuf request type${why}`, 'MALFORMED_REQUEST', ErrorKind.Invalid, { cause });
    this.name = 'MalformedRequestError';
  }
}
