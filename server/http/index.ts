// Public surface of the server's HTTP listeners (all on Fastify): the HTTPS front (install script,
// downloads, the web app and the HTTP API), the metrics port, and what the PXE port shares with them.
export { createHttpApp, listen, sendText, textErrorHandler, type HttpApp } from './fastify-app';
export { findInstallScript, startInstallServer } from './install-server';
export { addMetricsRoute, startMetricsServer } from './metrics-endpoint';
export { createWebApp } from './web-app';
export { startPxeServer } from './pxe-server';
export { MemoryWebSessions } from './memory-web-sessions';
export type { WebSession, WebSessionStore } from './web-sessions';
