// The audit log: who did what, and every refusal. Admin only (it names every node and token).
import type { ListAuditRequest, ListAuditResponse } from '../../proto/gen/fleet/v1/control';
import { Role, type AuditLog } from '../store';
import type { Caller } from './caller';
import type { Gate } from './gate';

/** The most entries one answer holds. */
const MAX_ENTRIES = 100_000;

export class AuditService {
  readonly #gate: Gate;
  readonly #audit: AuditLog;

  constructor(d: { gate: Gate; audit: AuditLog }) {
    this.#gate = d.gate;
    this.#audit = d.audit;
  }

  async listAudit(caller: Caller, req: ListAuditRequest): Promise<ListAuditResponse> {
    this.#gate.require(caller, Role.Admin);
    return { entries: await this.#audit.list(Math.min(req.limit || 50, MAX_ENTRIES), req.action || undefined, Number(req.sinceUnixMs) || undefined) };
  }
}
