// Requests refused before any handler sees them. grpc-js answers bytes that do not decode with
// INTERNAL "Error deserializing request", which reads as a server bug; they are the client's
// mistake. And a request that decodes may still carry a text field far over its limit
// (common/limits.ts): answered with the whole value echoed, a 16 MiB name made an error trailer
// no HTTP/2 client accepts (the call was never answered, and the server kept the connection).
// Services registered through `tolerantDecoding` hand such a request on as a marker instead, and
// `malformedRequestInterceptor` answers the marker with INVALID_ARGUMENT naming the method (and
// the field and its limit). Used for the Control, Agent and reflection services.
import { ServerInterceptingCall, type Server, type ServerInterceptor, type ServiceDefinition } from '@grpc/grpc-js';
import { FieldTooLongError } from '../../common/errors';
import { checkRequest } from '../../common/limits';
import { MalformedRequestError } from './errors';
import { toGrpcStatus } from './status';

/** Stands in for a request message that did not decode or has a field over its limit. */
class Refused {
  constructor(readonly error: MalformedRequestError | FieldTooLongError) {}
}

/**
 * The same service definition with every request deserializer made total: bytes that do not
 * decode, or decode to a text field over its limit, become a marker for
 * `malformedRequestInterceptor` instead of an exception or a request.
 * @example server.addService(tolerantDecoding(ControlServiceService), implementation)
 */
export function tolerantDecoding<T extends ServiceDefinition>(service: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        let request: unknown;
        try {
          request = method.requestDeserialize(bytes);
        } catch (err) {
          return new Refused(new MalformedRequestError(method.path, err));
        }
        try {
          checkRequest(method.path, request);
        } catch (err) {
          if (err instanceof FieldTooLongError) return new Refused(err);
          throw err;
        }
        return request;
      },
    };
  }
  return out as T;
}

/**
 * A server for libraries that register their own services (@grpc/reflection's `addToServer`):
 * every service they add goes through `tolerantDecoding`.
 */
export function tolerantServer(server: Pick<Server, 'addService'>): Pick<Server, 'addService'> {
  return { addService: (service, implementation) => server.addService(tolerantDecoding(service), implementation) };
}

/**
 * Answers a refused request with INVALID_ARGUMENT (give it to the Server's `interceptors`), and
 * nothing after it. On a bidirectional stream the handler may still have answers queued behind
 * one being written (a Heartbeat's reply): those are dropped, as is anything the handler sends
 * later. One written after the status reached HTTP/2 after the stream's end and left the
 * connection unusable for every other call on it.
 */
export const malformedRequestInterceptor: ServerInterceptor = (_method, call) => {
  let refused = false;
  return new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMessage(message, pass) {
          if (!(message instanceof Refused)) {
            if (!refused) pass(message);
            return;
          }
          if (refused) return;
          refused = true;
          call.sendStatus(toGrpcStatus(message.error).status);
        },
      });
    },
    sendMessage(message, next) {
      if (!refused) next(message);
    },
    sendStatus(status, next) {
      if (!refused) next(status);
    },
  });
};
