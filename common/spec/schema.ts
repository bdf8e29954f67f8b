// The desired-state spec: what `fleet plan/apply -f spec.yaml` reads, what the server stores as a
// revision, and (rendered per node, templates filled in) what the agent reconciles. One zod schema
// shared by the CLI, the server and the agent, so every side refuses the same bad input.
import { z } from 'zod';
import { parseDuration } from '../duration';
import { parseSelector } from '../labels';

/** Names of specs, binaries, services, exec steps and checks. */
export const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const name = z.string().regex(NAME_RE, 'use 1–63 characters: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit');

/** An absolute path on the node; never escapes the agent's root (no "..", no NUL). */
export const absolutePath = z
  .string()
  .min(2, 'an absolute path, such as /etc/app.conf')
  .refine((p) => p.startsWith('/'), 'must be an absolute path (start with /)')
  .refine((p) => !p.includes('\0'), 'must not contain NUL')
  .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'must not contain "." or ".." segments (paths may not escape the root)')
  .refine((p) => !p.endsWith('/'), 'must name a file, not end in /');

const duration = z.string().refine((d) => {
  try {
    parseDuration(d);
    return true;
  } catch {
    return false;
  }
}, 'a duration such as 500ms, 10s, 5m');

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits');
const version = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,63}$/, 'a version such as 1.2.3 (letters, digits, . + ~ _ -)');
const url = z.string().regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL');

/**
 * A `{{ ... }}` placeholder. Check `http` and `tcp` may hold them (renderForNode fills them per node),
 * so their patterns accept one wherever host or port characters may go: `localhost:{{ labels.port }}`
 * passes here, and the filled-in value is checked again when the desired state is validated.
 */
const PLACEHOLDER = String.raw`\{\{[^{}]*\}\}`;
const checkUrl = z.string().regex(new RegExp(String.raw`^https?://(?:${PLACEHOLDER}|[^\s{}])+$`), 'an http:// or https:// URL');
const hostPort = z
  .string()
  .regex(new RegExp(String.raw`^(?:(?:${PLACEHOLDER}|[^\s:{}])+|\[[0-9a-fA-F:]+\]):(?:\d{1,5}|${PLACEHOLDER})$`), 'host:port');

/**
 * Where a downloaded artifact comes from: a URL, or a file the server hosts (by its sha256). In a
 * spec on disk `file: ./path` names a local file; the CLI uploads it and replaces it with `hosted`.
 */
const artifact = {
  url: url.optional(),
  file: z.string().min(1).optional(),
  hosted: sha256.optional(),
  sha256,
};
function oneSource(r: { url?: string; file?: string; hosted?: string }): boolean {
  return [r.url, r.file, r.hosted].filter((v) => v !== undefined).length === 1;
}
const ONE_SOURCE = { message: 'give exactly one of url, file (uploaded to the server) or hosted', path: ['url'] };

export const fileResource = z
  .strictObject({
    type: z.literal('file'),
    path: absolutePath,
    state: z.enum(['present', 'absent']).default('present'),
    content: z.string().optional(),
    /** Fill `{{ node.name }}`, `{{ labels.KEY }}`, `{{ facts.KEY }}` into content, per node. */
    template: z.boolean().default(false),
    mode: z
      .string()
      .regex(/^0?[0-7]{3,4}$/, 'an octal mode such as "0644" (quote it in YAML)')
      .default('0644'),
    owner: z.string().regex(/^[a-z_][a-z0-9_-]*$/).optional(),
    group: z.string().regex(/^[a-z_][a-z0-9_-]*$/).optional(),
  })
  .refine((r) => r.state === 'absent' || r.content !== undefined, { message: 'a present file needs content', path: ['content'] });

export const binaryResource = z
  .strictObject({
    type: z.literal('binary'),
    name,
    version,
    ...artifact,
  })
  .refine(oneSource, ONE_SOURCE);

export const packageResource = z
  .strictObject({
    type: z.literal('package'),
    name: z.string().regex(/^[a-z0-9][a-z0-9+.-]{0,127}$/, 'a package name such as curl or libssl3'),
    state: z.enum(['present', 'absent']).default('present'),
    version: z.string().regex(/^[A-Za-z0-9.+~:_-]{1,64}$/).optional(),
    /** A .deb to install with dpkg instead of asking apt (Debian family only). */
    deb: z.strictObject(artifact).refine(oneSource, ONE_SOURCE).optional(),
  });

export const serviceResource = z
  .strictObject({
    type: z.literal('service'),
    name,
    /** The program to run (ExecStart): argv, or a string run by `sh -c`. */
    command: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional(),
    /** A complete systemd unit instead of `command`. */
    unit: z.string().optional(),
    state: z.enum(['running', 'stopped']).default('running'),
    enabled: z.boolean().default(true),
    /** Paths of `file` resources (or binary names) whose change restarts the service. */
    watch: z.array(z.string()).default([]),
  })
  .refine((r) => (r.command === undefined) !== (r.unit === undefined), { message: 'give exactly one of command or unit', path: ['command'] });

