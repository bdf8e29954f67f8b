// The Control service's PXE calls: machines and the PXE config. Plugged into createControlService.
import type { handleUnaryCall } from '@grpc/grpc-js';
import type { Labels } from '../../common/labels';
import type { Access } from '../access';
import type { Principal } from '../auth';
import { Role } from '../store/token-store';
import type { Machines } from './machines';

type Unary = <Req, Res>(role: Role, handler: (request: Req, principal: Principal) => Res | Promise<Res>) => handleUnaryCall<Req, Res>;

/** Handlers for ControlService's machine and PXE methods. */
export function createPxeHandlers(d: { unary: Unary; actorOf: (p: Principal) => string; machines: Machines; pxePort: () => number; access: Access }) {
  const { unary, machines } = d;
  const config = () => {
    const c = machines.config();
    return {
      yaml: machines.configYaml(),
      profiles: c.profiles.map((p) => p.name),
      groups: c.groups.map((g) => g.name),
      rules: c.rules.map((r) => r.name),
      pxePort: d.pxePort(),
      discoveryImage: machines.discoveryDir() !== undefined,
    };
  };
  return {
    addMachine: unary(Role.Admin, (req: { name: string; mac: string; uuid: string; serial: string; profile: string; labels: Labels }, p) => machines.toProto(machines.add(req, d.actorOf(p)))),
    // Machines and the PXE config are fleet-wide: not for tokens limited to a selector.
    listMachines: unary(Role.Viewer, (req: { pendingOnly: boolean }, p) => {
      d.access.requireUnscoped(p, 'the machine list');
      return { machines: machines.list(req.pendingOnly).map((m) => machines.toProto(m)) };
    }),
    approveMachine: unary(Role.Admin, (req: { machine: string; name: string; profile: string; labels: Labels }, p) =>
      machines.toProto(machines.approve(req.machine, { name: req.name, profile: req.profile, labels: req.labels }, d.actorOf(p))),
    ),
    rejectMachine: unary(Role.Admin, (req: { machine: string }, p) => machines.toProto(machines.reject(req.machine, d.actorOf(p)))),
    removeMachine: unary(Role.Admin, (req: { machine: string }, p) => machines.toProto(machines.remove(req.machine, d.actorOf(p)))),
    reinstallMachine: unary(Role.Admin, (req: { machine: string }, p) => machines.toProto(machines.reinstall(req.machine, d.actorOf(p)))),
    setPxeConfig: unary(Role.Admin, (req: { yaml: string; fileName: string }, p) => {
      machines.setConfig(req.yaml, req.fileName, d.actorOf(p));
      return config();
    }),
    getPxeConfig: unary(Role.Viewer, (_req, p) => {
      d.access.requireUnscoped(p, 'the PXE configuration');
      return config();
    }),
  };
}
