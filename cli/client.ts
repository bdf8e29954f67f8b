// A promise-based Control client built from a context: TLS pinned to the context's CA, the API
// token as a bearer header on every call, requests checked against the server's limits before
// they are sent (common/limits.ts), and server errors turned into FleetErrors.
import { Metadata, credentials, type ClientDuplexStream, type ClientReadableStream, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import { formatHostPort, parseServerAddress } from '../common/address';
import { checkRequest } from '../common/limits';
import {
  ControlServiceClient,
  ControlServiceService,
  type JobEvent,
  type RecordingChunk,
  type Rollout,
  type ShellClientFrame,
  type ShellServerFrame,
  type ShellStart,
  type UpgradeAgentsRequest,
  type UpgradeEvent,
  type UploadFileFrame,
  type UploadFileInfo,
  type UploadFileResponse,
} from '../proto/gen/fleet/v1/control';
import { CLIENT_CHANNEL_OPTIONS, fromGrpcError, isServiceError } from '../transport';
import type { Context } from './context';

type Unary<Req, Res> = (request: Req, metadata: Metadata, callback: (err: ServiceError | null, res: Res) => void) => unknown;
type UnaryMethod = Exclude<keyof ControlServiceClient, 'watchJob' | 'upgradeAgents' | 'shell' | 'getRecording' | 'watchRollout' | 'uploadFile' | keyof import('@grpc/grpc-js').Client>;
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

  /**
   * Calls a unary method by name, e.g. `client.call('listNodes', { selector: '' })`.
   * @throws FieldTooLongError (before sending) when a text field is over the server's limit
   */
  call<K extends UnaryMethod>(method: K, request: RequestOf<K>): Promise<NonNullable<ResponseOf<K>>> {
    const fn = (this.#client[method] as unknown as Unary<unknown, unknown>).bind(this.#client);
    return new Promise((resolve, reject) => {
      check(method, request);
      fn(request, this.#metadata, (err, res) => {
        if (err) reject(isServiceError(err) ? fromGrpcError(err) : err);
        else resolve(res as never);
      });
    });
  }

  /** Follows a job; events arrive until `done`. */
  watchJob(id: string): ClientReadableStream<JobEvent> {
    check('watchJob', { id });
    return this.#client.watchJob({ id }, this.#metadata);
  }

  /** Starts an upgrade and follows it; events arrive until `done`. */
  upgradeAgents(request: UpgradeAgentsRequest): ClientReadableStream<UpgradeEvent> {
    check('upgradeAgents', request);
    return this.#client.upgradeAgents(request, this.#metadata);
  }

  /** Opens a shell stream and sends its `start` frame. */
  shell(start: ShellStart): ClientDuplexStream<ShellClientFrame, ShellServerFrame> {
    const frame: ShellClientFrame = { body: { $case: 'start', value: start } };
    check('shell', frame);
    const call = this.#client.shell(this.#metadata);
    call.write(frame);
    return call;
  }

  /** Streams a session's asciicast recording. */
  getRecording(id: string): ClientReadableStream<RecordingChunk> {
    check('getRecording', { id });
    return this.#client.getRecording({ id }, this.#metadata);
  }

  /** Follows a rollout: its state now, then again at every change, until it ends. */
  watchRollout(id: string): ClientReadableStream<Rollout> {
    check('watchRollout', { id });
    return this.#client.watchRollout({ id }, this.#metadata);
  }

  /**
   * Uploads a file for specs to use: `info` first, then `chunks` (each at most 1 MiB) as data
   * frames. Stops sending early when the server answers before the end (it already had the file).
   */
  uploadFile(info: UploadFileInfo, chunks: AsyncIterable<Buffer>): Promise<UploadFileResponse> {
    return new Promise((resolve, reject) => {
      check('uploadFile', { body: { $case: 'info', value: info } });
      let done = false;
      let answered!: () => void;
      const answer = new Promise<void>((r) => (answered = r));
      const finish = (err: unknown, res?: UploadFileResponse) => {
        if (done) return;
        done = true;
        answered();
        if (err) reject(isServiceError(err) ? fromGrpcError(err) : err);
        else resolve(res!);
      };
      const call: ClientWritableStream<UploadFileFrame> = this.#client.uploadFile(this.#metadata, (err, res) => finish(err, res));
      call.on('error', (err) => finish(err));
      const send = async (frame: UploadFileFrame) => {
        if (!call.write(frame)) await Promise.race([new Promise((r) => call.once('drain', r)), answer]);
      };
      void (async () => {
        await send({ body: { $case: 'info', value: info } });
        for await (const chunk of chunks) {
          if (done) return;
          await send({ body: { $case: 'data', value: chunk } });
        }
        if (!done) call.end();
      })().catch((err: unknown) => {
        call.cancel();
        finish(err);
      });
    });
  }

  close(): void {
    this.#client.close();
  }
}

/** Refuses a request the server would refuse for a text field over its limit, with the same message minus the method. */
function check(method: keyof typeof ControlServiceService, request: unknown): void {
  checkRequest(ControlServiceService[method].path, request, '');
}
