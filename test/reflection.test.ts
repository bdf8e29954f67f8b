// gRPC reflection on a real fleet-server answers for every .proto file by its name, with that
// file's own descriptor (its messages and services, as written in proto/) and the files it imports,
// on both protocol versions that grpcurl and other clients speak.
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import { fromBinary, type MessageShape } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from './harness';

type FileDescriptor = MessageShape<typeof FileDescriptorProtoSchema>;

const protoRoot = fileURLToPath(new URL('../proto', import.meta.url));
const identity = (b: Buffer) => b;

/** Every .proto file under proto/, named as buf names it (relative to proto/). */
function protoFiles(dir = protoRoot): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'gen' ? [] : protoFiles(path);
    return e.name.endsWith('.proto') ? [relative(protoRoot, path)] : [];
  });
}

/** What a .proto file declares at its top level, read from its source. */
function declared(file: string): { imports: string[]; messages: string[]; services: string[]; enums: string[] } {
  const text = readFileSync(join(protoRoot, file), 'utf8');
  const top = (kind: string) => [...text.matchAll(new RegExp(`^${kind} (\\w+)`, 'gm'))].map((m) => m[1]!);
  return {
    imports: [...text.matchAll(/^import "([^"]+)";/gm)].map((m) => m[1]!),
    messages: top('message'),
    services: top('service'),
    enums: top('enum'),
  };
}

/** A reflection answer: the descriptors of a file_descriptor_response, or an error_response. */
type Answer = { files: FileDescriptor[] } | { error: { code: number; message: string } };

function decodeAnswer(bytes: Buffer): Answer {
  const r = new BinaryReader(bytes);
  let answer: Answer | undefined;
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 4) {
      // FileDescriptorResponse { repeated bytes file_descriptor_proto = 1; }
      const inner = new BinaryReader(r.bytes());
      const files: FileDescriptor[] = [];
      while (inner.pos < inner.len) {
        const [f, w] = inner.tag();
        if (f === 1) files.push(fromBinary(FileDescriptorProtoSchema, inner.bytes()));
        else inner.skip(w);
      }
      answer = { files };
    } else if (field === 7) {
      // ErrorResponse { int32 error_code = 1; string error_message = 2; }
      const inner = new BinaryReader(r.bytes());
      const error = { code: 0, message: '' };
      while (inner.pos < inner.len) {
        const [f, w] = inner.tag();
        if (f === 1) error.code = inner.int32();
        else if (f === 2) error.message = inner.string();
        else inner.skip(w);
      }
      answer = { error };
    } else {
      r.skip(wire);
    }
  }
  if (!answer) throw new Error('reflection answer without a file_descriptor_response or error_response');
  return answer;
}

describe('gRPC reflection by file name', () => {
  const fleet = new Fleet();
  beforeAll(() => fleet.startServer());
  afterAll(() => fleet.stop());

  /** Sends one ServerReflectionRequest (`field` set to `value`) and decodes the one answer. */
  async function ask(version: 'v1' | 'v1alpha', field: 3 | 4, value: string): Promise<Answer> {
    const client = new Client(`127.0.0.1:${fleet.port}`, credentials.createSsl(readFileSync(join(fleet.dataDir, 'pki', 'ca.crt'))));
    try {
      const stream = client.makeBidiStreamRequest(`/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`, identity, identity, new Metadata());
      const answers: Buffer[] = [];
      stream.on('data', (b: Buffer) => answers.push(b));
      const done = new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        stream.on('status', () => resolve());
      });
      stream.write(Buffer.from(new BinaryWriter().tag(field, WireType.LengthDelimited).string(value).finish()));
      stream.end();
      await done;
      expect(answers).toHaveLength(1);
      return decodeAnswer(answers[0]!);
    } finally {
      client.close();
    }
  }

  const files = protoFiles();

  it('finds the contract files', () => {
    expect(files).toEqual(expect.arrayContaining(['fleet/v1/agent.proto', 'fleet/v1/common.proto', 'fleet/v1/control.proto']));
  });

  for (const version of ['v1', 'v1alpha'] as const) {
    it(`answers file_by_filename for every .proto file with its own descriptor and its imports (${version})`, async () => {
      for (const file of files) {
        const answer = await ask(version, 3, file);
        expect(answer, file).toHaveProperty('files');
        const [first, ...deps] = (answer as { files: FileDescriptor[] }).files;
        const source = declared(file);
        expect({
          name: first!.name,
          package: first!.package,
          messages: first!.messageType.map((m) => m.name),
          services: first!.service.map((s) => s.name),
          enums: first!.enumType.map((e) => e.name),
          imports: first!.dependency,
        }).toEqual({ name: file, package: 'fleet.v1', ...source });
        // Every import comes along (recursively), so a client can resolve each type.
        expect(deps.map((d) => d.name).sort()).toEqual(expect.arrayContaining(source.imports));
      }
    });
  }

  it('names the file of a service by its symbol, and answers an unknown file NOT_FOUND', async () => {
    const bySymbol = await ask('v1', 4, 'fleet.v1.AgentService');
    expect((bySymbol as { files: FileDescriptor[] }).files[0]?.name).toBe('fleet/v1/agent.proto');
    const missing = await ask('v1', 3, 'fleet/v1/nope.proto');
    expect(missing).toEqual({ error: { code: 5, message: 'Proto file not found: fleet/v1/nope.proto' } });
  });
});
