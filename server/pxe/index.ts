// Public surface of PXE on the server: known machines and their approval, and the plain-HTTP
// boot server.
export { Machines } from './machines';
export { startPxeServer } from './pxe-server';
