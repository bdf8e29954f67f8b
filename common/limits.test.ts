// The limits table matches the protos (every text field of every request of both fleet services,
// and nothing else), the docs list every limit, and checkRequest names the field and the limit.
import { createFileRegistry, fromBinary, ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { descriptorSetBase64 } from '../proto/gen/descriptor-set';
import { FieldTooLongError } from './errors';
import { checkRequest, checkText, fitRequest, LIMITS, REQUEST_FIELDS, type Fields, type Shape } from './limits';

type Skeleton = 'text' | { list: Skeleton } | { map: Skeleton } | { message: Record<string, Skeleton> } | { oneof: Record<string, Skeleton> };

/** A shape with the limits left out: what must match the protos. */
function skeleton(shape: Shape): Skeleton {
  switch (shape.kind) {
    case 'text':
      return 'text';
    case 'list':
      return { list: skeleton(shape.of) };
    case 'map':
      return { map: skeleton(shape.value) };
    case 'message':
      return { message: fieldsSkeleton(shape.fields) };
    case 'oneof':
      return { oneof: fieldsSkeleton(shape.cases) };
  }
}
const fieldsSkeleton = (fields: Fields) => Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, skeleton(v)]));

/** The text-bearing fields of a message, from its descriptor, in the shape of the table. */
function fromDescriptor(message: DescMessage): Record<string, Skeleton> {
  const out: Record<string, Skeleton> = {};
  const oneofs: Record<string, Record<string, Skeleton>> = {};
  const ofMessage = (m: DescMessage): Skeleton | null => {
    const fields = fromDescriptor(m);
    return Object.keys(fields).length ? { message: fields } : null;
  };
  const of = (f: DescField): Skeleton | null => {
    switch (f.fieldKind) {
      case 'scalar':
        return f.scalar === ScalarType.STRING ? 'text' : null;
      case 'message':
        return ofMessage(f.message);
      case 'list': {
        const item = f.listKind === 'scalar' ? (f.scalar === ScalarType.STRING ? 'text' : null) : f.listKind === 'message' ? ofMessage(f.message) : null;
        return item && { list: item };
      }
      case 'map':
        expect(f.mapKey).toBe(ScalarType.STRING);
        return { map: f.mapKind === 'scalar' && f.scalar === ScalarType.STRING ? 'text' : f.mapKind === 'message' ? (ofMessage(f.message) ?? 'none') : 'none' } as Skeleton;
      default:
        return null;
    }
  };
  for (const f of message.fields) {
    const s = of(f);
    if (!s) continue;
    if (f.oneof) (oneofs[f.oneof.localName] ??= {})[f.localName] = s;
    else out[f.localName] = s;
  }
  for (const [name, cases] of Object.entries(oneofs)) out[name] = { oneof: cases };
  return out;
}

