// The OpenAPI 3.1 document of the HTTP API, generated from the route table and the contract's
// zod schemas (the same ones that check requests), served at /api/v1/openapi.json.
import { z } from 'zod';
import { VERSION } from '../../../common/version';
import { contractSchema } from './contract';
import { ROUTES } from './routes';
import { sessionPaths } from './session';

const ERROR = {
  description: 'The request was refused or failed: `error` says why, `code` tells failures apart (stable, e.g. NOT_FOUND, FORBIDDEN, FIELD_TOO_LONG)',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

/** Path parameters and query parameters of a zod object, as OpenAPI parameters. */
function parameters(where: 'path' | 'query', schema: z.ZodObject | undefined) {
  if (!schema) return [];
  return Object.entries(schema.shape).map(([name, field]) => {
    const json = z.toJSONSchema(field as z.ZodType, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    const { description, ...rest } = json;
    delete rest.$schema;
    return { name, in: where, required: where === 'path', ...(description ? { description } : {}), schema: rest };
  });
}

/** Builds the document for routes mounted at `prefix` (/api/v1). */
export function openApiDocument(prefix: string): Record<string, unknown> {
  const messages = new Set<string>();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const path = `${prefix}${route.path.replace(/:(\w+)/g, '{$1}')}`;
    const ok: Record<string, unknown> = { description: 'OK' };
    if (route.answer.kind === 'json') {
      messages.add(route.answer.message);
      ok.content = { 'application/json': { schema: { $ref: `#/components/schemas/${route.answer.message}` } } };
    } else if (route.answer.kind === 'events') {
      messages.add(route.answer.message);
      ok.description = `Server-sent events: each \`message\` event's data is a ${route.answer.message} (JSON); an \`error\` event ({error, code}) ends a stream that failed`;
      ok.content = { 'text/event-stream': { schema: { type: 'string' }, 'x-event-data': { $ref: `#/components/schemas/${route.answer.message}` } } };
    } else {
      ok.content = { [route.answer.type.split(';')[0]!]: { schema: { type: 'string' } } };
    }
    let requestBody: unknown;
    if (route.body === 'raw') requestBody = { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };
    else if (route.body) {
      messages.add(route.body);
      requestBody = { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${route.body}` } } } };
    }
    paths[path] ??= {};
    paths[path]![route.method.toLowerCase()] = {
      operationId: route.operation,
      summary: route.summary,
      parameters: [...parameters('path', route.params), ...parameters('query', route.query)],
      ...(requestBody ? { requestBody } : {}),
      responses: { 200: ok, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 429: ERROR },
    };
  }
  for (const m of messages) contractSchema(m);
  // The page's session and terminal socket; their schemas (SignInRequest, WebSession) are in the
  // global registry by their .meta ids, like the contract's.
  Object.assign(paths, sessionPaths(prefix));
  const { schemas } = z.toJSONSchema(z.globalRegistry, { uri: (id) => `#/components/schemas/${id}`, unrepresentable: 'any' }) as { schemas: Record<string, Record<string, unknown>> };
  for (const schema of Object.values(schemas)) delete schema.$schema;
  return {
    openapi: '3.1.0',
    info: {
      title: 'fleet HTTP API',
      version: VERSION,
      description: 'Everything the fleet CLI does, over HTTPS. Authenticate with `Authorization: Bearer <API token>` (create one with `fleet users create`), or with the web page\'s session cookie plus its CSRF token in `x-csrf-token` on state-changing requests. See docs/api.md.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { session: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token (fa1_…)' },
        session: { type: 'apiKey', in: 'cookie', name: 'fleet_session', description: 'The web page\'s session (state-changing requests also need x-csrf-token)' },
      },
      schemas: {
        ...schemas,
        Error: { type: 'object', required: ['error', 'code'], properties: { error: { type: 'string' }, code: { type: 'string' } } },
      },
    },
  };
}
