// Signed commands to agents: the one sender and the signer interface.
export { CommandSender, COMMAND_TTL_MS, type CommandBody, type CommandLink } from './sender';
export { localSigner, type CommandSigner } from './signer';
