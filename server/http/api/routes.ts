// The HTTP API's routes (/api/v1/…): each one a Control operation of the service layer, with the
// zod schemas of its path, query and body (request bodies and answers are the contract's messages
// in protobuf JSON, server/http/api/contract.ts). One table serves the router and the OpenAPI
// document, so they cannot disagree.
import { z } from 'zod';
import type { Services, Caller } from '../../services';
import { capOutputPerNode } from './output-cap';

/** A route's input, parsed: path parameters, query and body (a contract message, decoded). */
export interface RouteInput {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
}

/**
 * How a route answers: one JSON message, a stream of them (server-sent events, one message per
 * event), or a file (the handler resolves with its path).
 */
export type Answer = { kind: 'json'; message: string } | { kind: 'events'; message: string } | { kind: 'file'; type: string };

/** Sends one event of a stream; `last` ends the stream after it. */
export type Send = (event: unknown, last: boolean) => void;

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Below /api/v1, with :params. */
  path: string;
  /** The Control operation (its gRPC method name), for limits, audit and the OpenAPI operationId. */
  operation: string;
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  answer: Answer;
  /** The contract message of a JSON body, or 'raw' for bytes streamed through (an upload). */
  body?: string;
  /**
   * Calls the service. A JSON route resolves with its answer, a file route with a stream of the file;
   * an events route calls `send` for each event and resolves with a function that stops the
   * stream early (the client went away), or with nothing once the stream has ended.
   */
  handle(s: Services, caller: Caller, input: RouteInput, send: Send): Promise<unknown>;
}

// Text limits are checked like over gRPC (common/limits.ts), after parsing, for the same answer.
const name = z.string().min(1);
const node = z.object({ node: name.describe('node name or id') });
const id = z.object({ id: name });
const machine = z.object({ machine: name.describe('machine name, id or MAC') });
const limit = (fallback: number, max: number) => z.coerce.number().int().min(1).max(max).default(fallback).describe(`at most this many (1–${max}, default ${fallback})`);
const selector = z.object({ selector: z.string().default('').describe('label selector, e.g. role=web,env!=prod') });
const json = (message: string): Answer => ({ kind: 'json', message });
const events = (message: string): Answer => ({ kind: 'events', message });
const body = <T>(input: RouteInput) => input.body as T;

