// The page's side of the HTTP API (/api/v1, docs/api.md): fetch with the session cookie, the CSRF
// header on state-changing calls, server-sent event streams read with fetch, and errors turned
// into ApiError with the server's message.

/** Where the API lives. */
export const API = '/api/v1';

/** An API call that failed; `status` 401 means the page must sign in again. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Who is signed in: the page's session, as POST and GET /api/v1/session answer it. */
export interface Me {
  tokenId: string;
  role: 'viewer' | 'operator' | 'admin';
  scope: string;
  description: string;
  csrf: string;
  expiresUnixMs: number;
}

let csrf = '';

/** Remembers the CSRF token of the current session (kept in memory only). */
export function setCsrf(token: string): void {
  csrf = token;
}

export function csrfToken(): string {
  return csrf;
}

async function toError(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code = 'HTTP';
  try {
    const body = (await res.json()) as { error?: string; code?: string };
    if (body.error) message = body.error;
    if (body.code) code = body.code;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, message, code);
}

/** GET a JSON resource. */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' }, signal });
  if (!res.ok) throw await toError(res);
  return (await res.json()) as T;
}

/** POST JSON with the CSRF header. */
export async function postJson<T>(path: string, body: unknown = {}): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw await toError(res);
  return (await res.json()) as T;
}

/** DELETE with the CSRF header. */
export async function deleteJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { method: 'DELETE', credentials: 'same-origin', headers: { accept: 'application/json', 'x-csrf-token': csrf } });
  if (!res.ok) throw await toError(res);
  return (await res.json()) as T;
}

/**
 * Reads a stream of server-sent events: calls `message` with each `message` event's JSON (the
 * batch of events one network read brought, then `batch`); resolves when the stream ends.
 * @throws ApiError for a refusal, or an `error` event ({error, code}) that ended the stream
 */
export async function readEvents<T>(path: string, signal: AbortSignal, message: (event: T) => void, batch: () => void = () => {}): Promise<void> {
  const res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'text/event-stream' }, signal });
  if (!res.ok) throw await toError(res);
  if (!res.body) throw new ApiError(500, 'the server sent no body', 'NO_BODY');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (!data) continue; // a keepalive comment
      if (type === 'error') {
        const e = JSON.parse(data) as { error?: string; code?: string };
        throw new ApiError(500, e.error ?? 'the stream failed', e.code ?? 'STREAM');
      }
      message(JSON.parse(data) as T);
    }
    batch();
  }
}

/** Streams a resource; the caller reads the body. */
export async function getStream(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const res = await fetch(path, { credentials: 'same-origin', signal });
  if (!res.ok) throw await toError(res);
  if (!res.body) throw new ApiError(500, 'the server sent no body', 'NO_BODY');
  return res.body;
}
