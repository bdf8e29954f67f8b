// Journey 4, web side: a real Chromium (Debian's, driven by playwright-core) against a real
// server and agent. Sign-in, the nodes page, health checks and desired state on the node pages,
// rollouts (a rollback's page shows the failure it undoes), the web terminal (typing, resize, a
// dropped socket that resumes without losing or doubling output), playback of the recording, the
// viewer role, CSRF, the cookie's flags and the sign-in rate limit.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, waitFor } from './harness';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Everything in the terminal's buffer (scrollback included), one string per line. */
async function terminalLines(page: Page, handle = '__fleetTerm'): Promise<string[]> {
  return page.evaluate((name) => {
    const term = (globalThis as unknown as Record<string, { buffer: { active: { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined } } } | undefined>)[name];
    if (!term) return [];
    const buffer = term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < buffer.length; i++) out.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return out;
  }, handle);
}

async function terminalSize(page: Page): Promise<{ rows: number; cols: number }> {
  return page.evaluate(() => {
    const term = (globalThis as unknown as { __fleetTerm: { rows: number; cols: number } }).__fleetTerm;
    return { rows: term.rows, cols: term.cols };
  });
}

/** Types a command line into the terminal, as a person would. */
async function run(page: Page, command: string): Promise<void> {
  await page.locator('#terminal .xterm-helper-textarea').focus();
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
}

async function waitForLine(page: Page, what: string, matches: (line: string) => boolean, timeoutMs = 15_000): Promise<void> {
  await waitFor(what, async () => (await terminalLines(page)).some(matches), timeoutMs, 100);
}

