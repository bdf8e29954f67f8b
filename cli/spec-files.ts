// Getting a spec file ready for the server (`fleet plan` and `fleet apply`): read it (or stdin),
// validate it locally, check every local artifact (`file: ./path` on a binary or a package's deb)
// against its declared sha256, upload it, and rewrite the YAML so `file:` becomes `hosted: <sha256>`.
// Everything else in the YAML — comments, quoting, layout — is kept byte for byte, so the stored
// revision (shown by `fleet history`) reads like the file the operator wrote.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, parseDocument, Scalar, type Document, type Node, type Pair } from 'yaml';
import { loadSpec, type Spec } from '../common/spec';
import type { ControlClient } from './client';
import { LocalFileDigestError, LocalFileUnreadableError, SpecFileUnreadableError } from './errors';
import type { CliIo } from './io';
import { formatBytes } from './output';

/** A file on this machine that a spec resource names with `file:`. */
export interface LocalFile {
  /** Where in the spec: `resources[2]` (a binary) or `resources[3].deb` (a package's .deb). */
  field: string;
  /** The resource's id, such as `binary:hello` or `package:hello`. */
  resource: string;
  /** As written in the spec (`./hello-1.2`). */
  written: string;
  /** Absolute path on this machine. */
  path: string;
  /** The name the server stores it under (the file's base name). */
  name: string;
  size: number;
  sha256: string;
}

/** Sends one local file to the server (which skips files it already has). */
export type UploadLocalFile = (file: LocalFile) => Promise<void>;

export interface PreparedSpec {
  spec: Spec;
  /** The YAML to send: the original text, with each `file:` replaced by `hosted: <sha256>`. */
  yaml: string;
  /** The name used in error messages and sent to the server as file_name. */
  fileName: string;
  files: LocalFile[];
}

export interface SpecSource {
  text: string;
  fileName: string;
  /** Relative `file:` paths are resolved against this directory (the spec file's). */
  baseDir: string;
}

/**
 * Reads `-f FILE`; `-` reads `stdin` (relative `file:` paths then resolve against the current directory).
 * @throws SpecFileUnreadableError when the file is missing, a directory, or unreadable.
 */
export async function readSpecSource(file: string, stdin: AsyncIterable<Buffer | string> | undefined, cwd = process.cwd()): Promise<SpecSource> {
  if (file === '-') {
    if (!stdin) throw new SpecFileUnreadableError('-', 'no standard input');
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return { text: Buffer.concat(chunks).toString('utf8'), fileName: '<stdin>', baseDir: cwd };
  }
  const path = resolve(cwd, file);
  try {
    return { text: await readFile(path, 'utf8'), fileName: file, baseDir: dirname(path) };
  } catch (err) {
    throw new SpecFileUnreadableError(file, describeFsError(err), err);
  }
}

/**
 * Validates a spec, checks and uploads its local files, and returns the YAML for the server.
 *
 * @throws SpecError (from loadSpec) listing every problem as `file:line:col: field: message`;
 *   LocalFileUnreadableError or LocalFileDigestError for a local file, before anything is uploaded.
 * @example
 * const src = await readSpecSource('web.yaml', process.stdin);
 * const { yaml } = await prepareSpec(src, async (f) => void (await client.uploadFile(...)));
 */
export async function prepareSpec(source: SpecSource, upload: UploadLocalFile): Promise<PreparedSpec> {
  const spec = loadSpec(source.text, source.fileName);
  const files: LocalFile[] = [];
  for (const [i, r] of spec.resources.entries()) {
    if (r.type === 'binary' && r.file !== undefined) files.push(await inspect(source, `resources[${i}]`, `binary:${r.name}`, r.file, r.sha256));
    if (r.type === 'package' && r.deb?.file !== undefined) files.push(await inspect(source, `resources[${i}].deb`, `package:${r.name}`, r.deb.file, r.deb.sha256));
  }
  for (const f of files) await upload(f);
  const yaml = files.length === 0 ? source.text : replaceLocalFiles(source.text, files);
  return { spec, yaml, fileName: source.fileName, files };
}

