// The most characters each text field may have where it crosses an edge: gRPC requests to the
// Control, Agent and reflection services, agent messages on NATS, the web JSON API, and the CLI
// before it sends anything. No single value can then make the server hold, log or echo megabytes.
// One table, documented in docs/protocol.md ("Limits"); common/limits.test.ts checks that it names
// every text field of every request in proto/ and that the documentation lists every limit.
import { FieldTooLongError } from './errors';

/** A kind of text field and the most characters (UTF-16 code units, as JavaScript counts) it may have. */
export interface TextLimit {
  readonly kind: 'text';
  /** What fields of this kind are, for the documentation. */
  readonly what: string;
  readonly max: number;
}

const text = (what: string, max: number): TextLimit => ({ kind: 'text', what, max });

/** The limits, by kind of field. */
export const LIMITS = {
  name: text('names and ids (nodes, jobs, sessions, rollouts, specs, machines, profiles, tokens, hostnames)', 253),
  labelKey: text('label keys', 317),
  labelValue: text('label values', 63),
  selector: text('label selectors and token scopes', 4096),
  word: text('short values (roles, versions, batch and concurrency sizes, terminal types, MACs, UUIDs, serials, hashes, keys, join tokens)', 256),
  description: text('token descriptions, and the reason an agent gives for leaving', 200),
  path: text('file names and paths (and reflection symbols)', 4096),
  command: text('commands: a shell script, or each program argument', 65_536),
  document: text('YAML documents (specs, the PXE config)', 1 << 20),
  pem: text('PEM certificate signing requests', 16_384),
  fact: text('inventory facts from agents', 1024),
  report: text('free text from agents (errors, reasons, changes, check output, resource ids)', 65_536),
} as const;

/** Where text sits in a decoded request (ts-proto objects; the reflection requests are protobufjs objects). */
export type Shape =
  | TextLimit
  | { readonly kind: 'list'; readonly of: Shape }
  | { readonly kind: 'map'; readonly key: TextLimit; readonly value: Shape }
  | { readonly kind: 'message'; readonly fields: Fields }
  | { readonly kind: 'oneof'; readonly cases: Fields };
/** A message's fields that hold text, by their name in the decoded object. */
export type Fields = Readonly<Record<string, Shape>>;

const list = (of: Shape): Shape => ({ kind: 'list', of });
const map = (key: TextLimit, value: Shape): Shape => ({ kind: 'map', key, value });
const message = (fields: Fields): Shape => ({ kind: 'message', fields });
const oneof = (cases: Fields): Shape => ({ kind: 'oneof', cases });

const L = LIMITS;
const LABELS = map(L.labelKey, L.labelValue);
const NODE: Fields = { node: L.name };
const ID: Fields = { id: L.name };
const SELECTOR: Fields = { selector: L.selector };
const MACHINE: Fields = { machine: L.name };
const SPEC: Fields = { yaml: L.document, fileName: L.path };

const CONTROL: Record<string, Fields> = {
  WhoAmI: {},
  ListNodes: SELECTOR,
  GetNode: NODE,
  LabelNode: { node: L.name, set: LABELS, remove: list(L.labelKey) },
  RemoveNode: NODE,
  CreateJoinToken: { labels: LABELS, description: L.description },
  ListJoinTokens: {},
  RevokeJoinToken: ID,
  CreateApiToken: { role: L.word, description: L.description, scope: L.selector },
  RevokeApiToken: ID,
  ListApiTokens: {},
  StartJob: { selector: L.selector, nodes: list(L.name), argv: list(L.command), shell: L.command, maxConcurrency: L.word },
  ListJobs: {},
  GetJob: ID,
  WatchJob: ID,
  ListAudit: { action: L.word },
  UpgradeAgents: { selector: L.selector, nodes: list(L.name), version: L.word, batch: L.word },
  Shell: { body: oneof({ start: message({ node: L.name, argv: list(L.command), term: L.word }) }) },
  ListSessions: NODE,
  GetRecording: ID,
  PlanSpec: SPEC,
  ApplySpec: SPEC,
  ListRollouts: { spec: L.name },
  GetRollout: ID,
  WatchRollout: ID,
  PauseRollout: ID,
  ResumeRollout: ID,
  RollbackRollout: ID,
  GetNodeState: NODE,
  ListHealth: SELECTOR,
  ListHistory: { spec: L.name, node: L.name },
  UploadFile: { body: oneof({ info: message({ name: L.path, sha256: L.word }) }) },
  AddMachine: { name: L.name, mac: L.word, uuid: L.word, serial: L.word, profile: L.name, labels: LABELS },
  ListMachines: {},
  ApproveMachine: { machine: L.name, name: L.name, profile: L.name, labels: LABELS },
  RejectMachine: MACHINE,
  RemoveMachine: MACHINE,
  ReinstallMachine: MACHINE,
  SetPxeConfig: SPEC,
  GetPxeConfig: {},
};

