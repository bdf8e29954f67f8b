// The page's side of the JSON API: fetch with the session cookie, the CSRF header on
// state-changing calls, and errors turned into ApiError with the server's message.

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

/** Who is signed in, as /api/login and /api/me return it. */
export interface Me {
  tokenId: string;
  role: 'viewer' | 'operator' | 'admin';
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

/** Streams a resource; the caller reads the body. */
export async function getStream(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const res = await fetch(path, { credentials: 'same-origin', signal });
  if (!res.ok) throw await toError(res);
  if (!res.body) throw new ApiError(500, 'the server sent no body', 'NO_BODY');
  return res.body;
}
