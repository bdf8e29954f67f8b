// The gRPC adapter of the Control service (what the CLI talks to): reads the bearer token and the
// peer's address from each call, lets the service layer (server/services) do the rest, and maps
// its answers and errors onto grpc-js calls and statuses. Typed by the generated
// ControlServiceServer, so the contract (proto/fleet/v1/control.proto) is checked by tsc.
import type { Logger } from 'pino';
import type { handleUnaryCall, Metadata, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { ErrorKind, FleetError } from '../common/errors';
import type { ControlServiceServer, ShellClientFrame, UploadFileFrame, UploadFileResponse } from '../proto/gen/fleet/v1/control';
import { toGrpcStatus } from '../transport';
import { peerAddress } from './auth';
import { HostedFileError, InvalidRequestError, TooManySignInsError } from './errors';
import type { Caller, Services, UploadInfo } from './services';
import type { ShellSession } from './shells';
import { HELD_BACK_PAUSE_MS } from './sign-in-limiter';

export interface ControlDeps {
  services: Services;
  log: Logger;
}

/** What every grpc-js call offers: its metadata and peer. */
type AnyCall = { metadata: Metadata; getPeer(): string };

/** The bearer token a call carries ('' when none). */
function bearer(call: AnyCall): string {
  const header = call.metadata.get('authorization')[0];
  return typeof header === 'string' ? header.replace(/^Bearer\s+/i, '') : '';
}

/** Builds the typed ControlService implementation for grpc-js. */
export function createControlService(d: ControlDeps): ControlServiceServer {
  const { services: s, log } = d;

  /** The caller of a call, for `operation` (a refused token is audited by the gate). */
  const callerOf = (call: AnyCall, operation: string): Promise<Caller> => s.gate.authenticate(bearer(call), peerAddress(call.getPeer()), operation);

  /** The gRPC status for an error (logged when it is not a fleet error: a bug). */
  const statusOf = (err: unknown, what: string) => {
    const { status, known } = toGrpcStatus(err);
    if (!known || !(err instanceof FleetError)) log.error({ err }, `${what} failed`);
    return status;
  };
  /** Answers an error; a held-back address waits for its refusal (a guesser that ignores Retry-After is slowed). */
  const later = (err: unknown, answer: () => void) => (err instanceof TooManySignInsError ? void setTimeout(answer, HELD_BACK_PAUSE_MS) : answer());

  /** A unary method: authenticate, call the service, answer. */
  function unary<Req, Res>(operation: string, handler: (caller: Caller, request: Req) => Promise<Res>): handleUnaryCall<Req, Res> {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      void (async () => handler(await callerOf(call, operation), call.request))().then(
        (value) => callback(null, value),
        (err: unknown) => later(err, () => callback(statusOf(err, operation))),
      );
    };
  }

  /** Ends a server stream with an error status (after the pause for a held-back address). */
  const failStream = (call: { emit(event: 'error', ...args: unknown[]): boolean }, err: unknown, operation: string) => later(err, () => call.emit('error', statusOf(err, operation)));

  const watchJob: ControlServiceServer['watchJob'] = (call) => {
    let stop = () => {};
    let open = true;
    let release: (() => void) | undefined;
    // One wait for 'drain' shared by every event written meanwhile (a big job's live events would otherwise add a listener each).
    let drained: Promise<void> | undefined;
    const gone = () => {
      open = false;
      stop();
      release?.();
    };
    call.on('cancelled', gone);
    call.on('close', gone);
    void (async () => {
      const caller = await callerOf(call, 'WatchJob');
      const stopFollowing = await s.jobs.watchJob(caller, call.request, (event) => {
        if (!open) return;
        const flowing = call.write(event);
        if (event.body?.$case === 'done') {
          open = false;
          stop();
          call.end();
          return;
        }
        // A reader that cannot keep up holds the replay back instead of filling memory.
        if (!flowing) {
          drained ??= new Promise<void>((resolve) => {
            release = resolve;
            call.once('drain', () => {
              drained = undefined;
              resolve();
            });
          });
          return drained;
        }
      });
      stop = stopFollowing;
      if (!open) stop();
    })().catch((err: unknown) => failStream(call, err, 'WatchJob'));
  };

  const shell: ControlServiceServer['shell'] = (call) => {
    let session: ShellSession | undefined;
    let starting = false;
    let detach = () => {};
    let failed = false;
    let gone = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      failStream(call, err, 'Shell');
    };
    /** Frames that came while the session was being opened, fed to it once it is. */
    const early: ShellClientFrame[] = [];
    const feed = (frame: ShellClientFrame) => {
      const body = frame.body;
      if (!session || !body) return;
      switch (body.$case) {
        case 'input':
          return session.write(Buffer.from(body.value));
        case 'resize':
          return session.resize(body.value.cols, body.value.rows);
        case 'ack':
          return session.ack(Number(body.value));
        case 'eof':
          return session.eof();
        default:
          return;
      }
    };
    call.on('data', (frame: ShellClientFrame) => {
      if (session || starting) {
        if (session) feed(frame);
        else early.push(frame);
        return;
      }
      const body = frame.body;
      if (!body) return;
      if (body.$case !== 'start') return fail(new InvalidRequestError('the first frame of a shell must be start'));
      starting = true;
      const start = body.value;
      void (async () => s.shells.shell(await callerOf(call, 'Shell'), start, 'cli'))().then(
        (opened) => {
          session = opened;
          if (gone) return opened.close('the client disconnected');
          call.write({ body: { $case: 'started', value: { sessionId: opened.id, nodeName: opened.nodeName } } });
          detach = opened.attach({
            output: (data, stream) => call.write({ body: stream === 'out' ? { $case: 'output', value: data } : { $case: 'errorOutput', value: data } }),
            exit: (exitCode, reason) => {
              call.write({ body: { $case: 'exit', value: { exitCode, reason } } });
              call.end();
            },
          });
          for (const f of early.splice(0)) feed(f);
        },
        (err: unknown) => fail(err),
      );
    });
    // A CLI that goes away takes its shell with it (only web sessions wait to be reattached).
    const leave = () => {
      gone = true;
      detach();
      session?.close('the client disconnected');
    };
    // A stream that ends before any start frame is answered, not left open (found by bench/fuzz).
    call.on('end', () => (session || starting ? leave() : fail(new InvalidRequestError('the shell stream ended before its start frame'))));
    call.on('cancelled', leave);
    call.on('error', leave);
  };

  const upgradeAgents: ControlServiceServer['upgradeAgents'] = (call) => {
    // The upgrade goes on if the CLI goes away; it only stops being told.
    let open = true;
    call.on('cancelled', () => (open = false));
    void (async () => {
      const run = await s.nodes.upgradeAgents(await callerOf(call, 'UpgradeAgents'), call.request);
      try {
        await run((event) => open && call.write(event));
      } catch (err) {
        log.error({ err }, 'upgrade failed');
        if (open) call.emit('error', toGrpcStatus(err).status);
        return;
      }
      if (open) call.end();
    })().catch((err: unknown) => failStream(call, err, 'UpgradeAgents'));
  };

  const getRecording: ControlServiceServer['getRecording'] = (call) => {
    void (async () => {
      const { recording: stream } = await s.shells.getRecording(await callerOf(call, 'GetRecording'), call.request);
      stream.on('data', (data) => call.write({ data: data as Buffer }));
      stream.on('end', () => call.end());
      stream.on('error', (err) => call.emit('error', toGrpcStatus(err).status));
      call.on('cancelled', () => stream.destroy());
    })().catch((err: unknown) => failStream(call, err, 'GetRecording'));
  };

  const watchRollout: ControlServiceServer['watchRollout'] = (call) => {
    let stop = () => {};
    let open = true;
    const gone = () => {
      open = false;
      stop();
    };
    call.on('cancelled', gone);
    call.on('close', gone);
    void (async () => {
      stop = await s.state.watchRollout(await callerOf(call, 'WatchRollout'), call.request, (rollout, done) => {
        if (!open) return;
        call.write(rollout);
        if (done) call.end();
      });
      if (!open) stop();
    })().catch((err: unknown) => failStream(call, err, 'WatchRollout'));
  };

  const uploadFile: ControlServiceServer['uploadFile'] = (call, callback) => {
    // The frames wait in the stream (paused) while the token is checked.
    const receive = (caller: Caller) => {
      const frames = call[Symbol.asyncIterator]() as AsyncIterator<UploadFileFrame>;
      const info = async (): Promise<UploadInfo> => {
        const first = await frames.next();
        const value = !first.done && first.value.body?.$case === 'info' ? first.value.body.value : undefined;
        if (!value) throw new HostedFileError('the first frame of an upload must be info');
        return { name: value.name, size: Number(value.size), sha256: value.sha256 };
      };
      async function* data(): AsyncGenerator<Buffer> {
        for (let f = await frames.next(); !f.done; f = await frames.next()) {
          if (f.value.body?.$case !== 'data') throw new HostedFileError('only data frames may follow info');
          yield Buffer.from(f.value.body.value);
        }
      }
      s.state.uploadFile(caller, info, data()).then(
        (res) => callback(null, res),
        (err: unknown) => {
          if (err instanceof FleetError && err.kind === ErrorKind.Forbidden) call.destroy();
          // A client that goes away mid-upload (or whose frames stop decoding) is its own failure, not the server's.
          const cut = (err as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE';
          callback(statusOf(cut ? new HostedFileError('the upload ended before its last frame') : err, 'UploadFile'));
        },
      );
    };
    callerOf(call, 'UploadFile').then(receive, (err: unknown) => {
      call.destroy();
      later(err, () => callback(statusOf(err, 'UploadFile')));
    });
  };

  return {
    whoAmI: unary('WhoAmI', (c) => s.tokens.whoAmI(c)),
    listNodes: unary('ListNodes', (c, req) => s.nodes.listNodes(c, req)),
    getNode: unary('GetNode', (c, req) => s.nodes.getNode(c, req)),
    labelNode: unary('LabelNode', (c, req) => s.nodes.labelNode(c, req)),
    removeNode: unary('RemoveNode', (c, req) => s.nodes.removeNode(c, req)),
    createJoinToken: unary('CreateJoinToken', (c, req) => s.tokens.createJoinToken(c, req)),
    listJoinTokens: unary('ListJoinTokens', (c) => s.tokens.listJoinTokens(c)),
    revokeJoinToken: unary('RevokeJoinToken', (c, req) => s.tokens.revokeJoinToken(c, req)),
    createApiToken: unary('CreateApiToken', (c, req) => s.tokens.createApiToken(c, req)),
    revokeApiToken: unary('RevokeApiToken', (c, req) => s.tokens.revokeApiToken(c, req)),
    listApiTokens: unary('ListApiTokens', (c) => s.tokens.listApiTokens(c)),
    startJob: unary('StartJob', (c, req) => s.jobs.startJob(c, req)),
    listJobs: unary('ListJobs', (c, req) => s.jobs.listJobs(c, req)),
    getJob: unary('GetJob', (c, req) => s.jobs.getJob(c, req)),
    watchJob,
    listAudit: unary('ListAudit', (c, req) => s.audit.listAudit(c, req)),
    upgradeAgents,
    shell,
    listSessions: unary('ListSessions', (c, req) => s.shells.listSessions(c, req)),
    getRecording,
    planSpec: unary('PlanSpec', (c, req) => s.state.planSpec(c, req)),
    applySpec: unary('ApplySpec', (c, req) => s.state.applySpec(c, req)),
    listRollouts: unary('ListRollouts', (c, req) => s.state.listRollouts(c, req)),
    getRollout: unary('GetRollout', (c, req) => s.state.getRollout(c, req)),
    watchRollout,
    pauseRollout: unary('PauseRollout', (c, req) => s.state.pauseRollout(c, req)),
    resumeRollout: unary('ResumeRollout', (c, req) => s.state.resumeRollout(c, req)),
    rollbackRollout: unary('RollbackRollout', (c, req) => s.state.rollbackRollout(c, req)),
    getNodeState: unary('GetNodeState', (c, req) => s.nodes.getNodeState(c, req)),
    listHealth: unary('ListHealth', (c, req) => s.nodes.listHealth(c, req)),
    listHistory: unary('ListHistory', (c, req) => s.state.listHistory(c, req)),
    uploadFile,
    addMachine: unary('AddMachine', (c, req) => s.pxe.addMachine(c, req)),
    listMachines: unary('ListMachines', (c, req) => s.pxe.listMachines(c, req)),
    approveMachine: unary('ApproveMachine', (c, req) => s.pxe.approveMachine(c, req)),
    rejectMachine: unary('RejectMachine', (c, req) => s.pxe.rejectMachine(c, req)),
    removeMachine: unary('RemoveMachine', (c, req) => s.pxe.removeMachine(c, req)),
    reinstallMachine: unary('ReinstallMachine', (c, req) => s.pxe.reinstallMachine(c, req)),
    setPxeConfig: unary('SetPxeConfig', (c, req) => s.pxe.setPxeConfig(c, req)),
    getPxeConfig: unary('GetPxeConfig', (c) => s.pxe.getPxeConfig(c)),
  };
}