const IDENTITY = message({ hostname: L.name, macs: list(L.word), dmiUuid: L.word, serial: L.word });
const FACTS = message({
  os: message({ platform: L.fact, distro: L.fact, release: L.fact, codename: L.fact, kernel: L.fact, arch: L.fact, hostname: L.fact, fqdn: L.fact }),
  cpu: message({ manufacturer: L.fact, brand: L.fact }),
  disks: list(message({ device: L.fact, type: L.fact, name: L.fact })),
  interfaces: list(message({ name: L.fact, mac: L.fact, ipv4: list(L.fact), ipv6: list(L.fact) })),
});
const RESOURCE = message({ id: L.report, status: L.word, changes: list(L.report), error: L.report });

const AGENT: Record<string, Fields> = {
  Enroll: { token: L.word, csrPem: L.pem, identity: IDENTITY, agentVersion: L.word, requestedName: L.name, labels: LABELS, natsPublicKey: L.word },
  Renew: { csrPem: L.pem },
  Leave: { reason: L.description },
  Connect: {
    body: oneof({
      hello: message({ agentVersion: L.word, knownJobIds: list(L.name), upgrade: message({ version: L.word, fromVersion: L.word, reason: L.report }) }),
      inventory: message({ facts: FACTS }),
      execEvent: message({ jobId: L.name, body: oneof({ finished: message({ signal: L.word, error: L.report }) }) }),
      commandRejected: message({ commandId: L.name, jobId: L.name, reason: L.report }),
      stateReport: message({ commandId: L.name, spec: L.name, rolloutId: L.name, resources: list(RESOURCE), error: L.report }),
      healthReport: message({ checks: list(message({ spec: L.name, name: L.name, output: L.report })) }),
    }),
  },
  OpenChannel: { body: oneof({ open: message({ channelId: L.name }), close: message({ reason: L.report }) }) },
};

// protobufjs (which @grpc/reflection decodes with) puts a oneof's fields on the message itself.
const REFLECTION: Fields = {
  host: L.name,
  fileByFilename: L.path,
  fileContainingSymbol: L.path,
  fileContainingExtension: message({ containingType: L.path }),
  allExtensionNumbersOfType: L.path,
  listServices: L.word,
};

const byPath = (service: string, methods: Record<string, Fields>) => Object.entries(methods).map(([m, fields]) => [`/${service}/${m}`, fields] as const);

/** The text fields of every request, by gRPC method path ("/fleet.v1.ControlService/GetNode"). */
export const REQUEST_FIELDS: ReadonlyMap<string, Fields> = new Map([
  ...byPath('fleet.v1.ControlService', CONTROL),
  ...byPath('fleet.v1.AgentService', AGENT),
  ...byPath('grpc.reflection.v1.ServerReflection', { ServerReflectionInfo: REFLECTION }),
  ...byPath('grpc.reflection.v1alpha.ServerReflection', { ServerReflectionInfo: REFLECTION }),
]);

/** The path of a field inside `path`, spelt as in the .proto (maxConcurrency → max_concurrency). */
const child = (path: string, name: string) => {
  const proto = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return path ? `${path}.${proto}` : proto;
};

