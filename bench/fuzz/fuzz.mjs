// The fuzzer as a library (bench/fuzz/index.mjs is its command line; test/fuzz.test.ts runs a
// short fixed run of it): builds the targets, starts the real fleet when a target needs one, and
// runs them all with one seed.
import { request } from 'node:https';
import { loadProject } from './project.mjs';
import { runFuzz, summaryTable } from './run.mjs';
import { agentNatsTarget } from './targets/agent-nats.mjs';
import { grpcTargets } from './targets/grpc.mjs';
import { httpsTarget, pxeTarget } from './targets/http.mjs';
import { planTarget, specTarget, tokenTarget } from './targets/parsers.mjs';
import { websocketTarget } from './targets/websocket.mjs';
import { startFuzzFleet } from './fleet.mjs';

export { summaryTable, startFuzzFleet };
export { randomSeed } from './prng.mjs';

/** Every target, in the order they run (the web terminal before the HTTP target signs out sessions). */
export async function allTargets() {
  const project = await loadProject();
  return [specTarget(project), tokenTarget(project), ...grpcTargets(project), websocketTarget, httpsTarget, pxeTarget, planTarget, agentNatsTarget(project)];
}

/** The share of the cases each target gets (weights; the in-process ones are cheap). */
const WEIGHT = { 'yaml-specs': 3, 'tokens-selectors': 8, 'grpc-control': 4, 'grpc-agent': 2, websocket: 1, https: 2, pxe: 2, 'fleet-plan': 0.01, 'agent-nats': 2 };

/** Splits `total` cases over the targets by weight (at least 5 each). */
export function casesPerTarget(total, names) {
  const sum = names.reduce((a, n) => a + (WEIGHT[n] ?? 1), 0);
  return Object.fromEntries(names.map((n) => [n, Math.max(5, Math.round((total * (WEIGHT[n] ?? 1)) / sum))]));
}

/** Signs in to the web app with the admin token: the session cookie and CSRF token (reused when sign-in is refused). */
function webSessionOf(fleet) {
  let last;
  return () =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ token: fleet.adminToken });
      // A connection of its own (agent: false): reusing an idle keep-alive socket races the
      // server's 5 s keep-alive timeout when a loaded machine stalls this process for a second,
      // and the sign-in then fails with "socket hang up".
      const req = request({ host: '127.0.0.1', port: fleet.fleet.httpsPort, path: '/api/v1/session', method: 'POST', rejectUnauthorized: false, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          if (res.statusCode !== 200) return last ? resolve(last) : reject(new Error(`sign-in failed: ${res.statusCode} ${text}`));
          last = { cookie: String(res.headers['set-cookie']?.[0] ?? '').split(';')[0], csrf: JSON.parse(text).csrf, admin: fleet.adminToken };
          resolve(last);
        });
      });
      req.on('error', reject);
      req.end(body);
    });
}

/**
 * Runs the fuzzer. `cases` is the total over all targets (or a map of cases per target); `only`
 * limits the targets by name. Starts (and stops) its own fleet unless `fleet` is given.
 * Returns the tallies, the findings and the server/agent RSS before and after.
 */
export async function fuzz({ seed, cases, only, outDir, fleet, nats = true, batches = 4, log = () => {} }) {
  let targets = await allTargets();
  if (only?.length) targets = targets.filter((t) => only.includes(t.name));
  const own = !fleet && targets.some((t) => t.needsFleet);
  if (own) fleet = await startFuzzFleet({ nats });
  if (!fleet?.nodeIds['fuzz-nats']) targets = targets.filter((t) => t.name !== 'agent-nats');
  const perTarget = typeof cases === 'number' ? casesPerTarget(cases, targets.map((t) => t.name)) : cases;
  const ctx = { fleet: fleet ?? null, webSession: fleet ? webSessionOf(fleet) : null };
  try {
    return { ...(await runFuzz({ seed, casesPerTarget: (name) => perTarget[name] ?? 0, targets, ctx, batches, outDir, log })), fleet };
  } finally {
    if (own) fleet.stop();
  }
}
