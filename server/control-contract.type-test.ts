// Type-level test of the Control contract, checked by `npm run typecheck` and never run: every
// line marked @ts-expect-error must fail to compile (tsc reports an unused marker otherwise), and
// server/control-contract.test.ts compiles this file without the markers to show the errors are
// the ones meant. The gRPC adapter is a ControlServiceServer and the services take and return
// the generated types, so a misspelled or missing field is caught before anything runs.
import type { ControlServiceServer, WhoAmIResponse } from '../proto/gen/fleet/v1/control';
import type { createControlService } from './control-service';
import type { Caller, Services } from './services';

declare const implementation: ReturnType<typeof createControlService>;
declare const services: Services;
declare const caller: Caller;

/** The adapter is the generated interface: nothing missing, nothing extra. */
export const complete: ControlServiceServer = implementation;

export const misspelledAnswer: ControlServiceServer = {
  ...implementation,
  whoAmI: (_call, callback) =>
    callback(null, {
      // @ts-expect-error: a misspelled answer field (tokenId)
      tokenID: 't',
      role: 'admin',
      serverVersion: '',
      description: '',
      installPort: 0,
      installPin: '',
      caHash: '',
      scope: '',
    }),
};

// @ts-expect-error: an answer missing a field (scope)
export const missingField: WhoAmIResponse = { tokenId: 't', role: 'admin', serverVersion: '', description: '', installPort: 0, installPin: '', caHash: '' };

export const misspelledRequest = (call: Parameters<ControlServiceServer['getNode']>[0]) =>
  // @ts-expect-error: a misspelled request field (node)
  call.request.nodeName;

// @ts-expect-error: a service called with a misspelled request field (selector)
export const misspelledServiceRequest = () => services.nodes.listNodes(caller, { selecter: 'role=web' });

// @ts-expect-error: an adapter missing a method (getNode)
export const missingMethod: ControlServiceServer = (({ getNode: _dropped, ...rest }) => rest)(implementation);
