// The JSON API the page reads (GET /api/me, /api/nodes, /api/jobs, /api/rollouts, /api/sessions,
// recordings), as a Fastify plugin registered under /api by web-app.ts, which has already checked
// the session cookie (request.webSession) by the time a handler runs. Shapes live in web-api.ts.
import { createReadStream, existsSync } from 'node:fs';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { parseSelector } from '../../common/labels';
import { checkText, LIMITS } from '../../common/limits';
import type { CheckState } from '../../proto/gen/fleet/v1/common';
import type { AgentHub } from '../agent-hub';
import type { Access } from '../access';
import type { ApiAuth } from '../auth';
import { InvalidRequestError, JobNotFoundError, NodeNotFoundError, RolloutNotFoundError, SessionNotFoundError } from '../errors';
import type { JobDispatcher } from '../jobs/dispatcher';
import type { ShellSessions } from '../shells/sessions';
import type { RolloutEngine } from '../state/rollouts';
import type { NodeStore } from '../store/node-store';
import type { StateStore } from '../store/state-store';
import { Role } from '../store/token-store';
import { NotSignedInError, RouteNotFoundError } from './errors';
import { pathOf } from './fastify-app';
import { jobDetail, jobSummary, nodeDetail, nodeSummary, rolloutDetail, rolloutSummary, sessionView, signedInView } from './web-api';
import { requestUrl } from './web-common';
import type { WebSession } from './web-sessions';

/** What the API routes read. */
export interface WebApiDeps {
  auth: ApiAuth;
  access: Access;
  nodes: NodeStore;
  hub: AgentHub;
  dispatcher: JobDispatcher;
  shells: ShellSessions;
  stateStore: StateStore;
  rollouts: RolloutEngine;
  log: Logger;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The browser session that signed in (set by web-app.ts before an /api handler runs). */
    webSession: WebSession | null;
  }
}

/** The caller's session; the routes only run behind web-app.ts's sign-in check. */
export function sessionOf(request: FastifyRequest): WebSession {
  if (!request.webSession) throw new NotSignedInError();
  return request.webSession;
}

