// The service layer: one service per domain, each method taking the caller (an authenticated
// principal and its address) and doing the access check, the scope filtering and the audit in one
// place. The gRPC Control service and the HTTP API are thin adapters over it; neither touches a
// store. Method names are the Control methods' (listNodes is ListNodes), and every refusal a
// method throws (role, scope) is audited with that name, whichever adapter called it.
import { ErrorKind, FleetError } from '../../common/errors';
import type { Access } from '../access';
import type { Presence } from '../agent-hub';
import type { ApiAuth } from '../auth';
import type { JobDispatcher } from '../jobs';
import type { Machines } from '../pxe';
import type { ShellSessions } from '../shells';
import type { DesiredStateService, HostedFiles, RolloutEngine } from '../state';
import type { AuditLog, NodeStore, StateStore, TokenStore } from '../store';
import type { AgentUpgrades } from '../upgrades';
import { AuditService } from './audit-service';
import { actorOf, type Caller } from './caller';
import { Gate } from './gate';
import { JobsService } from './jobs-service';
import { NodesService } from './nodes-service';
import { PxeService } from './pxe-service';
import { ShellsService } from './shells-service';
import { StateService } from './state-service';
import { TokensService } from './tokens-service';

export type { Caller } from './caller';
export { actorOf } from './caller';
export type { Gate } from './gate';
export type { UploadInfo } from './state-service';
export { toNode } from './nodes-service';

export interface ServicesDeps {
  auth: ApiAuth;
  access: Access;
  audit: AuditLog;
  nodes: NodeStore;
  tokens: TokenStore;
  stateStore: StateStore;
  /** Which nodes are online (the agent hub, or a replica's view of every hub). */
  hub: Presence;
  dispatcher: JobDispatcher;
  upgrades: AgentUpgrades;
  shells: ShellSessions;
  desired: DesiredStateService;
  rollouts: RolloutEngine;
  files: HostedFiles;
  machines: Machines;
  /** The PXE port (0 when PXE is off). */
  pxePort: () => number;
  caHash: string;
  /** The HTTPS install port and its key pin (filled in once the port is bound). */
  install: { port: number; pin: string };
}

/** Every domain's service, and the gate that lets callers in. */
export interface Services {
  gate: Gate;
  nodes: NodesService;
  jobs: JobsService;
  shells: ShellsService;
  state: StateService;
  pxe: PxeService;
  tokens: TokensService;
  audit: AuditService;
}

/** Refusal kinds: each one a method throws is audited. */
const REFUSALS = new Set<ErrorKind>([ErrorKind.Forbidden, ErrorKind.Unauthenticated]);

/** The Control method a service method answers for (its name, capitalized). */
const operationOf = (method: string) => method.charAt(0).toUpperCase() + method.slice(1);

const isCaller = (value: unknown): value is Caller => typeof value === 'object' && value !== null && 'principal' in value && 'address' in value;

/**
 * Wraps each async method of a service so that a refusal it throws (a role too low, something
 * outside the token's scope) is audited with the method's operation name.
 */
function auditingRefusals<T extends object>(service: T, gate: Gate): T {
  const proto = Object.getPrototypeOf(service) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const fn = proto[name];
    if (typeof fn !== 'function' || fn.constructor.name !== 'AsyncFunction') continue;
    const method = fn as (...args: unknown[]) => Promise<unknown>;
    Object.defineProperty(service, name, {
      value: async (...args: unknown[]) => {
        try {
          return await method.apply(service, args);
        } catch (err) {
          const caller = args[0];
          if (err instanceof FleetError && REFUSALS.has(err.kind) && isCaller(caller)) await gate.refused(actorOf(caller), caller.address, operationOf(name), err);
          throw err;
        }
      },
    });
  }
  return service;
}

/** Builds the service layer over the stores and engines. */
export function createServices(d: ServicesDeps): Services {
  const gate = new Gate({ auth: d.auth, audit: d.audit, access: d.access });
  const nodes = new NodesService({ gate, nodes: d.nodes, hub: d.hub, stateStore: d.stateStore, audit: d.audit, upgrades: d.upgrades });
  const services: Services = {
    gate,
    nodes,
    jobs: new JobsService({ gate, dispatcher: d.dispatcher }),
    shells: new ShellsService({ gate, shells: d.shells, nodes }),
    state: new StateService({ gate, nodes, desired: d.desired, rollouts: d.rollouts, files: d.files, stateStore: d.stateStore, audit: d.audit }),
    pxe: new PxeService({ gate, machines: d.machines, pxePort: d.pxePort }),
    tokens: new TokensService({ gate, auth: d.auth, tokens: d.tokens, audit: d.audit, caHash: d.caHash, install: d.install }),
    audit: new AuditService({ gate, audit: d.audit }),
  };
  for (const [key, service] of Object.entries(services)) if (key !== 'gate') auditingRefusals(service as object, gate);
  return services;
}
