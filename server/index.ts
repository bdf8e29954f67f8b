// Public surface of fleet-server for embedding and tests.
export { startServer, type RunningServer } from './server';
export { defaultOptions, parseOptions, optionsFromEnv, type ServerOptions } from './config';
