// The web page's session in the HTTP API: sign in with an API token (POST /api/v1/session, which
// sets the session cookie), read who is signed in and the CSRF token (GET), sign out (DELETE).
// The page needs these; scripts send a bearer token instead and never need a session. The
// handlers live with the cookie sessions in web-app.ts; this file holds their schemas and their
// part of the OpenAPI document.
import { z } from 'zod';

/** Below /api/v1. */
export const SESSION_PATH = '/session';

/** The sign-in body. */
export const signInRequest = z
  .object({ token: z.string().trim().min(1, 'paste an API token (fa1_…)').max(500).describe('an API token (fa1_…)') })
  .meta({ id: 'SignInRequest', description: 'Sign in with an API token' });

/** Who is signed in, and the CSRF token the page sends back on state-changing requests. */
export const webSession = z
  .object({
    tokenId: z.string(),
    role: z.enum(['viewer', 'operator', 'admin']),
    scope: z.string().describe('the label selector the token is limited to ("" for none)'),
    description: z.string(),
    csrf: z.string().describe('send it as x-csrf-token on every state-changing request with this cookie'),
    expiresUnixMs: z.number().int(),
  })
  .meta({ id: 'WebSession', description: 'A web session: who is signed in, and its CSRF token' });

export type WebSessionView = z.infer<typeof webSession>;

/** The answer for a session (sign-in and GET). */
export function webSessionView(s: { principal: { tokenId: string; role: WebSessionView['role']; scope: string; description: string }; csrf: string; expiresAt: number }): WebSessionView {
  return { tokenId: s.principal.tokenId, role: s.principal.role, scope: s.principal.scope, description: s.principal.description, csrf: s.csrf, expiresUnixMs: s.expiresAt };
}

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const error = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } });

/** The session's (and the terminal socket's) paths in the OpenAPI document. */
export function sessionPaths(prefix: string): Record<string, Record<string, unknown>> {
  const session = { description: 'The session', content: { 'application/json': { schema: ref('WebSession') } } };
  return {
    [`${prefix}${SESSION_PATH}`]: {
      post: {
        operationId: 'SignIn',
        summary: 'Sign in with an API token: sets the session cookie (fleet_session) and answers the session with its CSRF token',
        security: [],
        requestBody: { required: true, content: { 'application/json': { schema: ref('SignInRequest') } } },
        responses: { 200: session, 400: error('The body is not {"token": "…"}'), 401: error('The token is not valid'), 413: error('The body is larger than 16 KiB'), 429: error('Too many failed sign-ins from this address (Retry-After)') },
      },
      get: {
        operationId: 'GetSession',
        summary: 'Who is signed in with the session cookie, and its CSRF token',
        security: [{ session: [] }],
        responses: { 200: session, 401: error('No session, or it expired, or its token was revoked') },
      },
      delete: {
        operationId: 'SignOut',
        summary: 'Sign out: ends the session and clears the cookie (needs x-csrf-token)',
        security: [{ session: [] }],
        responses: { 200: { description: 'Signed out', content: { 'application/json': { schema: { type: 'object' } } } }, 401: error('No session'), 403: error('Missing or wrong CSRF token, or another origin') },
      },
    },
    [`${prefix}/shell`]: {
      get: {
        operationId: 'WebShell',
        summary: 'The web terminal: a WebSocket (Upgrade: websocket) to a PTY on a node, for the page\'s session (protocol in docs/api.md)',
        security: [{ session: [] }],
        responses: { 101: { description: 'Switching to the WebSocket' }, 400: error('Not a WebSocket upgrade'), 401: error('No session'), 403: error('Another origin') },
      },
    },
  };
}
