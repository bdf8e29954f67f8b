// A promise-based Control client built from a context: TLS pinned to the context's CA, the API
// token as a bearer header on every call, requests checked against the server's limits before
// they are sent (common/limits.ts), a deadline on every unary call, and failures turned into
// FleetErrors that say what failed, where, and what to check.
import { Metadata, connectivityState, credentials, status, type ClientDuplexStream, type ClientReadableStream, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import { formatHostPort, parseServerAddress } from '../common/address';
import { formatDuration } from '../common/duration';
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
import { CLIENT_CHANNEL_OPTIONS, ERROR_CODE_TRAILER, ServerUnreachableError, droppedMidCall, fromGrpcError, isServiceError } from '../transport';
import type { Context } from './context';
import { ConnectionLostError, RequestTimeoutError, ServerNotAnsweringError } from './errors';

type Unary<Req, Res> = (request: Req, metadata: Metadata, options: { deadline?: number }, callback: (err: ServiceError | null, res: Res) => void) => unknown;
type UnaryMethod = Exclude<keyof ControlServiceClient, 'watchJob' | 'upgradeAgents' | 'shell' | 'getRecording' | 'watchRollout' | 'uploadFile' | keyof import('@grpc/grpc-js').Client>;
// The last overload of each generated method is (request, metadata, options, callback).
type RequestOf<K extends UnaryMethod> = Parameters<ControlServiceClient[K]>[0];
type ResponseOf<K extends UnaryMethod> = Parameters<Extract<Parameters<ControlServiceClient[K]>[3], (...a: never[]) => unknown>>[1];

/** How long a unary call may take unless `--request-timeout` says otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Calls that wait on nodes get longer by default: a plan waits up to 60 s for each node's answer. */
const SLOW_CALL_TIMEOUT_MS: Partial<Record<UnaryMethod, number>> = { planSpec: 90_000 };
/** How long to wait for the TLS and HTTP/2 handshake before saying the server does not answer. */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The CLI's channel: keepalive pings every 10 s with 5 s to answer, so a stream to a server that
 * died without closing the connection (power cut, cable) ends within about 15 s. The server
 * accepts pings every 5 s (`grpc.http2.min_ping_interval_without_data_ms`).
 */
const CLI_CHANNEL_OPTIONS = { ...CLIENT_CHANNEL_OPTIONS, 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 } as const;

export interface ControlClientOptions {
  /** Deadline for each unary call; 0 waits for ever; undefined uses the defaults above. */
  requestTimeoutMs?: number;
}

export class ControlClient {
  readonly #client: ControlServiceClient;
  readonly #metadata = new Metadata();
  /** `host:port` as dialled, for messages. */
  readonly #address: string;
  readonly #requestTimeoutMs: number | undefined;
  #connected: Promise<void> | undefined;

  constructor(context: Context, options: ControlClientOptions = {}) {
    const creds = credentials.createSsl(Buffer.from(context.caPem));
    this.#address = formatHostPort(parseServerAddress(context.server));
    this.#client = new ControlServiceClient(this.#address, creds, CLI_CHANNEL_OPTIONS);
    this.#metadata.set('authorization', `Bearer ${context.token}`);
    this.#requestTimeoutMs = options.requestTimeoutMs;
  }

  /**
   * Calls a unary method by name, e.g. `client.call('listNodes', { selector: '' })`.
   * @throws FieldTooLongError (before sending) when a text field is over the server's limit;
   *   ServerUnreachableError or ServerNotAnsweringError when the server cannot be reached,
   *   RequestTimeoutError past the deadline, RemoteError for what the server refused.
   */
  async call<K extends UnaryMethod>(method: K, request: RequestOf<K>): Promise<NonNullable<ResponseOf<K>>> {
    check(method, request);
    await this.#connect();
    const timeoutMs = this.#requestTimeoutMs ?? SLOW_CALL_TIMEOUT_MS[method] ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const fn = (this.#client[method] as unknown as Unary<unknown, unknown>).bind(this.#client);
    return await new Promise((resolve, reject) => {
      fn(request, this.#metadata, timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {}, (err, res) => {
        if (!err) return resolve(res as never);
        if (isServiceError(err) && err.code === status.DEADLINE_EXCEEDED && !err.metadata?.get(ERROR_CODE_TRAILER).length) {
          return reject(new RequestTimeoutError(this.#address, method, formatDuration(timeoutMs)));
        }
        reject(this.toError(err));
      });
    });
  }

  /**
   * The error a failed call or stream should be reported as: a connection failure becomes
   * ServerUnreachableError (where, why, what to check); a server's refusal a RemoteError.
   */
  toError(err: unknown): Error {
    if (!isServiceError(err)) return err as Error;
    // grpc-js's own statuses (no fleet error code): the connection, not the server, failed.
    if (!err.metadata?.get(ERROR_CODE_TRAILER).length) {
      if ((err.code === status.UNAVAILABLE || err.code === status.CANCELLED) && droppedMidCall(err.details)) return new ConnectionLostError(this.#address);
      if (err.code === status.UNAVAILABLE) return new ServerUnreachableError(this.#address, err.details || err.message);
    }
    return fromGrpcError(err);
  }

  /**
   * Waits (once per client) until the channel is connected or has failed; a failure is then
   * reported by the call itself, with its reason. A server that accepts the connection and never
   * completes the handshake would otherwise hold every call and stream for ever.
   */
  #connect(): Promise<void> {
    this.#connected ??= new Promise<void>((resolve, reject) => {
      const channel = this.#client.getChannel();
      const waitMs = this.#requestTimeoutMs ? Math.min(CONNECT_TIMEOUT_MS, this.#requestTimeoutMs) : CONNECT_TIMEOUT_MS;
      const deadline = Date.now() + waitMs;
      const check = () => {
        const state = channel.getConnectivityState(true);
        if (state === connectivityState.READY || state === connectivityState.TRANSIENT_FAILURE) return resolve();
        channel.watchConnectivityState(state, deadline, (err) => (err ? reject(new ServerNotAnsweringError(this.#address, formatDuration(waitMs))) : check()));
      };
      check();
    });
    return this.#connected;
  }

  /** Follows a job; events arrive until `done`. */
  async watchJob(id: string): Promise<ClientReadableStream<JobEvent>> {
    check('watchJob', { id });
    await this.#connect();
    return this.#client.watchJob({ id }, this.#metadata);
  }

  /** Starts an upgrade and follows it; events arrive until `done`. */
  async upgradeAgents(request: UpgradeAgentsRequest): Promise<ClientReadableStream<UpgradeEvent>> {
    check('upgradeAgents', request);
    await this.#connect();
    return this.#client.upgradeAgents(request, this.#metadata);
  }

  /** Opens a shell stream and sends its `start` frame. */
  async shell(start: ShellStart): Promise<ClientDuplexStream<ShellClientFrame, ShellServerFrame>> {
    const frame: ShellClientFrame = { body: { $case: 'start', value: start } };
    check('shell', frame);
    await this.#connect();
    const call = this.#client.shell(this.#metadata);
    call.write(frame);
    return call;
  }

  /** Streams a session's asciicast recording. */
  async getRecording(id: string): Promise<ClientReadableStream<RecordingChunk>> {
    check('getRecording', { id });
    await this.#connect();
    return this.#client.getRecording({ id }, this.#metadata);
  }

  /** Follows a rollout: its state now, then again at every change, until it ends. */
  async watchRollout(id: string): Promise<ClientReadableStream<Rollout>> {
    check('watchRollout', { id });
    await this.#connect();
    return this.#client.watchRollout({ id }, this.#metadata);
  }

  /**
   * Uploads a file for specs to use: `info` first, then `chunks` (each at most 1 MiB) as data
   * frames. Stops sending early when the server answers before the end (it already had the file).
   */
  async uploadFile(info: UploadFileInfo, chunks: AsyncIterable<Buffer>): Promise<UploadFileResponse> {
    check('uploadFile', { body: { $case: 'info', value: info } });
    await this.#connect();
    return await new Promise((resolve, reject) => {
      let done = false;
      let answered!: () => void;
      const answer = new Promise<void>((r) => (answered = r));
      const finish = (err: unknown, res?: UploadFileResponse) => {
        if (done) return;
        done = true;
        answered();
        if (err) reject(this.toError(err));
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
