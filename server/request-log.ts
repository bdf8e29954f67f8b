// Request ids and one JSON log line per request: every Control call on the gRPC port and every
// request on the HTTPS port gets an id (the client's `x-request-id` when it is sane, else a new
// one), returned to the client (gRPC metadata and trailers, HTTP header) and logged with the
// method, the API token id, the outcome and the duration, so an operator can grep the server log
// for the id a failing CLI command printed. Auth failures and internal errors are counted too.
import { Metadata, ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, status, type ServerInterceptor } from '@grpc/grpc-js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { parseApiToken } from '../common/join-token';
import type { Metrics } from './metrics';

/** The metadata key and HTTP header carrying the request id, both ways. */
export const REQUEST_ID_HEADER = 'x-request-id';

const CONTROL_PREFIX = '/fleet.v1.ControlService/';
const SANE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The client's request id when it is sane (1-64 of A-Z a-z 0-9 . _ : -), else a new one. */
export function requestIdFrom(incoming: unknown): string {
  return typeof incoming === 'string' && SANE_ID.test(incoming) ? incoming : `r-${randomBytes(8).toString('hex')}`;
}

/** The id of the API token in an `Authorization: Bearer fa1_…` value (not verified: for logs only), or ''. */
function tokenIdOf(authorization: unknown): string {
  if (typeof authorization !== 'string') return '';
  return parseApiToken(authorization.replace(/^Bearer\s+/i, ''))?.id ?? '';
}

/**
 * A grpc-js server interceptor for the Control service: request id in, request id out (initial
 * metadata and trailers, so failed calls carry it too), one log line when the call ends.
 * Calls of other services (the agents' link) pass through untouched.
 */
export function controlRequestInterceptor(log: Logger, metrics: Metrics): ServerInterceptor {
  return (method, call) => {
    // The agents' link (Connect streams carry every heartbeat and output chunk) passes through
    // as it is, without even a pass-through layer.
    if (!method.path.startsWith(CONTROL_PREFIX)) return call as ServerInterceptingCall;
    const started = performance.now();
    const name = method.path.slice(CONTROL_PREFIX.length);
    let requestId = requestIdFrom(undefined);
    let token = '';
    const responder = new ResponderBuilder()
      .withStart((next) => {
        next(
          new ServerListenerBuilder()
            .withOnReceiveMetadata((metadata, nextMetadata) => {
              requestId = requestIdFrom(metadata.get(REQUEST_ID_HEADER)[0]);
              token = tokenIdOf(metadata.get('authorization')[0]);
              // The handler sees the id the server settled on.
              metadata.set(REQUEST_ID_HEADER, requestId);
              nextMetadata(metadata);
            })
            .build(),
        );
      })
      .withSendMetadata((metadata, next) => {
        metadata.set(REQUEST_ID_HEADER, requestId);
        next(metadata);
      })
      .withSendStatus((outcome, next) => {
        const trailers = outcome.metadata ?? new Metadata();
        trailers.set(REQUEST_ID_HEADER, requestId);
        const code = status[outcome.code] ?? String(outcome.code);
        const fields = { requestId, method: name, token, peer: call.getPeer(), status: code, ms: Math.round(performance.now() - started) };
        if (outcome.code === status.OK) log.info(fields, 'control call');
        else if (outcome.code === status.INTERNAL || outcome.code === status.UNKNOWN) {
          metrics.internalError('grpc');
          log.error({ ...fields, error: outcome.details }, 'control call failed');
        } else {
          if (outcome.code === status.UNAUTHENTICATED) metrics.authFailure('grpc');
          log.info({ ...fields, error: outcome.details }, 'control call failed');
        }
        next({ ...outcome, metadata: trailers });
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}

/**
 * Gives an HTTPS request its id (response header `x-request-id`) and logs it when the response
 * is finished (or the connection closed first).
 */
export function logHttpRequest(log: Logger, metrics: Metrics, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
  res.setHeader(REQUEST_ID_HEADER, requestId);
  let logged = false;
  const done = () => {
    if (logged) return;
    logged = true;
    const code = res.headersSent ? res.statusCode : 0;
    const fields = {
      requestId,
      method: req.method,
      path: (req.url ?? '/').split('?')[0],
      token: tokenIdOf(req.headers.authorization),
      status: code,
      ms: Math.round(performance.now() - started),
      ...(res.writableFinished ? {} : { aborted: true }),
    };
    if (code === 401) metrics.authFailure('http');
    if (code >= 500) {
      metrics.internalError('http');
      log.error(fields, 'http request failed');
    } else log.info(fields, 'http request');
  };
  res.once('finish', done);
  res.once('close', done);
}
