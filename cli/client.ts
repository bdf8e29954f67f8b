// A promise-based Control client built from a context: TLS pinned to the context's CA, the API
// token as a bearer header on every call, and server errors turned into FleetErrors.
import { Metadata, credentials, type ClientDuplexStream, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { formatHostPort, parseServerAddress } from '../common/address';
import { ControlServiceClient, type JobEvent, type RecordingChunk, type ShellClientFrame, type ShellServerFrame, type UpgradeAgentsRequest, type UpgradeEvent } from '../proto/gen/fleet/v1/control';
import { CLIENT_CHANNEL_OPTIONS, fromGrpcError, isServiceError } from '../transport';
import type { Context } from './context';

type Unary<Req, Res> = (request: Req, metadata: Metadata, callback: (err: ServiceError | null, res: Res) => void) => unknown;
type UnaryMethod = Exclude<keyof ControlServiceClient, 'watchJob' | 'upgradeAgents' | 'shell' | 'getRecording' | keyof import('@grpc/grpc-js').Client>;
// The last overload of each generated method is (request, metadata, options, callback).
type RequestOf<K extends UnaryMethod> = Parameters<ControlServiceClient[K]>[0];
type ResponseOf<K extends UnaryMethod> = Parameters<Extract<Parameters<ControlServiceClient[K]>[3], (...a: never[]) => unknown>>[1];

export class ControlClient {
  readonly #client: ControlServiceClient;
  readonly #metadata = new Metadata();

  constructor(context: Context) {
    const creds = credentials.createSsl(Buffer.from(context.caPem));
    this.#client = new ControlServiceClient(formatHostPort(parseServerAddress(context.server)), creds, CLIENT_CHANNEL_OPTIONS);
    this.#metadata.set('authorization', `Bearer ${context.token}`);
  }

  /** Calls a unary method by name, e.g. `client.call('listNodes', { selector: '' })`. */
  call<K extends UnaryMethod>(method: K, request: RequestOf<K>): Promise<NonNullable<ResponseOf<K>>> {
    const fn = (this.#client[method] as unknown as Unary<unknown, unknown>).bind(this.#client);
    return new Promise((resolve, reject) => {
      fn(request, this.#metadata, (err, res) => {
        if (err) reject(isServiceError(err) ? fromGrpcError(err) : err);
        else resolve(res as never);
      });
    });
  }

  /** Follows a job; events arrive until `done`. */
  watchJob(id: string): ClientReadableStream<JobEvent> {
    return this.#client.watchJob({ id }, this.#metadata);
  }

  /** Starts an upgrade and follows it; events arrive until `done`. */
  upgradeAgents(request: UpgradeAgentsRequest): ClientReadableStream<UpgradeEvent> {
    return this.#client.upgradeAgents(request, this.#metadata);
  }

  /** Opens a shell stream; the first frame written must be `start`. */
  shell(): ClientDuplexStream<ShellClientFrame, ShellServerFrame> {
    return this.#client.shell(this.#metadata);
  }

  /** Streams a session's asciicast recording. */
  getRecording(id: string): ClientReadableStream<RecordingChunk> {
    return this.#client.getRecording({ id }, this.#metadata);
  }

  close(): void {
    this.#client.close();
  }
}
