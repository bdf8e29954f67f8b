// The OpenAPI document and the contract schemas it is made from: every route documented once,
// every reference resolvable, and the schemas refuse what gRPC would not decode as meant.
import { describe, expect, it } from 'vitest';
import { ControlServiceService } from '../../../proto/gen/fleet/v1/control';
import { contractSchema } from './contract';
import { openApiDocument } from './openapi';
import { ROUTES } from './routes';
import { sessionPaths } from './session';

describe('the HTTP API document', () => {
  const doc = openApiDocument('/api/v1') as { paths: Record<string, Record<string, { operationId: string }>>; components: { schemas: Record<string, unknown> } };

  it('documents each route once, under its Control operation', () => {
    const ids = Object.values(doc.paths).flatMap((methods) => Object.values(methods).map((m) => m.operationId));
    // The routes, and the page's session (sign in, who, sign out) and terminal socket.
    const page = Object.values(sessionPaths('/api/v1')).flatMap((methods) => Object.values(methods));
    expect(ids.length).toBe(ROUTES.length + page.length);
    expect(new Set(ids).size).toBe(ids.length);
    const control = new Set(Object.values(ControlServiceService).map((m) => m.path.split('/').pop()));
    // Every Control method but the terminal (a WebSocket, /api/v1/shell for the page) has a route.
    expect([...control].filter((m) => !ids.includes(m!))).toEqual(['Shell']);
    expect(doc.paths['/api/v1/nodes/{node}']).toHaveProperty('get');
  });

  it('resolves every $ref to a component', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) expect(doc.components.schemas, ref).toHaveProperty(ref);
  });

  it('refuses a misspelled field, a wrong type and two cases of one oneof', () => {
    const start = contractSchema('StartJobRequest');
    expect(start.safeParse({ argv: ['uptime'], all: true }).success).toBe(true);
    expect(start.safeParse({ argvv: ['uptime'] }).error?.issues[0]?.message).toMatch(/argvv/);
    expect(start.safeParse({ argv: 'uptime' }).success).toBe(false);
    const event = contractSchema('JobEvent');
    expect(event.safeParse({ job: { id: 'j-1' }, done: { id: 'j-1' } }).error?.issues[0]?.message).toMatch(/only one of job, output, run, done/);
  });
});