export const execResource = z.strictObject({
  type: z.literal('exec'),
  name,
  /** A script run by `sh -c` in the agent's root directory. */
  command: z.string().min(1),
  /** Skip when this path exists. */
  creates: absolutePath.optional(),
  /** Skip when this script exits 0. */
  unless: z.string().min(1).optional(),
  timeout: duration.default('5m'),
});

export const resource = z.discriminatedUnion('type', [fileResource, binaryResource, packageResource, serviceResource, execResource]);

export const check = z
  .strictObject({
    name,
    cmd: z.string().min(1).optional(),
    http: checkUrl.optional(),
    tcp: hostPort.optional(),
    interval: duration.default('10s'),
    timeout: duration.default('5s'),
  })
  .refine((c) => [c.cmd, c.http, c.tcp].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of cmd, http or tcp', path: ['cmd'] });

export const rollout = z.strictObject({
  /** Nodes per batch: a count, or a percentage such as "25%". */
  batch: z.union([z.number().int().min(1), z.string().regex(/^([1-9]\d?|100)%$/, 'a percentage such as "25%"')]).default(1),
  /** Failed nodes tolerated before the rollout stops. */
  maxErrors: z.number().int().min(0).default(0),
  /** How long a batch's checks must pass before the next batch starts. */
  healthGate: duration.default('0s'),
  /** When the rollout stops, return finished batches to the previous revision. */
  autoRollback: z.boolean().default(false),
});

export const spec = z.strictObject({
  name,
  selector: z
    .string()
    .default('')
    .refine((s) => {
      try {
        parseSelector(s);
        return true;
      } catch {
        return false;
      }
    }, 'a label selector such as role=web,env!=dev'),
  resources: z.array(resource).default([]),
  checks: z.array(check).default([]),
  rollout: rollout.default({ batch: 1, maxErrors: 0, healthGate: '0s', autoRollback: false }),
});

export type Spec = z.infer<typeof spec>;
export type Resource = z.infer<typeof resource>;
export type FileResource = z.infer<typeof fileResource>;
export type BinaryResource = z.infer<typeof binaryResource>;
export type PackageResource = z.infer<typeof packageResource>;
export type ServiceResource = z.infer<typeof serviceResource>;
export type ExecResource = z.infer<typeof execResource>;
export type Check = z.infer<typeof check>;
export type Rollout = z.infer<typeof rollout>;

/**
 * What one node is told to converge to: a spec's resources and checks with templates filled in
 * for that node. Sent (as JSON inside a signed command) to the agent, which validates it again.
 * Revision 0 is the removal of the spec (see `removalOf`): it lists nothing.
 */
export const desiredState = z
  .strictObject({
    spec: name,
    revision: z.number().int().min(0),
    resources: z.array(resource),
    checks: z.array(check),
  })
  .refine((d) => d.revision > 0 || (d.resources.length === 0 && d.checks.length === 0), {
    message: 'revision 0 removes the spec from the node, so it lists no resources and no checks',
    path: ['revision'],
  });
export type DesiredState = z.infer<typeof desiredState>;

/**
 * The desired state that takes `spec` off a node: what the agent's last revision of it installed
 * is removed (see `prune` on the agent), its checks stop, and the agent forgets the spec. Sent
 * when a rollout goes back to "no revision", such as the rollback of a spec's first revision.
 */
export function removalOf(spec: string): DesiredState {
  return { spec, revision: 0, resources: [], checks: [] };
}

/** True for a desired state made by `removalOf`. */
export function isRemoval(d: DesiredState): boolean {
  return d.revision === 0;
}

/** A resource's stable id within a spec: "file:/etc/app.conf", "binary:hello", "service:web". */
export function resourceId(r: Resource): string {
  return r.type === 'file' ? `file:${r.path}` : `${r.type}:${r.name}`;
}

/** How one resource stands on one node after a plan or an apply. */
export const ResourceStatus = {
  /** Already as desired. */
  Ok: 'ok',
  /** Plan: would change. */
  Pending: 'pending',
  /** Apply: changed now. */
  Changed: 'changed',
  /** A periodic re-check found it changed by hand and (re)applied it. */
  Drifted: 'drifted',
  Failed: 'failed',
  /**
   * Not done: a resource it watches failed, or (when removing what a spec no longer lists) it was
   * changed by hand since fleet wrote it, so it is left in place; `error` says which.
   */
  Skipped: 'skipped',
} as const;
export type ResourceStatus = (typeof ResourceStatus)[keyof typeof ResourceStatus];

/** One resource's outcome: its status, the changes (made or planned), and why it failed. */
export interface ResourceResult {
  id: string;
  status: ResourceStatus;
  /** Human-readable changes, e.g. "content differs (sha256 ab12… → cd34…)", "mode 0600 → 0644". */
  changes: string[];
  /** Why it failed, when it did. */
  error?: string;
}