function walk(shape: Shape, value: unknown, path: string, context: string): void {
  if (value === undefined || value === null) return;
  switch (shape.kind) {
    case 'text':
      if (typeof value === 'string') checkText(path, value, shape, context);
      return;
    case 'list':
      if (Array.isArray(value)) value.forEach((v, i) => walk(shape.of, v, `${path}[${i}]`, context));
      return;
    case 'map':
      if (typeof value !== 'object') return;
      for (const [k, v] of Object.entries(value)) {
        checkText(`${path} (a key)`, k, shape.key, context);
        walk(shape.value, v, `${path}[${JSON.stringify(k)}]`, context);
      }
      return;
    case 'message':
      if (typeof value !== 'object') return;
      for (const [name, field] of Object.entries(shape.fields)) {
        // A oneof is named by the case chosen, not by the oneof itself (ts-proto's `body`).
        walk(field, (value as Record<string, unknown>)[name], field.kind === 'oneof' ? path : child(path, name), context);
      }
      return;
    case 'oneof': {
      const chosen = value as { $case?: string; value?: unknown };
      const field = chosen.$case === undefined ? undefined : shape.cases[chosen.$case];
      if (field) walk(field, chosen.value, child(path, chosen.$case!), context);
      return;
    }
  }
}

/**
 * Throws FieldTooLongError for the first text field of a decoded request that is longer than its
 * limit. The message starts with the method's name unless `context` says otherwise ('' for none).
 * Methods not in the table pass unchecked.
 * @example checkRequest('/fleet.v1.ControlService/GetNode', { node: 'web-1' })
 */
export function checkRequest(path: string, request: unknown, context = path.slice(path.lastIndexOf('/') + 1)): void {
  const fields = REQUEST_FIELDS.get(path);
  if (fields) walk({ kind: 'message', fields }, request, '', context);
}

/**
 * Throws FieldTooLongError when `value` is longer than `limit`.
 * @example checkText('selector', url.searchParams.get('selector') ?? '', LIMITS.selector)
 */
export function checkText(field: string, value: string, limit: TextLimit, context = ''): void {
  if (value.length > limit.max) throw new FieldTooLongError(field, value.length, limit.max, context);
}

/** A string cut to exactly `max` characters, ending in an ellipsis. */
const cut = (text: string, max: number) => `${text.slice(0, max - 1)}…`;

function fit(shape: Shape, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  switch (shape.kind) {
    case 'text':
      return typeof value === 'string' && value.length > shape.max ? cut(value, shape.max) : value;
    case 'list': {
      if (!Array.isArray(value)) return value;
      const out = value.map((v) => fit(shape.of, v));
      return out.some((v, i) => v !== value[i]) ? out : value;
    }
    case 'map': {
      if (typeof value !== 'object') return value;
      const before = Object.entries(value);
      const after = before.map(([k, v]) => [fit(shape.key, k) as string, fit(shape.value, v)] as const);
      return after.some(([k, v], i) => k !== before[i]![0] || v !== before[i]![1]) ? Object.fromEntries(after) : value;
    }
    case 'message': {
      if (typeof value !== 'object') return value;
      let out: Record<string, unknown> | undefined;
      for (const [name, field] of Object.entries(shape.fields)) {
        const v = (value as Record<string, unknown>)[name];
        const f = fit(field, v);
        if (f !== v) (out ??= { ...(value as Record<string, unknown>) })[name] = f;
      }
      return out ?? value;
    }
    case 'oneof': {
      const chosen = value as { $case?: string; value?: unknown };
      const field = chosen.$case === undefined ? undefined : shape.cases[chosen.$case];
      if (!field) return value;
      const f = fit(field, chosen.value);
      return f === chosen.value ? value : { ...chosen, value: f };
    }
  }
}

/**
 * The request with every text field over its limit cut to it (the rest, and the request itself
 * when nothing is too long, unchanged): for a sender's own messages, so that an agent's unusually
 * long error text never gets its stream refused by checkRequest on the server.
 * @example link.send(fitRequest('/fleet.v1.AgentService/Connect', message))
 */
export function fitRequest<T>(path: string, request: T): T {
  const fields = REQUEST_FIELDS.get(path);
  return fields ? (fit({ kind: 'message', fields }, request) as T) : request;
}