function limitParam(url: URL, fallback: number, max: number): number {
  const text = url.searchParams.get('limit');
  if (text === null || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidRequestError(`limit must be a whole number from 1 to ${max}`);
  return n;
}

/**
 * A path segment (a node name, a job, rollout or session id; decoded by the router) within the
 * limit for names; an empty one (`/api/nodes/`) names no route.
 */
function segment(request: FastifyRequest, decoded: string, field: string): string {
  if (decoded === '') throw new RouteNotFoundError(pathOf(request.url));
  checkText(field, decoded, LIMITS.name);
  return decoded;
}

/** A query parameter ('' when absent), within its limit. */
function param(url: URL, name: string, limit = LIMITS.name): string {
  const value = url.searchParams.get(name) ?? '';
  checkText(name, value, limit);
  return value;
}

/** The request's URL (its target parsed: the HTTPS front answers 400 before a handler for one that does not parse). */
function urlOf(request: FastifyRequest): URL {
  const url = requestUrl(request.url, 'https://x');
  if (!url) throw new InvalidRequestError('malformed request URL');
  return url;
}

/** The read-only API routes (GET only; web-app.ts answers other methods). */
export function webApiRoutes(d: WebApiDeps): FastifyPluginAsync {
  return async (api) => {
    const findNode = async (nameOrId: string) => {
      const node = await d.nodes.find(nameOrId);
      if (!node) throw new NodeNotFoundError(nameOrId);
      return node;
    };

    api.get('/me', async (request) => signedInView(sessionOf(request)));

    api.get('/nodes', async (request) => {
      const { principal } = sessionOf(request);
      const url = urlOf(request);
      const selector = parseSelector(param(url, 'selector', LIMITS.selector));
      const list = (await d.nodes.list()).filter((n) => selector.matches(n.labels) && d.access.sees(principal, n));
      // One query for every node's checks rather than one per node.
      const checks = new Map<string, CheckState[]>();
      for (const c of await d.stateStore.checks()) {
        const forNode = checks.get(c.nodeId);
        if (forNode) forNode.push(c);
        else checks.set(c.nodeId, [c]);
      }
      return { nodes: list.map((n) => nodeSummary(n, d.hub.isOnline(n.id), checks.get(n.id) ?? [])) };
    });

    api.get<{ Params: { name: string } }>('/nodes/:name', async (request) => {
      const { principal } = sessionOf(request);
      const name = segment(request, request.params.name, 'node');
      const node = await findNode(name);
      if (!d.access.sees(principal, node)) throw new NodeNotFoundError(name);
      const recent = [];
      for (const j of await d.dispatcher.list(200)) {
        if (recent.length < 20 && j.runs.some((r) => r.nodeId === node.id) && (await d.access.seesIds(principal, j.runs.map((r) => r.nodeId)))) recent.push(j);
      }
      return nodeDetail(node, { online: d.hub.isOnline(node.id), recentJobs: recent, checks: await d.stateStore.checks(node.id), specs: await d.stateStore.nodeSpecs(node.id) });
    });

    const seesRuns = (request: FastifyRequest, runs: readonly { nodeId: string }[]) => d.access.seesIds(sessionOf(request).principal, runs.map((r) => r.nodeId));

    api.get('/jobs', async (request) => {
      const { principal } = sessionOf(request);
      const jobs = await d.access.newestVisible(principal, limitParam(urlOf(request), 50, 500), (n) => d.dispatcher.list(n), (j) => j.runs.map((r) => r.nodeId));
      return { jobs: jobs.map(jobSummary) };
    });

    api.get<{ Params: { id: string } }>('/jobs/:id', async (request) => {
      const id = segment(request, request.params.id, 'job');
      const job = await d.dispatcher.describe(id);
      if (!(await seesRuns(request, job.runs))) throw new JobNotFoundError(id);
      // Read lazily: jobDetail keeps at most its cap per node, so a huge job stays small here.
      return jobDetail(job, await d.dispatcher.storedOutput(job.id));
    });

    api.get('/rollouts', async (request) => {
      const visible = [];
      for (const record of await d.stateStore.rollouts(limitParam(urlOf(request), 50, 500))) {
        const r = await d.rollouts.toProto(record.id);
        if (await seesRuns(request, r.nodes)) visible.push(r);
      }
      return { rollouts: visible.map(rolloutSummary) };
    });

    api.get<{ Params: { id: string } }>('/rollouts/:id', async (request) => {
      const id = segment(request, request.params.id, 'rollout');
      const rollout = await d.rollouts.toProto(id);
      if (!(await seesRuns(request, rollout.nodes))) throw new RolloutNotFoundError(id);
      return rolloutDetail(rollout);
    });

    // Recordings hold everything a shell printed: the same operator role as on the gRPC side.
    api.get('/sessions', async (request) => {
      const { principal } = sessionOf(request);
      d.auth.require(principal, Role.Operator);
      const url = urlOf(request);
      const nodeName = param(url, 'node');
      const nodeId = nodeName ? (await findNode(nodeName)).id : undefined;
      const list = await d.access.newestVisible(principal, limitParam(url, 50, 500), (n) => d.shells.history(n, nodeId), (s) => [s.nodeId]);
      return { sessions: list.map((s) => sessionView(s, d.shells.get(s.id) !== undefined)) };
    });

    api.get<{ Params: { id: string } }>('/sessions/:id/recording', async (request, reply) => {
      d.auth.require(sessionOf(request).principal, Role.Operator);
      const id = segment(request, request.params.id, 'session');
      const record = /^[A-Za-z0-9_-]{1,64}$/.test(id) ? await d.shells.record(id) : undefined;
      if (!record || !(await seesRuns(request, [record]))) throw new SessionNotFoundError(id);
      const file = d.shells.recordingFile(id);
      if (!existsSync(file)) throw new SessionNotFoundError(id);
      const stream = createReadStream(file, { highWaterMark: 64 * 1024 }).on('error', (err) => d.log.warn({ err, session: id }, 'recording read failed'));
      return reply.type('application/x-asciicast; charset=utf-8').send(stream);
    });
  };
}
