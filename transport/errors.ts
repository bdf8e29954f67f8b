// Failures shared by every transport (those of one transport live in grpc/errors.ts, nats/errors.ts).
import { ErrorKind, FleetError } from '../common/errors';

/** A transport name no factory is registered under (a typo in code or configuration). */
export class UnknownTransportError extends FleetError {
  constructor(
    readonly transport: string,
    readonly known: readonly string[],
  ) {
    super(`unknown agent transport "${transport}" (known: ${known.join(', ')})`, 'UNKNOWN_TRANSPORT', ErrorKind.Invalid);
    this.name = 'UnknownTransportError';
  }
}