/** Every route of /api/v1, in the order the documentation lists them. */
export const ROUTES: Route[] = [
  { method: 'GET', path: '/whoami', operation: 'WhoAmI', summary: 'Who the token is: its role, scope and the server', answer: json('WhoAmIResponse'), handle: (s, c) => s.tokens.whoAmI(c) },

  { method: 'GET', path: '/nodes', operation: 'ListNodes', summary: 'Nodes matching a selector', query: selector, answer: json('ListNodesResponse'), handle: (s, c, i) => s.nodes.listNodes(c, { selector: i.query.selector as string }) },
  { method: 'GET', path: '/nodes/:node', operation: 'GetNode', summary: 'One node with its facts and checks', params: node, answer: json('Node'), handle: (s, c, i) => s.nodes.getNode(c, { node: i.params.node! }) },
  {
    method: 'POST',
    path: '/nodes/:node/labels',
    operation: 'LabelNode',
    summary: 'Set and remove labels of a node',
    params: node,
    body: 'LabelNodeRequest',
    answer: json('Node'),
    handle: (s, c, i) => s.nodes.labelNode(c, { ...body<{ set: Record<string, string>; remove: string[] }>(i), node: i.params.node! }),
  },
  { method: 'DELETE', path: '/nodes/:node', operation: 'RemoveNode', summary: 'Remove a node (its certificate is refused from then on)', params: node, answer: json('Node'), handle: (s, c, i) => s.nodes.removeNode(c, { node: i.params.node! }) },
  { method: 'GET', path: '/nodes/:node/state', operation: 'GetNodeState', summary: "A node's desired state and checks", params: node, answer: json('NodeState'), handle: (s, c, i) => s.nodes.getNodeState(c, { node: i.params.node! }) },
  { method: 'GET', path: '/health', operation: 'ListHealth', summary: 'Health checks of the nodes matching a selector', query: selector, answer: json('ListHealthResponse'), handle: (s, c, i) => s.nodes.listHealth(c, { selector: i.query.selector as string }) },

  { method: 'POST', path: '/jobs', operation: 'StartJob', summary: 'Start a job (a command on nodes); answers at once', body: 'StartJobRequest', answer: json('Job'), handle: (s, c, i) => s.jobs.startJob(c, body(i)) },
  { method: 'GET', path: '/jobs', operation: 'ListJobs', summary: 'The newest jobs', query: z.object({ limit: limit(20, 500) }), answer: json('ListJobsResponse'), handle: (s, c, i) => s.jobs.listJobs(c, { limit: i.query.limit as number }) },
  { method: 'GET', path: '/jobs/:id', operation: 'GetJob', summary: 'One job with each node\'s run', params: id, answer: json('Job'), handle: (s, c, i) => s.jobs.getJob(c, { id: i.params.id! }) },
  {
    method: 'GET',
    path: '/jobs/:id/events',
    operation: 'WatchJob',
    summary: "A job's events (stored, then live) as server-sent events, ending with `done`",
    params: id,
    query: z.object({
      max_output_per_node: z.coerce.number().int().min(0).max(2 ** 40).default(0).describe("send at most this many bytes of each node's output (0, the default: all of it)"),
    }),
    answer: events('JobEvent'),
    handle: (s, c, i, send) => s.jobs.watchJob(c, { id: i.params.id! }, capOutputPerNode(i.query.max_output_per_node as number, (event) => send(event, event.body?.$case === 'done'))),
  },

  { method: 'GET', path: '/join-tokens', operation: 'ListJoinTokens', summary: 'Join tokens', answer: json('ListJoinTokensResponse'), handle: (s, c) => s.tokens.listJoinTokens(c) },
  { method: 'POST', path: '/join-tokens', operation: 'CreateJoinToken', summary: 'Create a join token (its secret is shown once)', body: 'CreateJoinTokenRequest', answer: json('CreateJoinTokenResponse'), handle: (s, c, i) => s.tokens.createJoinToken(c, body(i)) },
  { method: 'DELETE', path: '/join-tokens/:id', operation: 'RevokeJoinToken', summary: 'Revoke a join token', params: id, answer: json('JoinToken'), handle: (s, c, i) => s.tokens.revokeJoinToken(c, { id: i.params.id! }) },
  { method: 'GET', path: '/api-tokens', operation: 'ListApiTokens', summary: 'API tokens (users)', answer: json('ListApiTokensResponse'), handle: (s, c) => s.tokens.listApiTokens(c) },
  { method: 'POST', path: '/api-tokens', operation: 'CreateApiToken', summary: 'Create an API token with a role and an optional scope (shown once)', body: 'CreateApiTokenRequest', answer: json('CreateApiTokenResponse'), handle: (s, c, i) => s.tokens.createApiToken(c, body(i)) },
  { method: 'DELETE', path: '/api-tokens/:id', operation: 'RevokeApiToken', summary: 'Revoke an API token', params: id, answer: json('RevokeApiTokenResponse'), handle: (s, c, i) => s.tokens.revokeApiToken(c, { id: i.params.id! }) },

  { method: 'POST', path: '/plan', operation: 'PlanSpec', summary: 'What applying a spec would change on each node (nothing changes)', body: 'SpecRequest', answer: json('PlanResponse'), handle: (s, c, i) => s.state.planSpec(c, body(i)) },
  { method: 'POST', path: '/apply', operation: 'ApplySpec', summary: 'Store a spec revision and start its rollout', body: 'SpecRequest', answer: json('ApplyResponse'), handle: (s, c, i) => s.state.applySpec(c, body(i)) },
  {
    method: 'GET',
    path: '/rollouts',
    operation: 'ListRollouts',
    summary: 'The newest rollouts (without their nodes)',
    query: z.object({ spec: z.string().default(''), limit: limit(20, 500) }),
    answer: json('ListRolloutsResponse'),
    handle: (s, c, i) => s.state.listRollouts(c, { spec: i.query.spec as string, limit: i.query.limit as number }),
  },
  { method: 'GET', path: '/rollouts/:id', operation: 'GetRollout', summary: 'One rollout with each node', params: id, answer: json('Rollout'), handle: (s, c, i) => s.state.getRollout(c, { id: i.params.id! }) },
  {
    method: 'GET',
    path: '/rollouts/:id/events',
    operation: 'WatchRollout',
    summary: 'The rollout now and at every change, as server-sent events, until it ends',
    params: id,
    answer: events('Rollout'),
    handle: (s, c, i, send) => s.state.watchRollout(c, { id: i.params.id! }, send),
  },
  { method: 'POST', path: '/rollouts/:id/pause', operation: 'PauseRollout', summary: 'Pause a rollout', params: id, answer: json('Rollout'), handle: (s, c, i) => s.state.pauseRollout(c, { id: i.params.id! }) },
  { method: 'POST', path: '/rollouts/:id/resume', operation: 'ResumeRollout', summary: 'Resume a paused rollout', params: id, answer: json('Rollout'), handle: (s, c, i) => s.state.resumeRollout(c, { id: i.params.id! }) },
  { method: 'POST', path: '/rollouts/:id/rollback', operation: 'RollbackRollout', summary: 'Return the nodes a rollout touched to the revision before it', params: id, answer: json('Rollout'), handle: (s, c, i) => s.state.rollbackRollout(c, { id: i.params.id! }) },
  {
    method: 'GET',
    path: '/history',
    operation: 'ListHistory',
    summary: 'Which spec revision reached which node, and every revision',
    query: z.object({ spec: z.string().default(''), node: z.string().default(''), limit: limit(1000, 100_000) }),
    answer: json('ListHistoryResponse'),
    handle: (s, c, i) => s.state.listHistory(c, { spec: i.query.spec as string, node: i.query.node as string, limit: i.query.limit as number }),
  },

  {
    method: 'POST',
    path: '/files',
    operation: 'UploadFile',
    summary: 'Store a file for specs to use (the body is its bytes; its name, size and sha256 in the query)',
    query: z.object({ name: z.string().min(1), size: z.coerce.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in hex') }),
    body: 'raw',
    answer: json('UploadFileResponse'),
    handle: (s, c, i) => s.state.uploadFile(c, async () => ({ name: i.query.name as string, size: i.query.size as number, sha256: i.query.sha256 as string }), i.body as AsyncIterable<Buffer>),
  },

  { method: 'GET', path: '/sessions', operation: 'ListSessions', summary: 'Shell sessions, newest first', query: z.object({ node: z.string().default(''), limit: limit(20, 500) }), answer: json('ListSessionsResponse'), handle: (s, c, i) => s.shells.listSessions(c, { node: i.query.node as string, limit: i.query.limit as number }) },

  {
    method: 'GET',
    path: '/sessions/:id/recording',
    operation: 'GetRecording',
    summary: "A shell session's recording (asciicast v2)",
    params: id,
    answer: { kind: 'file', type: 'application/x-asciicast; charset=utf-8' },
    handle: async (s, c, i) => (await s.shells.getRecording(c, { id: i.params.id! })).recording,
  },

  {
    method: 'POST',
    path: '/agents/upgrade',
    operation: 'UpgradeAgents',
    summary: 'Upgrade agents in batches; each node\'s outcome and then a summary, as server-sent events',
    body: 'UpgradeAgentsRequest',
    answer: events('UpgradeEvent'),
    handle: async (s, c, i, send) => {
      const run = await s.nodes.upgradeAgents(c, body(i));
      // The upgrade goes on if the client goes away; it only stops being told.
      await run((event) => send(event, event.body?.$case === 'done'));
    },
  },

  {
    method: 'GET',
    path: '/machines',
    operation: 'ListMachines',
    summary: 'Machines known for network boot',
    query: z.object({ pending: z.enum(['true', 'false']).default('false').describe('only those waiting for approval') }),
    answer: json('ListMachinesResponse'),
    handle: (s, c, i) => s.pxe.listMachines(c, { pendingOnly: i.query.pending === 'true' }),
  },
  { method: 'POST', path: '/machines', operation: 'AddMachine', summary: 'Add a machine by MAC, UUID or serial', body: 'AddMachineRequest', answer: json('Machine'), handle: (s, c, i) => s.pxe.addMachine(c, body(i)) },
  {
    method: 'POST',
    path: '/machines/:machine/approve',
    operation: 'ApproveMachine',
    summary: 'Approve a discovered machine (optionally naming it, with a profile and labels)',
    params: machine,
    body: 'ApproveMachineRequest',
    answer: json('Machine'),
    handle: (s, c, i) => s.pxe.approveMachine(c, { ...body<{ name: string; profile: string; labels: Record<string, string> }>(i), machine: i.params.machine! }),
  },
  { method: 'POST', path: '/machines/:machine/reject', operation: 'RejectMachine', summary: 'Reject a discovered machine', params: machine, answer: json('Machine'), handle: (s, c, i) => s.pxe.rejectMachine(c, { machine: i.params.machine! }) },
  { method: 'POST', path: '/machines/:machine/reinstall', operation: 'ReinstallMachine', summary: "Boot the machine's profile again at its next network boot", params: machine, answer: json('Machine'), handle: (s, c, i) => s.pxe.reinstallMachine(c, { machine: i.params.machine! }) },
  { method: 'DELETE', path: '/machines/:machine', operation: 'RemoveMachine', summary: 'Forget a machine', params: machine, answer: json('Machine'), handle: (s, c, i) => s.pxe.removeMachine(c, { machine: i.params.machine! }) },
  { method: 'GET', path: '/pxe/config', operation: 'GetPxeConfig', summary: 'The PXE configuration', answer: json('PxeConfig'), handle: (s, c) => s.pxe.getPxeConfig(c) },
  { method: 'PUT', path: '/pxe/config', operation: 'SetPxeConfig', summary: 'Replace the PXE configuration with a validated YAML document', body: 'SetPxeConfigRequest', answer: json('PxeConfig'), handle: (s, c, i) => s.pxe.setPxeConfig(c, body(i)) },

  {
    method: 'GET',
    path: '/audit',
    operation: 'ListAudit',
    summary: 'The audit log, newest first',
    query: z.object({ limit: limit(50, 100_000), action: z.string().default(''), since: z.coerce.number().int().min(0).default(0).describe('only entries since this time (Unix ms)') }),
    answer: json('ListAuditResponse'),
    handle: (s, c, i) => s.audit.listAudit(c, { limit: i.query.limit as number, action: i.query.action as string, sinceUnixMs: i.query.since as number }),
  },
];
