// Requests whose bytes do not decode. grpc-js answers them with INTERNAL "Error deserializing
// request", which reads as a server bug; they are the client's mistake. Services registered
// through `tolerantDecoding` hand such a request on as a marker instead of throwing, and
// `malformedRequestInterceptor` answers the marker with INVALID_ARGUMENT naming the method,
// before any handler sees it. Used for both the Control and the Agent service.
import { ServerInterceptingCall, type ServerInterceptor, type ServiceDefinition } from '@grpc/grpc-js';
import { MalformedRequestError } from './errors';
import { toGrpcStatus } from './status';

/** Stands in for a request message that did not decode. */
class Undecodable {
  constructor(readonly error: MalformedRequestError) {}
}

/**
 * The same service definition with every request deserializer made total: bytes that do not
 * decode become a marker for `malformedRequestInterceptor` instead of an exception.
 * @example server.addService(tolerantDecoding(ControlServiceService), implementation)
 */
export function tolerantDecoding<T extends ServiceDefinition>(service: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          return new Undecodable(new MalformedRequestError(method.path, err));
        }
      },
    };
  }
  return out as T;
}

/** Answers a request that did not decode with INVALID_ARGUMENT (give it to the Server's `interceptors`). */
export const malformedRequestInterceptor: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMessage(message, pass) {
          if (message instanceof Undecodable) return call.sendStatus(toGrpcStatus(message.error).status);
          pass(message);
        },
      });
    },
  });