describe('request limits', () => {
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(descriptorSetBase64, 'base64')));

  it('name every text field of every request of the Control and Agent services, and nothing else', () => {
    for (const name of ['fleet.v1.ControlService', 'fleet.v1.AgentService']) {
      const service = registry.getService(name);
      expect(service, name).toBeDefined();
      for (const method of service!.methods) {
        const path = `/${name}/${method.name}`;
        const fields = REQUEST_FIELDS.get(path);
        expect(fields, `${path} has no entry in common/limits.ts`).toBeDefined();
        expect({ path, fields: fieldsSkeleton(fields!) }).toEqual({ path, fields: fromDescriptor(method.input) });
      }
    }
  });

  it('are all listed in docs/protocol.md', () => {
    const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');
    for (const limit of Object.values(LIMITS)) expect(doc).toContain(`| ${limit.what} | ${limit.max} |`);
  });

  it('refuse the first field over its limit, naming the method, the field and the limit, never the value', () => {
    const long = 'x'.repeat(70_000);
    const refusal = (path: string, request: unknown, context?: string) => {
      try {
        checkRequest(path, request, context);
      } catch (err) {
        expect(err).toBeInstanceOf(FieldTooLongError);
        expect((err as Error).message).not.toContain('xxxxxxxxxx');
        return (err as Error).message;
      }
      return null;
    };
    expect(refusal('/fleet.v1.ControlService/GetNode', { node: long })).toBe('GetNode: node is 70000 characters long; the limit is 253 (see "Limits" in docs/protocol.md)');
    expect(refusal('/fleet.v1.ControlService/GetNode', { node: long }, '')).toBe('node is 70000 characters long; the limit is 253 (see "Limits" in docs/protocol.md)');
    expect(refusal('/fleet.v1.ControlService/StartJob', { selector: '', nodes: [], argv: ['sh', '-c', long], shell: '', maxConcurrency: '' })).toMatch(/^StartJob: argv\[2\] is 70000 characters long; the limit is 65536 /);
    expect(refusal('/fleet.v1.ControlService/StartJob', { selector: '', nodes: [], argv: [], shell: '', maxConcurrency: long.slice(0, 300) })).toMatch(/^StartJob: max_concurrency is 300 /);
    expect(refusal('/fleet.v1.ControlService/Shell', { body: { $case: 'start', value: { node: 'web-1', argv: [long], term: '' } } })).toMatch(/^Shell: start\.argv\[0\] is 70000 /);
    expect(refusal('/fleet.v1.ControlService/LabelNode', { node: 'web-1', set: { [long.slice(0, 400)]: 'a' }, remove: [] })).toMatch(/^LabelNode: set \(a key\) is 400 characters long; the limit is 317 /);
    expect(refusal('/fleet.v1.ControlService/LabelNode', { node: 'web-1', set: { role: long.slice(0, 64) }, remove: [] })).toMatch(/^LabelNode: set\["role"\] is 64 characters long; the limit is 63 /);
    expect(refusal('/fleet.v1.AgentService/Enroll', { token: 't', identity: { hostname: long, macs: [] } })).toMatch(/^Enroll: identity\.hostname is 70000 /);
    expect(refusal('/fleet.v1.AgentService/Connect', { body: { $case: 'stateReport', value: { spec: 's', resources: [{ id: 'file:/a', changes: ['ok', long + long], error: '' }] } } })).toMatch(
      /^Connect: state_report\.resources\[0\]\.changes\[1\] is 140000 characters long; the limit is 65536 /,
    );
    expect(refusal('/fleet.v1.AgentService/Connect', { body: { $case: 'execEvent', value: { jobId: 'j', body: { $case: 'finished', value: { signal: '', error: long + long } } } } })).toMatch(/^Connect: exec_event\.finished\.error is 140000 /);
    expect(refusal('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', { host: '', fileContainingSymbol: long })).toMatch(/^ServerReflectionInfo: file_containing_symbol is 70000 /);
  });

  it('let requests within their limits through, and methods without text alone', () => {
    expect(() => checkRequest('/fleet.v1.ControlService/GetNode', { node: 'x'.repeat(253) })).not.toThrow();
    expect(() => checkRequest('/fleet.v1.ControlService/StartJob', { selector: 'role=web', nodes: ['a'], argv: [], shell: 'x'.repeat(65_536), maxConcurrency: '10%' })).not.toThrow();
    expect(() => checkRequest('/fleet.v1.AgentService/Connect', { body: { $case: 'execEvent', value: { jobId: 'j', body: { $case: 'output', value: { data: Buffer.alloc(1 << 20) } } } } })).not.toThrow();
    expect(() => checkRequest('/other.Service/Method', { anything: 'x'.repeat(1 << 20) })).not.toThrow();
    expect(() => checkText('selector', 'x'.repeat(4097), LIMITS.selector)).toThrow(FieldTooLongError);
  });

  it('cut a sender\'s own over-long text to its limit, copying only what changes', () => {
    const path = '/fleet.v1.AgentService/Connect';
    const ok = { body: { $case: 'stateReport', value: { commandId: 'c', spec: 's', rolloutId: '', resources: [{ id: 'file:/a', status: 'failed', changes: [], error: 'short' }], error: '' } } };
    expect(fitRequest(path, ok)).toBe(ok);
    const long = { ...ok, body: { ...ok.body, value: { ...ok.body.value, resources: [ok.body.value.resources[0]!, { id: 'exec:x', status: 'failed', changes: [], error: 'e'.repeat(200_000) }] } } };
    const fitted = fitRequest(path, long);
    expect(() => checkRequest(path, fitted)).not.toThrow();
    const error = fitted.body.value.resources[1]!.error;
    expect(error).toHaveLength(65_536);
    expect(error.endsWith('…')).toBe(true);
    expect(fitted.body.value.resources[0]).toBe(ok.body.value.resources[0]);
    expect(long.body.value.resources[1]!.error).toHaveLength(200_000);
    const labels = fitRequest('/fleet.v1.AgentService/Enroll', { token: 't', labels: { role: 'v'.repeat(100) } });
    expect(labels.labels).toEqual({ role: `${'v'.repeat(62)}…` });
  });
});
