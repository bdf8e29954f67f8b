// Bare metal (PXE): the machines the server knows, their approval, and the PXE configuration.
// Fleet-wide: reads are refused to tokens limited to a selector, changes need the admin role.
import type { AddMachineRequest, ApproveMachineRequest, ListMachinesRequest, ListMachinesResponse, Machine, MachineRequest, PxeConfig, SetPxeConfigRequest } from '../../proto/gen/fleet/v1/control';
import type { Machines } from '../pxe';
import { Role } from '../store';
import { actorOf, type Caller } from './caller';
import type { Gate } from './gate';

export interface PxeDeps {
  gate: Gate;
  machines: Machines;
  /** The PXE port (0 when PXE is off). */
  pxePort: () => number;
}

export class PxeService {
  readonly #d: PxeDeps;

  constructor(d: PxeDeps) {
    this.#d = d;
  }

  async #config(): Promise<PxeConfig> {
    const m = this.#d.machines;
    const c = m.config();
    return {
      yaml: await m.configYaml(),
      profiles: c.profiles.map((p) => p.name),
      groups: c.groups.map((g) => g.name),
      rules: c.rules.map((r) => r.name),
      pxePort: this.#d.pxePort(),
      discoveryImage: m.discoveryDir() !== undefined,
    };
  }

  async addMachine(caller: Caller, req: AddMachineRequest): Promise<Machine> {
    this.#d.gate.require(caller, Role.Admin);
    return this.#d.machines.toProto(await this.#d.machines.add(req, actorOf(caller)));
  }

  async listMachines(caller: Caller, req: ListMachinesRequest): Promise<ListMachinesResponse> {
    this.#d.gate.require(caller, Role.Viewer);
    this.#d.gate.access.requireUnscoped(caller.principal, 'the machine list');
    return { machines: (await this.#d.machines.list(req.pendingOnly)).map((m) => this.#d.machines.toProto(m)) };
  }

  async approveMachine(caller: Caller, req: ApproveMachineRequest): Promise<Machine> {
    this.#d.gate.require(caller, Role.Admin);
    return this.#d.machines.toProto(await this.#d.machines.approve(req.machine, { name: req.name, profile: req.profile, labels: req.labels }, actorOf(caller)));
  }

  async rejectMachine(caller: Caller, req: MachineRequest): Promise<Machine> {
    this.#d.gate.require(caller, Role.Admin);
    return this.#d.machines.toProto(await this.#d.machines.reject(req.machine, actorOf(caller)));
  }

  async removeMachine(caller: Caller, req: MachineRequest): Promise<Machine> {
    this.#d.gate.require(caller, Role.Admin);
    return this.#d.machines.toProto(await this.#d.machines.remove(req.machine, actorOf(caller)));
  }

  async reinstallMachine(caller: Caller, req: MachineRequest): Promise<Machine> {
    this.#d.gate.require(caller, Role.Admin);
    return this.#d.machines.toProto(await this.#d.machines.reinstall(req.machine, actorOf(caller)));
  }

  async setPxeConfig(caller: Caller, req: SetPxeConfigRequest): Promise<PxeConfig> {
    this.#d.gate.require(caller, Role.Admin);
    await this.#d.machines.setConfig(req.yaml, req.fileName, actorOf(caller));
    return this.#config();
  }

  async getPxeConfig(caller: Caller): Promise<PxeConfig> {
    this.#d.gate.require(caller, Role.Viewer);
    this.#d.gate.access.requireUnscoped(caller.principal, 'the PXE configuration');
    return this.#config();
  }
}
