// The HTTP API (/api/v1): a Fastify plugin over the service layer, its routes and OpenAPI document.
export { apiPlugin, API_PREFIX, type ApiOptions } from './plugin';
export { openApiDocument } from './openapi';
export { SESSION_PATH, signInRequest, webSessionView, type WebSessionView } from './session';
