// Who is asking: the principal an adapter authenticated (an API token, from a bearer header or a
// web session) and the address the request came from. Every service method takes one.
import type { Principal } from '../auth';

/** An authenticated caller of a service method. */
export interface Caller {
  principal: Principal;
  /** The remote address (IP), for the audit log. */
  address: string;
}

/** The audit log's actor for a caller. */
export const actorOf = (caller: Caller | Principal): string => `api:${'principal' in caller ? caller.principal.tokenId : caller.tokenId}`;
