// Failures of the web app (sign-in, cookie sessions, CSRF, request bodies). Each carries an
// ErrorKind, which web-app.ts maps to an HTTP status the same way the gRPC side maps it to a code.
import { ErrorKind, FleetError } from '../../common/errors';

export class NotSignedInError extends FleetError {
  constructor(message = 'not signed in (or the session expired): sign in again') {
    super(message, 'NOT_SIGNED_IN', ErrorKind.Unauthenticated);
    this.name = 'NotSignedInError';
  }
}

export class CsrfError extends FleetError {
  constructor() {
    super('missing or wrong CSRF token (x-csrf-token): reload the page', 'CSRF', ErrorKind.Forbidden);
    this.name = 'CsrfError';
  }
}

export class CrossOriginError extends FleetError {
  constructor() {
    super('cross-origin requests are not accepted', 'CROSS_ORIGIN', ErrorKind.Forbidden);
    this.name = 'CrossOriginError';
  }
}

export { TooManySignInsError } from '../errors';

export class BadRequestBodyError extends FleetError {
  constructor(message: string, cause?: unknown) {
    super(message, 'BAD_REQUEST_BODY', ErrorKind.Invalid, { cause });
    this.name = 'BadRequestBodyError';
  }
}

export class BodyTooLargeError extends FleetError {
  constructor(readonly limit: number) {
    super(`the body is larger than ${limit} bytes`, 'BODY_TOO_LARGE', ErrorKind.Invalid);
    this.name = 'BodyTooLargeError';
  }
}

export class RouteNotFoundError extends FleetError {
  constructor(readonly path: string) {
    super(`no such API: ${path}`, 'ROUTE_NOT_FOUND', ErrorKind.NotFound);
    this.name = 'RouteNotFoundError';
  }
}

export class MethodNotAllowedError extends FleetError {
  constructor(readonly method: string) {
    super(`method ${method} is not allowed here`, 'METHOD_NOT_ALLOWED', ErrorKind.Invalid);
    this.name = 'MethodNotAllowedError';
  }
}
