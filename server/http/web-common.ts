// Pieces the web app's HTTP routes and its WebSocket share: the error → HTTP status mapping,
// the same-origin check and the security headers sent with every web response.
import type { IncomingMessage } from 'node:http';
import type { FastifyHelmetOptions } from '@fastify/helmet';
import { ErrorKind, FleetError } from '../../common/errors';
import { BodyTooLargeError, MethodNotAllowedError } from './errors';

/**
 * The security headers of every web response (@fastify/helmet): no framing, no sniffing, no
 * referrer, scripts and connections only from here; helmet's other headers are off, so the set is
 * the one fleet always sent.
 */
export const SECURITY_HEADERS: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      'default-src': ["'self'"],
      'script-src': ["'self'"],
      'style-src': ["'self'", "'unsafe-inline'"],
      'img-src': ["'self'", 'data:'],
      'connect-src': ["'self'"],
      'object-src': ["'none'"],
      'base-uri': ["'none'"],
      'form-action': ["'self'"],
      'frame-ancestors': ["'none'"],
    },
  },
  xContentTypeOptions: true,
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  crossOriginOpenerPolicy: { policy: 'same-origin' },
  crossOriginResourcePolicy: { policy: 'same-origin' },
  crossOriginEmbedderPolicy: false,
  originAgentCluster: false,
  strictTransportSecurity: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xPoweredBy: false,
  xXssProtection: false,
};

const STATUS_BY_KIND: Record<ErrorKind, number> = {
  [ErrorKind.Invalid]: 400,
  [ErrorKind.Unauthenticated]: 401,
  [ErrorKind.Forbidden]: 403,
  [ErrorKind.NotFound]: 404,
  [ErrorKind.Conflict]: 409,
  [ErrorKind.Unavailable]: 503,
  [ErrorKind.Exhausted]: 429,
};

/** The HTTP status for a thrown error; unknown errors are 500 and their text stays in the log. */
export function httpStatus(err: unknown): number {
  if (err instanceof MethodNotAllowedError) return 405;
  if (err instanceof BodyTooLargeError) return 413;
  if (err instanceof FleetError) return STATUS_BY_KIND[err.kind];
  return 500;
}

/** True when the request comes from this origin (or says nothing about where it comes from). */
export function sameOrigin(req: IncomingMessage): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return origin === `https://${req.headers.host ?? ''}`;
}

/**
 * The request's URL, or null when the request target does not parse (such as `//[`, which
 * `new URL` rejects): the client's mistake, to be answered 400, never a thrown error.
 */
export function requestUrl(target: string | undefined, base: string): URL | null {
  try {
    return new URL(target ?? '/', base);
  } catch {
    return null;
  }
}