/** Reads a local file's size and SHA-256 and checks the digest against the declared one. */
async function inspect(source: SpecSource, field: string, resource: string, written: string, declared: string): Promise<LocalFile> {
  const where = `${source.fileName}: ${field} (${resource})`;
  const path = isAbsolute(written) ? written : resolve(source.baseDir, written);
  let size: number;
  let sha256: string;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new LocalFileUnreadableError(where, written, 'not a regular file');
    size = st.size;
    sha256 = await sha256File(path);
  } catch (err) {
    if (err instanceof LocalFileUnreadableError) throw err;
    throw new LocalFileUnreadableError(where, written, describeFsError(err), err);
  }
  if (sha256 !== declared) throw new LocalFileDigestError(where, written, sha256, declared);
  return { field, resource, written, path, name: basename(path).slice(0, 200), size, sha256 };
}

/** The SHA-256 (hex) of a file, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A short reason a file could not be read: "no such file", "permission denied", … */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return (err as Error)?.message ?? String(err);
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * Replaces `file: X` with `hosted: <sha256>` for each local file, in the source text. The YAML
 * Document API locates the exact key and value of each `file:` pair; the text between them is
 * left untouched. Values written as block scalars (rare for a path) fall back to re-serialising
 * the document, which still keeps comments.
 */
export function replaceLocalFiles(text: string, files: readonly LocalFile[]): string {
  const doc = parseDocument(text);
  // Find every pair first: a resource reused through an alias shares its pair with the anchor's.
  const pairs = new Map<Pair, string>();
  for (const f of files) {
    const pair = findFilePair(doc, f.field);
    if (!pair) throw new Error(`internal: no "file:" found at ${f.field}`);
    pairs.set(pair, f.sha256);
  }
  const edits: Edit[] = [];
  let inline = true;
  for (const [pair, sha256] of pairs) {
    const key = pair.key as Node;
    const value = pair.value as Node | null;
    if (isScalar(key) && key.range && isScalar(value) && value.range && INLINE_TYPES.has(value.type ?? '')) {
      edits.push({ start: key.range[0], end: key.range[1], text: 'hosted' }, { start: value.range[0], end: value.range[1], text: plainOrQuoted(sha256) });
    } else {
      inline = false;
    }
    // Change the document too, for the fallback.
    if (isScalar(key)) key.value = 'hosted';
    else pair.key = new Scalar('hosted');
    if (isScalar(value)) {
      value.value = sha256;
      value.type = Scalar.PLAIN;
    } else {
      pair.value = new Scalar(sha256);
    }
  }
  if (!inline) return doc.toString();
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

const INLINE_TYPES = new Set<string>([Scalar.PLAIN, Scalar.QUOTE_DOUBLE, Scalar.QUOTE_SINGLE]);

/** A hex digest is written plain unless YAML would read it as something other than that string. */
function plainOrQuoted(value: string): string {
  const parsed = parseDocument(value).toJS() as unknown;
  return parsed === value ? value : JSON.stringify(value);
}

/** The `file:` pair at `resources[i]` or `resources[i].deb`, following aliases. */
function findFilePair(doc: Document.Parsed, field: string): Pair | undefined {
  const m = /^resources\[(\d+)\](\.deb)?$/.exec(field);
  if (!m) return undefined;
  const deref = (n: unknown): unknown => (isAlias(n) ? n.resolve(doc) : n);
  const get = (map: unknown, key: string): Pair | undefined => {
    const node = deref(map);
    if (!isMap(node)) return undefined;
    return node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key) as Pair | undefined;
  };
  const resources = deref(get(doc.contents, 'resources')?.value);
  if (!isSeq(resources)) return undefined;
  let node: unknown = resources.items[Number(m[1])];
  if (m[2]) node = get(node, 'deb')?.value;
  return get(node, 'file');
}

/**
 * The upload function `fleet plan` and `fleet apply` use: streams the file in 1 MiB frames through
 * UploadFile, saying so on stderr when it is a terminal.
 */
export function uploadThrough(client: Pick<ControlClient, 'uploadFile'>, io: CliIo): UploadLocalFile {
  return async (f) => {
    if (io.stderr.isTTY) io.stderr.write(`uploading ${f.name} (${f.size ? formatBytes(f.size).replace(/(\d)([KMGT]?i?B)$/, '$1 $2') : '0 B'})\n`);
    const chunks = createReadStream(f.path, { highWaterMark: UPLOAD_CHUNK_BYTES }) as AsyncIterable<Buffer>;
    await client.uploadFile({ name: f.name, size: f.size, sha256: f.sha256 }, chunks);
  };
}

/** The largest data frame of an upload. */
export const UPLOAD_CHUNK_BYTES = 1024 * 1024;
