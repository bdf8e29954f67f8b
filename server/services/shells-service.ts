// Shells: open an interactive shell (or a command) on a node, list past and open sessions, read a
// session's recording. Operator role: recordings hold everything a shell printed.
import type { Readable } from 'node:stream';
import type { GetRecordingRequest, ListSessionsRequest, ListSessionsResponse, Session, ShellStart } from '../../proto/gen/fleet/v1/control';
import { InvalidRequestError, SessionNotFoundError } from '../errors';
import type { ShellSession, ShellSessions } from '../shells';
import { Role } from '../store';
import { actorOf, type Caller } from './caller';
import type { Gate } from './gate';
import type { NodesService } from './nodes-service';

/** The most sessions one list answers. */
const MAX_SESSIONS = 500;
/** What a session id looks like (anything else is not one). */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface ShellsDeps {
  gate: Gate;
  shells: ShellSessions;
  nodes: NodesService;
}

export class ShellsService {
  readonly #d: ShellsDeps;

  constructor(d: ShellsDeps) {
    this.#d = d;
  }

  /** Opens a shell on a node the caller may see; the adapter attaches to the session it returns. */
  async shell(caller: Caller, start: ShellStart, source: 'cli' | 'web'): Promise<ShellSession> {
    this.#d.gate.require(caller, Role.Operator);
    await this.#d.nodes.visible(caller, start.node, 'Shell');
    return this.#d.shells.open({
      node: start.node,
      user: actorOf(caller),
      source,
      cols: start.size?.cols ?? 80,
      rows: start.size?.rows ?? 24,
      argv: start.argv,
      pty: start.pty,
      term: start.term,
    });
  }

  /**
   * Takes up a shell the caller opened from the web page again after its connection dropped
   * (within the grace time), from output byte `have` on. Someone else's shell looks the same as
   * one that does not exist.
   * @throws SessionNotFoundError, InvalidRequestError (more bytes claimed than were sent)
   */
  async resume(caller: Caller, id: string, have: number): Promise<ShellSession> {
    this.#d.gate.require(caller, Role.Operator);
    const found = this.#d.shells.resumable(id);
    if (!found || found.user !== actorOf(caller) || found.source !== 'web') throw new SessionNotFoundError(id);
    if (have > found.outputBytes) throw new InvalidRequestError(`the client claims ${have} bytes; the session has only sent ${found.outputBytes}`);
    return found;
  }

  /** How long a shell whose client went away waits to be resumed (FLEET_SHELL_GRACE_MS). */
  reattachGraceMs(): number {
    return this.#d.shells.limits.reattachGraceMs;
  }

  async listSessions(caller: Caller, req: ListSessionsRequest): Promise<ListSessionsResponse> {
    this.#d.gate.require(caller, Role.Operator);
    const nodeId = req.node ? (await this.#d.nodes.visible(caller, req.node, 'ListSessions')).id : undefined;
    const limit = Math.min(req.limit || 20, MAX_SESSIONS);
    return { sessions: await this.#d.gate.access.newestVisible(caller.principal, limit, (n) => this.#d.shells.history(n, nodeId), (s) => [s.nodeId]) };
  }

  /** True while a session can still be attached to. */
  isOpen(id: string): boolean {
    return this.#d.shells.get(id) !== undefined;
  }

  /**
   * A session's record and its asciicast recording (a stream the caller reads or destroys).
   * @throws SessionNotFoundError for an unknown session, one outside the scope, or no recording
   */
  async getRecording(caller: Caller, req: GetRecordingRequest): Promise<{ session: Session; recording: Readable }> {
    this.#d.gate.require(caller, Role.Operator);
    const session = SESSION_ID.test(req.id) ? await this.#d.shells.record(req.id) : undefined;
    if (!session) throw new SessionNotFoundError(req.id);
    if (!(await this.#d.gate.access.seesIds(caller.principal, [session.nodeId]))) {
      await this.#d.gate.hidden(caller, 'GetRecording', `session ${session.id}`);
      throw new SessionNotFoundError(req.id);
    }
    const recording = await this.#d.shells.openRecording(session.id);
    if (!recording) throw new SessionNotFoundError(req.id);
    return { session, recording };
  }
}
