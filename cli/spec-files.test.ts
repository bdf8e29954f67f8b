// Local artifacts in a spec: checked against their sha256, uploaded, and replaced by `hosted:`
// in the YAML sent to the server, with the rest of the file kept as written.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadSpec } from '../common/spec';
import { SpecError } from '../common/errors';
import { LocalFileDigestError, LocalFileUnreadableError, SpecFileUnreadableError } from './errors';
import { prepareSpec, readSpecSource, type LocalFile } from './spec-files';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

describe('spec files', () => {
  let dir: string;
  const uploaded: LocalFile[] = [];
  const upload = async (f: LocalFile) => void uploaded.push(f);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-spec-files-'));
    uploaded.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const binary = '#!/bin/sh\necho hello\n';
  const deb = Buffer.from([0x21, 0x3c, 0x61, 0x72, 0x63, 0x68, 0x3e, 0x0a, 0, 1, 2, 3]);
  const specText = (binarySum: string) => `# The web tier.
name: web
selector: role=web
resources:
  - type: binary
    name: hello
    version: "1.2"
    file: ./bin/hello-1.2   # built by make
    sha256: ${binarySum}
  - type: package
    name: hello-doc
    deb:
      sha256: ${sha256(deb)}
      file: "pkgs/hello-doc_1.0_all.deb"
  - type: file
    path: /etc/hello.conf
    content: |
      file: not a local file, just text
`;

  function writeFiles(): void {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'pkgs'));
    writeFileSync(join(dir, 'bin/hello-1.2'), binary);
    writeFileSync(join(dir, 'pkgs/hello-doc_1.0_all.deb'), deb);
  }

  it('uploads each local file and sends hosted: <sha256> instead, keeping the rest of the YAML as written', async () => {
    writeFiles();
    const file = join(dir, 'web.yaml');
    writeFileSync(file, specText(sha256(binary)));
    const prepared = await prepareSpec(await readSpecSource(file, undefined), upload);

    expect(uploaded.map((f) => [f.name, f.size, f.sha256, f.resource])).toEqual([
      ['hello-1.2', binary.length, sha256(binary), 'binary:hello'],
      ['hello-doc_1.0_all.deb', deb.length, sha256(deb), 'package:hello-doc'],
    ]);
    expect(uploaded[0]!.path).toBe(join(dir, 'bin/hello-1.2'));
    expect(prepared.yaml).toBe(
      specText(sha256(binary))
        .replace('file: ./bin/hello-1.2   # built by make', `hosted: ${sha256(binary)}   # built by make`)
        .replace('file: "pkgs/hello-doc_1.0_all.deb"', `hosted: ${sha256(deb)}`),
    );
    const sent = loadSpec(prepared.yaml, 'sent.yaml');
    expect(sent.resources[0]).toMatchObject({ type: 'binary', hosted: sha256(binary) });
    expect(sent.resources[0]).not.toHaveProperty('file');
    expect(sent.resources[1]).toMatchObject({ type: 'package', deb: { hosted: sha256(deb) } });
    expect(sent.resources[2]).toMatchObject({ content: 'file: not a local file, just text\n' });
  });

  it('refuses a local file whose sha256 differs from the spec, naming the file, before uploading anything', async () => {
    writeFiles();
    const file = join(dir, 'web.yaml');
    writeFileSync(file, specText(sha256('an older build')));
    const err = await prepareSpec(await readSpecSource(file, undefined), upload).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalFileDigestError);
    expect((err as Error).message).toContain('./bin/hello-1.2');
    expect((err as Error).message).toContain(sha256(binary));
    expect((err as Error).message).toContain('resources[0] (binary:hello)');
    expect(uploaded).toEqual([]);
  });

  it('says which local file is missing', async () => {
    const file = join(dir, 'web.yaml');
    writeFileSync(file, specText(sha256(binary)));
    const err = await prepareSpec(await readSpecSource(file, undefined), upload).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalFileUnreadableError);
    expect((err as Error).message).toMatch(/cannot read \.\/bin\/hello-1\.2: no such file/);
  });

  it('reads the spec from stdin with -f -, resolving local files against the current directory', async () => {
    writeFiles();
    const stdin = Readable.from([Buffer.from(specText(sha256(binary)))]);
    const source = await readSpecSource('-', stdin, dir);
    expect(source.fileName).toBe('<stdin>');
    const prepared = await prepareSpec(source, upload);
    expect(prepared.yaml).toContain(`hosted: ${sha256(binary)}`);
    expect(uploaded).toHaveLength(2);
  });

  it('still keeps comments when a path is written as a block scalar (the document is re-serialised)', async () => {
    writeFiles();
    const text = `name: web # the web tier\nresources:\n  # the tool\n  - type: binary\n    name: hello\n    version: "1.2"\n    file: >-\n      bin/hello-1.2\n    sha256: ${sha256(binary)}\n`;
    const prepared = await prepareSpec({ text, fileName: 'web.yaml', baseDir: dir }, upload);
    expect(prepared.yaml).toContain('# the web tier');
    expect(prepared.yaml).toContain('# the tool');
    expect(loadSpec(prepared.yaml, 'sent.yaml').resources[0]).toMatchObject({ hosted: sha256(binary) });
    expect(prepared.yaml).not.toMatch(/file:/);
  });

  it('leaves a spec without local files exactly as it is', async () => {
    const text = 'name: plain   # comment\nresources:\n  - type: file\n    path: /etc/x\n    content: "x"\n';
    const prepared = await prepareSpec({ text, fileName: 'plain.yaml', baseDir: dir }, upload);
    expect(prepared.yaml).toBe(text);
    expect(uploaded).toEqual([]);
  });

  it('passes validation errors through as SpecError and says clearly when the spec file is missing', async () => {
    const bad = await prepareSpec({ text: 'name: web\nresources:\n  - type: teleport\n', fileName: 'bad.yaml', baseDir: dir }, upload).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(SpecError);
    expect((bad as Error).message).toMatch(/^bad\.yaml:3:\d+: /);
    const missing = await readSpecSource(join(dir, 'nope.yaml'), undefined).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(SpecFileUnreadableError);
    expect((missing as Error).message).toMatch(/cannot read spec file .*nope\.yaml: no such file/);
  });
});
