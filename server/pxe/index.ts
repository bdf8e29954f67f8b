// Public surface of PXE on the server: known machines, their approval and what they boot (the
// plain-HTTP boot server that answers iPXE is an HTTP listener: server/http/pxe-server.ts).
export { Machines } from './machines';