describe('web app', () => {
  // Five failed sign-ins a minute, so the rate-limit test below needs only a few.
  const fleet = new Fleet({ serverEnv: { FLEET_SHELL_GRACE_MS: '30000', FLEET_SIGNIN_FAILURES: '5' } });
  const profile = mkdtempSync(join(tmpdir(), 'fleet-chromium-'));
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;

  const signIn = async (p: Page, token: string) => {
    await p.goto(`${fleet.installUrl}/`);
    await p.locator('#token').fill(token);
    await p.getByRole('button', { name: 'Sign in' }).click();
  };

  beforeAll(async () => {
    await fleet.startServer();
    // Desired state converges inside this directory, never in the real /.
    mkdirSync(join(fleet.dir, 'root-web-1'), { recursive: true });
    // A plain shell for the terminal, so the tester's own dotfiles (slow rc files) cannot get in the way.
    fleet.startAgent('web-1', await fleet.token(), [], { FLEET_AGENT_ROOT: join(fleet.dir, 'root-web-1'), SHELL: '/bin/sh' });
    await fleet.waitOnline(['web-1']);
    // playwright-core keeps --user-data-dir for persistent contexts; launch() gets a fresh
    // profile of its own, and this directory keeps Chromium's other state out of $HOME.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, env: { ...process.env, HOME: profile, XDG_CONFIG_HOME: profile, XDG_CACHE_HOME: profile } });
    admin = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 800 } });
    page = await admin.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await fleet.stop();
    rmSync(profile, { recursive: true, force: true });
  });

  it('refuses a wrong token on the sign-in page with a clear message', async () => {
    const wrong = fleet.adminToken.replace(/.{4}$/, (s) => (s === '0000' ? '1111' : '0000'));
    await signIn(page, wrong);
    await expect.poll(() => page.locator('#sign-in-error').innerText()).toContain('not valid on this server');
    expect(await page.locator('#nav').isHidden()).toBe(true);
  });

  it('signs in with the admin token and lists the node as online, with a strict session cookie', async () => {
    await signIn(page, fleet.adminToken);
    const row = page.locator('tr[data-node="web-1"]');
    await row.waitFor();
    expect(await row.innerText()).toContain('online');
    const cookie = (await admin.cookies()).find((c) => c.name === 'fleet_session');
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    expect(cookie!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // A label selector that matches nothing leaves the table empty; a broken one is explained.
    await page.goto(`${fleet.installUrl}/#/nodes?selector=${encodeURIComponent('role=nothing')}`);
    await expect.poll(() => page.locator('main').innerText()).toContain('0 nodes matching role=nothing');
    await page.goto(`${fleet.installUrl}/#/nodes?selector=${encodeURIComponent('a in')}`);
    await expect.poll(() => page.locator('main .error').innerText()).toContain('invalid selector');
  });

  it('refuses a state-changing request without the CSRF header', async () => {
    const statuses = await page.evaluate(async () => {
      const bare = await fetch('/api/v1/session', { method: 'DELETE' });
      const wrong = await fetch('/api/v1/session', { method: 'DELETE', headers: { 'x-csrf-token': 'not-it' } });
      const me = await fetch('/api/v1/session');
      return { bare: bare.status, body: (await bare.json()) as { error: string }, wrong: wrong.status, still: me.status };
    });
    expect(statuses).toMatchObject({ bare: 403, wrong: 403, still: 200 });
    expect(statuses.body.error).toContain('CSRF');
  });

  it('shows jobs with each node\'s output, and the node page lists them', async () => {
    const r = await fleet.cli(['exec', 'web-1', '--', 'sh', '-c', 'echo out-$((20+1)); echo err-$((20+2)) >&2; exit 4']);
    expect(r.code).not.toBe(0);
    await page.goto(`${fleet.installUrl}/#/jobs`);
    const link = page.locator('main table a[href^="#/jobs/"]').first();
    await link.waitFor();
    await link.click();
    const output = page.locator('section.output[data-node="web-1"] pre');
    await output.waitFor();
    // stdout and stderr travel separately, so only each stream's own order is certain.
    expect(await output.innerText()).toMatch(/^(out-21\nerr-22|err-22\nout-21)\n$/);
    expect(await output.locator('.stderr').innerText()).toBe('err-22\n');
    expect(await page.locator('main table tbody tr').first().innerText()).toMatch(/web-1\s+failed\s+4/);
    await page.goto(`${fleet.installUrl}/#/nodes/web-1`);
    await page.getByText('Recent jobs').waitFor();
    expect(await page.locator('table.recent-jobs').innerText()).toContain('failed');
    expect(await page.locator('table.inventory').innerText()).toMatch(/os\.kernel\s+\S+/);
  });

  it('shows a node\'s passing and failing checks, its desired state, the failing count in the list, and the rollout', async () => {
    // Before any spec: no checks, and the list says so with a dash.
    await page.goto(`${fleet.installUrl}/#/nodes/web-1`);
    await expect.poll(() => page.locator('#health').innerText()).toContain('No health checks.');
    await page.goto(`${fleet.installUrl}/#/nodes`);
    await expect.poll(() => page.locator('tr[data-node="web-1"] .health-cell').innerText()).toBe('–');

    const specFile = join(fleet.dir, 'web-health.yaml');
    writeFileSync(
      specFile,
      `name: web-health
selector: ""
checks:
  - name: always-ok
    cmd: "true"
    interval: 1s
    timeout: 1s
  - name: always-bad
    cmd: "exit 3"
    interval: 1s
    timeout: 1s
`,
    );
    // --detach: the rollout's health gate fails on always-bad, which the rollout page shows below.
    const applied = await fleet.cli(['apply', '-f', specFile, '--detach']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const rolloutId = applied.stdout.trim();
    expect(rolloutId).toMatch(/^r-\w+$/);

    // The node page refreshes itself: no reload needed to see the checks arrive.
    await page.goto(`${fleet.installUrl}/#/nodes/web-1`);
    const bad = page.locator('#health tr[data-check="always-bad"]');
    const ok = page.locator('#health tr[data-check="always-ok"]');
    await bad.waitFor({ timeout: 20_000 });
    await ok.waitFor({ timeout: 20_000 });
    expect(await bad.innerText()).toMatch(/^web-health\s+always-bad\s+failing\s+.*\sexit 3$/);
    expect(await ok.innerText()).toMatch(/^web-health\s+always-ok\s+passing\s+.*\sexit 0$/);
    expect(await bad.locator('.check.failing').count()).toBe(1);
    // The failing check comes first.
    expect(await page.locator('#health tbody tr').first().getAttribute('data-check')).toBe('always-bad');
    await expect.poll(() => page.locator('#desired-state section[data-spec="web-health"]').innerText()).toContain('revision 1 applied, 1 desired');

    await page.goto(`${fleet.installUrl}/#/nodes`);
    const cell = page.locator('tr[data-node="web-1"] .health-cell');
    await expect.poll(() => cell.innerText()).toBe('1 failing');
    expect(await cell.locator('.health.failing').count()).toBe(1);

    // The Rollouts page lists the rollout; its page ends with the node unhealthy because of always-bad.
    await page.locator('nav a[data-section="rollouts"]').click();
    const row = page.locator(`tr[data-rollout="${rolloutId}"]`);
    await row.waitFor();
    expect(await row.innerText()).toMatch(/web-health\s+1\s/);
    await row.getByRole('link', { name: rolloutId }).click();
    await page.getByRole('heading', { name: `Rollout ${rolloutId}` }).waitFor();
    await expect.poll(() => page.locator('h1 .rollout-state').innerText(), { timeout: 30_000 }).toBe('failed');
    const node = page.locator('table.rollout-nodes tr[data-node="web-1"]');
    expect(await node.innerText()).toMatch(/^web-1\s+1\s+unhealthy\s+.*always-bad: exit 3/);
    expect(await page.locator('main dl.facts').innerText()).toMatch(/Batches\s+0\/1 done/);
  });

  it('opens a terminal on the node: typing, resize, and a dropped socket that resumes intact', async () => {
    await page.goto(`${fleet.installUrl}/#/nodes`);
    await page.locator('tr[data-node="web-1"] a').click();
    await page.locator('#open-terminal').click();
    await expect.poll(() => page.locator('#terminal-status').innerText(), { timeout: 15_000 }).toContain('connected to web-1');

    await run(page, 'echo $((6*7))');
    await waitForLine(page, 'the answer 42', (l) => l.trim() === '42');

    // The PTY has the size xterm shows, before and after the window changes.
    const before = await terminalSize(page);
    await run(page, 'stty size');
    await waitForLine(page, `stty size ${before.rows} ${before.cols}`, (l) => l.trim() === `${before.rows} ${before.cols}`);
    await page.setViewportSize({ width: 820, height: 520 });
    const after = await waitFor('the terminal to fit the smaller window', async () => {
      const s = await terminalSize(page);
      return s.cols !== before.cols && s.rows !== before.rows && s;
    });
    await run(page, 'clear; stty size');
    await waitForLine(page, `stty size ${after.rows} ${after.cols}`, (l) => l.trim() === `${after.rows} ${after.cols}`);

    // Output keeps coming while the socket is down; after the resume every line is there once.
    const session = await page.evaluate(() => (globalThis as unknown as { __fleetSession: () => string }).__fleetSession());
    await run(page, 'clear; echo marker-$((1000+1)); for i in $(seq 1 30); do echo tick-$i; sleep 0.1; done; echo ticks-$((2+3))-done');
    await waitForLine(page, 'the first ticks', (l) => l.trim() === 'tick-3');
    await page.evaluate(() => (globalThis as unknown as { __fleetDropSocket: () => void }).__fleetDropSocket());
    await expect.poll(() => page.locator('#terminal-status').innerText(), { timeout: 5_000 }).toMatch(/reconnecting|connection lost/);
    await expect.poll(() => page.locator('#terminal-status').innerText(), { timeout: 15_000 }).toContain('connected to web-1');
    await waitForLine(page, 'the loop to finish', (l) => l.trim() === 'ticks-5-done');
    expect(await page.evaluate(() => (globalThis as unknown as { __fleetSession: () => string }).__fleetSession())).toBe(session);
    const lines = (await terminalLines(page)).map((l) => l.trim());
    expect(lines.filter((l) => l === 'marker-1001')).toHaveLength(1);
    const ticks = lines.filter((l) => /^tick-\d+$/.test(l));
    expect(ticks).toEqual(Array.from({ length: 30 }, (_, i) => `tick-${i + 1}`));

    // The resumed shell still takes commands, and its size followed the window.
    await run(page, 'seq 1 2000 | tail -n 1; stty size');
    await waitForLine(page, '2000 after the resume', (l) => l.trim() === '2000');
    await waitForLine(page, 'the size after the resume', (l) => l.trim() === `${after.rows} ${after.cols}`);

    // Paste goes to the PTY like typing.
    await page.locator('#terminal .xterm-helper-textarea').focus();
    // As a string: this runs in the page, and the test project has no DOM types.
    await page.evaluate(`(() => {
      const target = document.querySelector('#terminal .xterm-helper-textarea');
      const data = new DataTransfer();
      data.setData('text/plain', 'echo pasted-$((3*3))');
      target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    })()`);
    await page.keyboard.press('Enter');
    await waitForLine(page, 'the pasted command', (l) => l.trim() === 'pasted-9');

    await run(page, 'exit 3');
    await expect.poll(() => page.locator('#terminal-status').innerText(), { timeout: 10_000 }).toContain('exit 3');
  });

  it('plays the recording of the web session on the Sessions page', async () => {
    await page.goto(`${fleet.installUrl}/#/sessions`);
    const row = page.locator('tr[data-session]').first();
    await row.waitFor();
    expect(await row.innerText()).toContain('web-1');
    expect(await row.innerText()).toContain('web');
    await row.getByRole('link', { name: 'Play' }).click();
    // Pauses longer than 2 s are cut short, so the start of the session plays quickly.
    await waitFor('42 in the playback', async () => (await terminalLines(page, '__fleetPlayer')).some((l) => l.trim() === '42'), 20_000, 200);
  });

  it('gives an emoji two cells in the terminal and the player, so editing after it edits the right place', async () => {
    await page.goto(`${fleet.installUrl}/#/nodes/web-1/terminal`);
    await expect.poll(() => page.locator('#terminal-status').innerText(), { timeout: 15_000 }).toContain('connected to web-1');
    // bash's line editor counts 🚀 as two columns (glibc's width), as every modern terminal does.
    await run(page, "exec env LANG=C.UTF-8 PS1='$ ' bash --norc --noprofile");
    await waitForLine(page, 'the bash prompt', (l) => l.trim() === '$');
    const session = await page.evaluate(() => (globalThis as unknown as { __fleetSession: () => string }).__fleetSession());
    await page.keyboard.type('echo 🚀ab');
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowLeft');
    await page.keyboard.type('X');
    // The line as the user sees it, before pressing Enter: X went in before the emoji.
    await waitFor('the edited line', async () => (await terminalLines(page)).some((l) => l.trim() === '$ echo X🚀ab'), 5_000, 100).catch(async () => {
      throw new Error(`the line after the edit reads ${JSON.stringify((await terminalLines(page)).filter((l) => l.includes('ab')))}`);
    });
    await page.keyboard.press('Enter');
    await waitForLine(page, 'the output of the edited command', (l) => l.trim() === 'X🚀ab');
    // A long multi-byte output reaches the page in chunks cut inside characters, and shows whole.
    const lines = Array.from({ length: 2000 }, (_, i) => `${String(i).padStart(4, '0')} 日本語✓é`);
    writeFileSync(join(fleet.dir, 'multi-byte.txt'), lines.map((l) => `${l}\n`).join(''));
    await run(page, `cat ${join(fleet.dir, 'multi-byte.txt')}`);
    await waitForLine(page, 'the last line of the file', (l) => l.trim() === lines.at(-1));
    const shown = (await terminalLines(page)).map((l) => l.trim());
    expect(shown.filter((l) => l.includes('\uFFFD'))).toEqual([]);
    expect(shown.filter((l) => /^\d{4} /.test(l))).toEqual(lines);
    await run(page, 'exit');
    await expect.poll(() => page.locator('#terminal-status').innerText(), { timeout: 10_000 }).toContain('the shell ended');

    // The recording plays back the same screen.
    await page.goto(`${fleet.installUrl}/#/sessions/${session}`);
    await expect.poll(() => page.locator('#playback-status').innerText(), { timeout: 20_000 }).toMatch(/^Done/);
    const played = (await terminalLines(page, '__fleetPlayer')).map((l) => l.trim());
    expect(played.filter((l) => l.includes('ab'))).toEqual(['$ echo X🚀ab', 'X🚀ab']);
    expect(played.filter((l) => /^\d{4} /.test(l))).toEqual(lines);
  });

  it('leaving a list while it loads does not put its AbortError on the next page', async () => {
    for (const [from, api] of [
      ['#/jobs', '/api/v1/jobs'],
      ['#/sessions', '/api/v1/sessions'],
      ['#/nodes/web-1', '/api/v1/nodes/web-1'],
    ] as const) {
      // The list's request is held until the user has left the page.
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      const matches = (url: URL) => url.pathname === api;
      await page.route(matches, async (route) => {
        await held;
        await route.continue().catch(() => {});
      });
      try {
        await page.goto(`${fleet.installUrl}/${from}`);
        await expect.poll(() => page.locator('main').innerText()).toContain('Loading…');
        await page.goto(`${fleet.installUrl}/#/nodes`);
        await expect.poll(() => page.locator('main').innerText(), { message: `the nodes page after leaving ${from}` }).toMatch(/^Nodes\n[^]*\d+ nodes?, \d+ online/);
        expect(await page.locator('tr[data-node="web-1"]').count()).toBe(1);
        expect(await page.locator('main').innerText()).not.toContain('Abort');
      } finally {
        release();
        await page.unroute(matches);
      }
    }
  });

  it('lets a viewer see nodes but not open a terminal', async () => {
    const created = await fleet.cli(['api-tokens', 'create', '--role', 'viewer', '-d', 'web viewer']);
    expect(created.code).toBe(0);
    const viewerToken = created.stdout.trim();
    const viewer = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const p = await viewer.newPage();
      await signIn(p, viewerToken);
      await p.locator('tr[data-node="web-1"]').waitFor();
      expect(await p.locator('#who').innerText()).toContain('viewer');
      expect(await p.locator('nav a[data-section="sessions"]').isHidden()).toBe(true);
      await p.locator('tr[data-node="web-1"] a').click();
      await p.getByRole('heading', { name: /web-1/ }).waitFor();
      await p.getByText('Inventory').waitFor();
      expect(await p.locator('#open-terminal').count()).toBe(0);

      // The socket itself refuses, with a reason the page can show.
      const refused = await p.evaluate(
        () =>
          new Promise<{ code: number; reason: string; message: string }>((resolve) => {
            void fetch('/api/v1/session')
              .then((r) => r.json() as Promise<{ csrf: string }>)
              .then(({ csrf }) => {
                const ws = new WebSocket(`wss://${(globalThis as unknown as { location: { host: string } }).location.host}/api/v1/shell`);
                let message = '';
                ws.onopen = () => ws.send(JSON.stringify({ type: 'open', node: 'web-1', cols: 80, rows: 24, csrf }));
                ws.onmessage = (e) => (message = String(e.data));
                ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, message });
              });
          }),
      );
      expect(refused.code).toBe(4403);
      expect(refused.reason).toContain('needs the operator role');
      expect(JSON.parse(refused.message)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
      // The terminal page, reached by hand, says the same.
      await p.goto(`${fleet.installUrl}/#/nodes/web-1/terminal`);
      await expect.poll(() => p.locator('#terminal-status').innerText()).toContain('needs the operator role');
      const sessions = await p.evaluate(async () => (await fetch('/api/v1/sessions')).status);
      expect(sessions).toBe(403);
      // Rollouts are for viewers too.
      await p.goto(`${fleet.installUrl}/#/rollouts`);
      await p.locator('tr[data-rollout]').first().waitFor();
      expect(await p.locator('tr[data-rollout]').first().innerText()).toContain('web-health');

      // Revoking the token ends its web sessions.
      const id = /^fa1_([0-9a-f]+)_/.exec(viewerToken)![1]!;
      expect((await fleet.cli(['api-tokens', 'revoke', id])).code).toBe(0);
      const after = await p.evaluate(async () => {
        const r = await fetch('/api/v1/nodes');
        return { status: r.status, body: (await r.json()) as { error: string } };
      });
      expect(after.status).toBe(401);
      expect(after.body.error).toContain('revoked');
    } finally {
      await viewer.close();
    }
  });

  it('refuses the terminal WebSocket without a session', async () => {
    const anonymous = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const p = await anonymous.newPage();
      await p.goto(`${fleet.installUrl}/`);
      const closed = await p.evaluate(
        () =>
          new Promise<{ code: number; opened: boolean }>((resolve) => {
            const ws = new WebSocket(`wss://${(globalThis as unknown as { location: { host: string } }).location.host}/api/v1/shell`);
            let opened = false;
            ws.onopen = () => (opened = true);
            ws.onclose = (e) => resolve({ code: e.code, opened });
          }),
      );
      expect(closed).toEqual({ code: 1006, opened: false });
    } finally {
      await anonymous.close();
    }
  });

  it('rate-limits failed sign-ins per address and audits them, but never refuses a valid token', async () => {
    // Earlier failed sign-ins (the wrong-token test's) count while they are less than a minute
    // old; one about to age out is waited out, so the count holds while this test runs.
    const earlier = (await fleet.json<{ ok: boolean; atUnixMs: number }[]>(['audit', '--action', 'web.login'])).filter((e) => !e.ok).map((e) => e.atUnixMs);
    const leaving = earlier.filter((t) => Date.now() - t > 45_000 && Date.now() - t < 61_000);
    if (leaving.length) await new Promise((r) => setTimeout(r, Math.max(...leaving) + 61_000 - Date.now()));
    const allowed = 5 - earlier.filter((t) => Date.now() - t < 60_000).length;
    const attempt = (token: string) =>
      page.evaluate(async (t) => {
        const r = await fetch('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: t }) });
        return { status: r.status, retryAfter: r.headers.get('retry-after') };
      }, token);
    const wrong = `fa1_000000000000_${'0'.repeat(40)}`;
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await attempt(wrong));
    expect(results.map((r) => r.status)).toEqual([...Array<number>(allowed).fill(401), ...Array<number>(7 - allowed).fill(429)]);
    expect(Number(results[allowed]!.retryAfter)).toBeGreaterThan(0);
    // The admin behind the same address (a NAT, a bastion) signs in all the same; guesses stay held back.
    expect((await attempt(fleet.adminToken)).status).toBe(200);
    expect((await attempt(wrong)).status).toBe(429);
    const audit = await fleet.json<{ action: string; ok: boolean; target: string }[]>(['audit', '--action', 'web.login']);
    expect(audit.filter((e) => e.ok).length).toBeGreaterThanOrEqual(3);
    // Newest first: the admin's sign-in from the held-back address; held-back guesses add no rows.
    expect(audit[0]).toMatchObject({ ok: true, target: '127.0.0.1' });
    expect(audit.filter((e) => !e.ok).length).toBe(earlier.length + allowed);
  });

  it('shows on a rollback\'s page the failure it undoes, and keeps each node\'s first error when a rollout rolls itself back', async () => {
    // Undo the failed first revision of web-health (from the checks test above): back to nothing.
    const [original] = await fleet.json<{ id: string; state: string }[]>(['rollouts', 'list', '--spec', 'web-health']);
    expect(original!.state).toBe('failed');
    const back = await fleet.cli(['rollouts', 'rollback', original!.id, '--detach']);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    const id = back.stdout.trim();
    await page.goto(`${fleet.installUrl}/#/rollouts/${id}`);
    await expect.poll(() => page.locator('h1 .rollout-state').innerText(), { timeout: 30_000 }).toBe('succeeded');
    const undone = page.locator('section.undone');
    await expect.poll(() => undone.innerText()).toContain(original!.id);
    expect(await undone.innerText()).toMatch(/health checks not passing/);
    expect(await undone.locator('tr[data-node="web-1"]').innerText()).toMatch(/^web-1\s+1\s+unhealthy\s+.*always-bad: exit 3/);
    // The spec is gone from the node: no desired state and no checks left behind.
    await page.goto(`${fleet.installUrl}/#/nodes/web-1`);
    await expect.poll(() => page.locator('#health').innerText(), { timeout: 15_000 }).toContain('No health checks.');

    // A first revision that fails its health gate rolls itself back; each node still says why.
    const specFile = join(fleet.dir, 'web-auto.yaml');
    writeFileSync(
      specFile,
      `name: web-auto
selector: ""
resources:
  - type: file
    path: /etc/web-auto.conf
    content: "auto"
checks:
  - name: always-bad
    cmd: "exit 3"
    interval: 1s
    timeout: 1s
rollout:
  healthGate: 1s
  autoRollback: true
`,
    );
    const applied = await fleet.cli(['apply', '-f', specFile, '--detach']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const auto = applied.stdout.trim();
    await page.goto(`${fleet.installUrl}/#/rollouts/${auto}`);
    await expect.poll(() => page.locator('h1 .rollout-state').innerText(), { timeout: 30_000 }).toBe('rolled-back');
    expect(await page.locator('table.rollout-nodes tr[data-node="web-1"]').innerText()).toMatch(/^web-1\s+1\s+rolled-back\s+.*always-bad: exit 3/);
    expect(existsSync(join(fleet.dir, 'root-web-1/etc/web-auto.conf'))).toBe(false);
  });
});
