import { afterEach, describe, expect, it, vi } from 'vitest';
import { Command, type ServerMessage } from '../../proto/gen/fleet/v1/agent';
import { RunState, type JobEvent, type StartJobRequest } from '../../proto/gen/fleet/v1/control';
import { silentLogger } from '../../common/logger';
import type { AgentHub } from '../agent-hub';
import { LocalBus, type DriverLeases, type EventBus } from '../bus';
import { openSqliteStores, type Stores } from '../store';
import { JobDispatcher } from './dispatcher';

/** An agent hub stand-in: which nodes are online, and the exec commands sent to each. */
class FakeHub {
  readonly online = new Set<string>();
  readonly sent: { nodeId: string; jobId: string }[] = [];
  isOnline(nodeId: string): boolean {
    return this.online.has(nodeId);
  }
  isRestarting(): boolean {
    return false;
  }
  send(nodeId: string, message: ServerMessage): boolean {
    if (!this.online.has(nodeId)) return false;
    if (message.body?.$case === 'command') {
      const c = Command.decode(message.body.value.payload);
      if (c.body?.$case === 'exec') this.sent.push({ nodeId, jobId: c.body.value.jobId });
    }
    return true;
  }
}

async function setup(nodeCount: number, shared?: { db: Stores; bus: EventBus; leases?: DriverLeases; scanMs?: number }) {
  const db: Stores = shared?.db ?? openSqliteStores(':memory:');
  const { nodes } = db;
  for (let i = 1; i <= (shared ? 0 : nodeCount); i++) {
    await nodes.insert({
      id: `n-${i}`,
      name: `node-${String(i).padStart(5, '0')}`,
      labels: { role: i % 2 ? 'odd' : 'even' },
      facts: undefined,
      identity: { hostname: '', macs: [], dmiUuid: '', serial: '' },
      certFingerprint: `fp${i}`,
      prevCertFingerprint: null,
      certNotAfter: 0,
      agentVersion: '',
      joinTokenId: null,
      enrolledAt: 0,
      lastSeenAt: null,
    });
  }
  const hub = new FakeHub();
  const dispatcher = new JobDispatcher({
    jobs: db.jobs,
    nodes,
    hub: hub as unknown as AgentHub,
    audit: db.audit,
    log: silentLogger(),
    // Sent at once (the real sender signs asynchronously), so each step's commands can be counted.
    commands: {
      send: async (nodeId, id, body) => hub.send(nodeId, { body: { $case: 'command', value: { payload: Buffer.from(Command.encode({ id, nodeId, notAfterUnixMs: 0, body }).finish()), signature: Buffer.alloc(64) } } }),
    },
    defaultTimeoutMs: 30_000,
    bus: shared?.bus,
    leases: shared?.leases,
    replicated: shared?.scanMs ? { scanMs: shared.scanMs } : undefined,
  });
  return { db, hub, dispatcher };
}

const request = (r: Partial<StartJobRequest>): StartJobRequest => ({
  selector: '',
  nodes: [],
  all: true,
  argv: ['true'],
  shell: '',
  maxConcurrency: '',
  maxErrors: 0,
  timeoutMs: 0,
  queueTtlMs: 0,
  ...r,
});

/** The agent answers: started, then finished with `exitCode` (in one event batch). */
function answer(d: JobDispatcher, nodeId: string, jobId: string, exitCode = 0): void {
  d.onExecEvent(nodeId, { jobId, seq: 1, atUnixMs: Date.now(), body: { $case: 'started', value: { pid: 1 } } });
  d.onExecEvent(nodeId, { jobId, seq: 2, atUnixMs: Date.now(), body: { $case: 'finished', value: { exitCode, signal: '', timedOut: false, error: '' } } });
}

const flushed = () => new Promise((r) => setImmediate(r));

describe('JobDispatcher', () => {
  let db: Stores | undefined;
  afterEach(() => db?.close());

  it('keeps at most max-concurrency runs in flight, in node order, and finishes when the last result is in', async () => {
    const s = await setup(300);
    db = s.db;
    for (let i = 1; i <= 300; i++) s.hub.online.add(`n-${i}`);
    const job = await s.dispatcher.startJob(request({ maxConcurrency: '25' }), 'test');
    const events: JobEvent[] = [];
    await s.dispatcher.follow(job.id, (e) => void events.push(e));
    expect(s.hub.sent.map((x) => x.nodeId)).toEqual(Array.from({ length: 25 }, (_, i) => `n-${i + 1}`));
    let answered = 0;
    while (answered < s.hub.sent.length) {
      const batch = s.hub.sent.slice(answered, answered + 7);
      for (const x of batch) answer(s.dispatcher, x.nodeId, job.id);
      answered += batch.length;
      await flushed();
      const live = (await s.dispatcher.describe(job.id)).runs.filter((r) => r.state === RunState.RUN_STATE_DISPATCHED || r.state === RunState.RUN_STATE_RUNNING);
      expect(live.length).toBeLessThanOrEqual(25);
    }
    expect(s.hub.sent.length).toBe(300);
    expect(new Set(s.hub.sent.map((x) => x.nodeId)).size).toBe(300);
    const done = await s.dispatcher.describe(job.id);
    expect(done.done).toBe(true);
    expect(done.runs.every((r) => r.state === RunState.RUN_STATE_SUCCEEDED)).toBe(true);
    expect(events.filter((e) => e.body?.$case === 'done')).toHaveLength(1);
  });

  it('reports offline nodes at once, even beyond the concurrency window, and skips the rest after max errors', async () => {
    const s = await setup(40);
    db = s.db;
    for (let i = 1; i <= 40; i++) if (i % 4 !== 0) s.hub.online.add(`n-${i}`);
    const job = await s.dispatcher.startJob(request({ maxConcurrency: '2', maxErrors: 3 }), 'test');
    const runs = async () => (await s.dispatcher.describe(job.id)).runs;
    expect((await runs()).filter((r) => r.state === RunState.RUN_STATE_OFFLINE)).toHaveLength(10);
    expect(s.hub.sent.map((x) => x.nodeId)).toEqual(['n-1', 'n-2']);
    // Three failures stop the job: nothing new starts, every waiting run is skipped.
    answer(s.dispatcher, 'n-1', job.id, 1);
    answer(s.dispatcher, 'n-2', job.id, 1);
    await flushed();
    expect(s.hub.sent.map((x) => x.nodeId)).toEqual(['n-1', 'n-2', 'n-3', 'n-5']);
    answer(s.dispatcher, 'n-3', job.id, 1);
    await flushed();
    expect(s.hub.sent).toHaveLength(4);
    const skipped = (await runs()).filter((r) => r.state === RunState.RUN_STATE_SKIPPED);
    expect(skipped.length).toBe(40 - 10 - 4);
    expect((await s.dispatcher.describe(job.id)).done).toBe(false);
    answer(s.dispatcher, 'n-5', job.id, 0);
    await flushed();
    expect((await s.dispatcher.describe(job.id)).done).toBe(true);
  });

  it('reports a waiting run offline when its node drops, and sends in-flight runs again when a node returns', async () => {
    const s = await setup(6);
    db = s.db;
    for (let i = 1; i <= 6; i++) s.hub.online.add(`n-${i}`);
    const job = await s.dispatcher.startJob(request({ maxConcurrency: '2' }), 'test');
    s.hub.online.delete('n-5');
    s.dispatcher.onOffline('n-5');
    expect((await s.dispatcher.describe(job.id)).runs.find((r) => r.nodeId === 'n-5')?.state).toBe(RunState.RUN_STATE_OFFLINE);
    s.dispatcher.onOnline('n-1');
    expect(s.hub.sent.map((x) => x.nodeId)).toEqual(['n-1', 'n-2', 'n-1']);
    for (const n of ['n-1', 'n-2']) answer(s.dispatcher, n, job.id);
    await flushed();
    for (const n of ['n-3', 'n-4']) answer(s.dispatcher, n, job.id);
    await flushed();
    answer(s.dispatcher, 'n-6', job.id);
    await flushed();
    const done = await s.dispatcher.describe(job.id);
    expect(done.done).toBe(true);
    expect(done.runs.map((r) => r.state)).toEqual([...Array(4).fill(RunState.RUN_STATE_SUCCEEDED), RunState.RUN_STATE_OFFLINE, RunState.RUN_STATE_SUCCEEDED]);
  });

  it('stores and publishes a run once per batch, in its last state, when start and finish arrive together', async () => {
    const s = await setup(2);
    db = s.db;
    s.hub.online.add('n-1').add('n-2');
    const job = await s.dispatcher.startJob(request({}), 'test');
    const states: [string, RunState][] = [];
    await s.dispatcher.follow(job.id, (e) => void (e.body?.$case === 'run' && states.push([e.body.value.nodeId, e.body.value.state])));
    await flushed();
    answer(s.dispatcher, 'n-1', job.id);
    await flushed();
    s.dispatcher.onExecEvent('n-2', { jobId: job.id, seq: 1, atUnixMs: 1000, body: { $case: 'started', value: { pid: 1 } } });
    await flushed();
    s.dispatcher.onExecEvent('n-2', { jobId: job.id, seq: 2, atUnixMs: 2000, body: { $case: 'finished', value: { exitCode: 3, signal: '', timedOut: false, error: '' } } });
    await flushed();
    expect(states).toEqual([
      ['n-1', RunState.RUN_STATE_SUCCEEDED],
      ['n-2', RunState.RUN_STATE_RUNNING],
      ['n-2', RunState.RUN_STATE_FAILED],
    ]);
    const runs = (await s.dispatcher.describe(job.id)).runs;
    expect(runs.map((r) => [r.state, r.exitCode, Number(r.startedUnixMs) > 0])).toEqual([
      [RunState.RUN_STATE_SUCCEEDED, 0, true],
      [RunState.RUN_STATE_FAILED, 3, true],
    ]);
    expect(Number(runs[1]!.startedUnixMs)).toBe(1000);
    expect((await s.dispatcher.describe(job.id)).done).toBe(true);
  });

  it('ends a follow that begins while the last results are being stored with done', async () => {
    const s = await setup(1);
    db = s.db;
    s.hub.online.add('n-1');
    const job = await s.dispatcher.startJob(request({}), 'test');
    // The store holds the batch with the run's result until released.
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    const write = s.db.jobs.write.bind(s.db.jobs);
    s.db.jobs.write = async (batch) => {
      await held;
      return write(batch);
    };
    answer(s.dispatcher, 'n-1', job.id);
    await flushed();
    const heard: string[] = [];
    const following = s.dispatcher.follow(job.id, (e) => void heard.push(e.body!.$case));
    release();
    await following;
    await vi.waitFor(() => expect(heard.at(-1)).toBe('done'), { timeout: 2000 });
    expect(heard.filter((e) => e === 'done')).toHaveLength(1);
  });

  it('stores and acknowledges events the store refused a moment ago, without the agent sending them again', async () => {
    const s = await setup(1);
    db = s.db;
    s.hub.online.add('n-1');
    const acks: number[] = [];
    const send = s.hub.send.bind(s.hub);
    s.hub.send = (nodeId, message) => {
      if (message.body?.$case === 'ack') acks.push(Number(message.body.value.seq));
      return send(nodeId, message);
    };
    const job = await s.dispatcher.startJob(request({}), 'test');
    // The database is away for the first write of the agent's events.
    const write = s.db.jobs.write.bind(s.db.jobs);
    let refused = 0;
    s.db.jobs.write = async (batch) => {
      if (batch.output?.length && refused++ === 0) throw new Error('connection terminated');
      return write(batch);
    };
    s.dispatcher.onExecEvent('n-1', { jobId: job.id, seq: 1, atUnixMs: 5, body: { $case: 'output', value: { stream: 1, data: Buffer.from('kept\n') } } });
    answer(s.dispatcher, 'n-1', job.id);
    await flushed();
    expect(acks).toEqual([]);
    await vi.waitFor(() => expect(acks).toEqual([2]), { timeout: 3000 });
    expect((await s.dispatcher.describe(job.id)).done).toBe(true);
    const output = await s.dispatcher.storedOutput(job.id);
    const texts: string[] = [];
    for await (const o of output) texts.push(Buffer.from(o.data).toString());
    expect(texts).toEqual(['kept\n']);
  });

  it('queues offline nodes with --queue and dispatches them when they come back', async () => {
    const s = await setup(3);
    db = s.db;
    s.hub.online.add('n-1');
    const job = await s.dispatcher.startJob(request({ queueTtlMs: 60_000 }), 'test');
    expect((await s.dispatcher.describe(job.id)).runs.map((r) => r.state)).toEqual([RunState.RUN_STATE_DISPATCHED, RunState.RUN_STATE_QUEUED, RunState.RUN_STATE_QUEUED]);
    s.hub.online.add('n-3');
    s.dispatcher.onOnline('n-3');
    expect(s.hub.sent.map((x) => x.nodeId)).toEqual(['n-1', 'n-3']);
    answer(s.dispatcher, 'n-1', job.id);
    answer(s.dispatcher, 'n-3', job.id);
    await flushed();
    expect((await s.dispatcher.describe(job.id)).done).toBe(false);
  });

  it('lets a follower on another server hear a job over the shared bus, and leaves a job another server drives alone', async () => {
    const bus = new LocalBus();
    const a = await setup(2, undefined);
    db = a.db;
    const driver = await setup(2, { db: a.db, bus });
    const follower = await setup(0, { db: a.db, bus, leases: { claim: async () => false, release: async () => {}, onLost: () => {} } });
    driver.hub.online.add('n-1').add('n-2');
    const job = await driver.dispatcher.startJob(request({}), 'test');
    // The follower's server holds no lease: it does not drive the unfinished job it finds.
    await follower.dispatcher.start();
    await follower.dispatcher.stop();
    expect(follower.hub.sent).toEqual([]);
    const heard: string[] = [];
    await follower.dispatcher.follow(job.id, (e) => void heard.push(e.body?.$case === 'run' ? `${e.body.value.nodeId}:${e.body.value.state}` : e.body!.$case));
    answer(driver.dispatcher, 'n-1', job.id);
    answer(driver.dispatcher, 'n-2', job.id);
    await flushed();
    expect(heard).toEqual(['job', `n-1:${RunState.RUN_STATE_SUCCEEDED}`, `n-2:${RunState.RUN_STATE_SUCCEEDED}`, 'done']);
    // Had it driven the job, it would have reported both runs offline (no agent is connected to it).
    const seen = await follower.dispatcher.describe(job.id);
    expect([seen.done, ...seen.runs.map((r) => r.state)]).toEqual([true, RunState.RUN_STATE_SUCCEEDED, RunState.RUN_STATE_SUCCEEDED]);
  });

  describe('with other replicas', () => {
    /** Leases another replica holds until `free` is set. */
    const heldElsewhere = () => {
      const leases = { free: false, claim: async () => leases.free, release: async () => {}, onLost: () => {} };
      return leases;
    };

    it('ends a job whose results another replica stored (it holds the agents\' links), hearing them on the bus', async () => {
      const bus = new LocalBus();
      const driver = await setup(2, undefined);
      db = driver.db;
      const d = await setup(0, { db: driver.db, bus, scanMs: 60_000 });
      const linkHolder = await setup(0, { db: driver.db, bus, leases: heldElsewhere() });
      d.hub.online.add('n-1').add('n-2');
      await d.dispatcher.start();
      const job = await d.dispatcher.startJob(request({}), 'test');
      const heard: string[] = [];
      await linkHolder.dispatcher.follow(job.id, (e) => void heard.push(e.body!.$case));
      answer(linkHolder.dispatcher, 'n-1', job.id);
      answer(linkHolder.dispatcher, 'n-2', job.id, 3);
      await vi.waitFor(async () => expect((await d.dispatcher.describe(job.id)).done).toBe(true), { timeout: 2000 });
      expect((await driver.db.jobs.runs(job.id)).map((r) => r.state)).toEqual([RunState.RUN_STATE_SUCCEEDED, RunState.RUN_STATE_FAILED]);
      expect(heard.filter((e) => e === 'done')).toHaveLength(1);
      await d.dispatcher.stop();
    });

    it('reads back from the store a result whose bus event it missed, and ends the job', async () => {
      const driver = await setup(1, undefined);
      db = driver.db;
      // The link holder's events go to a bus the driver does not hear.
      const d = await setup(0, { db: driver.db, bus: new LocalBus(), scanMs: 50 });
      const linkHolder = await setup(0, { db: driver.db, bus: new LocalBus(), leases: heldElsewhere() });
      d.hub.online.add('n-1');
      await d.dispatcher.start();
      const job = await d.dispatcher.startJob(request({}), 'test');
      answer(linkHolder.dispatcher, 'n-1', job.id);
      await vi.waitFor(async () => expect((await driver.db.jobs.get(job.id))?.finishedAt).not.toBeNull(), { timeout: 2000 });
      await d.dispatcher.stop();
    });

    it('takes over an unfinished job when its lease comes free, sending the commands in flight again', async () => {
      const bus = new LocalBus();
      const first = await setup(1, undefined);
      db = first.db;
      const gone = await setup(0, { db: first.db, bus });
      gone.hub.online.add('n-1');
      const job = await gone.dispatcher.startJob(request({}), 'test');
      await gone.dispatcher.stop();
      const leases = heldElsewhere();
      const next = await setup(0, { db: first.db, bus, leases, scanMs: 50 });
      next.hub.online.add('n-1');
      await next.dispatcher.start();
      await new Promise((r) => setTimeout(r, 150));
      expect(next.hub.sent).toEqual([]);
      leases.free = true;
      await vi.waitFor(() => expect(next.hub.sent).toEqual([{ nodeId: 'n-1', jobId: job.id }]), { timeout: 2000 });
      answer(next.dispatcher, 'n-1', job.id);
      await vi.waitFor(async () => expect((await next.dispatcher.describe(job.id)).done).toBe(true), { timeout: 2000 });
      await next.dispatcher.stop();
    });

    it('sends a follower each chunk once when one stored before the follow is heard on the bus after it', async () => {
      const bus = new LocalBus();
      const d = await setup(1, undefined);
      db = d.db;
      const driver = await setup(0, { db: d.db, bus });
      driver.hub.online.add('n-1');
      const job = await driver.dispatcher.startJob(request({}), 'test');
      // Stored by another replica, whose event reaches this one late.
      const late = new LocalBus();
      const other = await setup(0, { db: d.db, bus: late, leases: heldElsewhere() });
      const events: unknown[] = [];
      late.subscribe(`job.${job.id}`, (e) => events.push(e));
      other.dispatcher.onExecEvent('n-1', { jobId: job.id, seq: 1, atUnixMs: 5, body: { $case: 'output', value: { stream: 1, data: Buffer.from('hello\n') } } });
      await vi.waitFor(() => expect(events).toHaveLength(1));
      const heard: string[] = [];
      await driver.dispatcher.follow(job.id, (e) => void heard.push(e.body?.$case === 'output' ? Buffer.from(e.body.value.data).toString() : e.body!.$case));
      await vi.waitFor(() => expect(heard).toEqual(['job', 'hello\n']));
      for (const e of events) bus.publish(`job.${job.id}`, e);
      driver.dispatcher.onExecEvent('n-1', { jobId: job.id, seq: 2, atUnixMs: 6, body: { $case: 'output', value: { stream: 1, data: Buffer.from('world\n') } } });
      await vi.waitFor(() => expect(heard).toEqual(['job', 'hello\n', 'world\n']));
    });

    it('gives a follower whose bus missed the output and the end both, from the store', async () => {
      const bus = new LocalBus();
      const d = await setup(1, undefined);
      db = d.db;
      const driver = await setup(0, { db: d.db, bus });
      driver.hub.online.add('n-1');
      const job = await driver.dispatcher.startJob(request({}), 'test');
      // The follower's replica hears nothing of the bus (its listening connection is down).
      const follower = await setup(0, { db: d.db, bus: new LocalBus(), leases: heldElsewhere(), scanMs: 50 });
      const heard: string[] = [];
      const stop = await follower.dispatcher.follow(job.id, (e) => void heard.push(e.body?.$case === 'output' ? Buffer.from(e.body.value.data).toString() : e.body!.$case));
      driver.dispatcher.onExecEvent('n-1', { jobId: job.id, seq: 1, atUnixMs: 5, body: { $case: 'output', value: { stream: 1, data: Buffer.from('missed\n') } } });
      driver.dispatcher.onExecEvent('n-1', { jobId: job.id, seq: 2, atUnixMs: 6, body: { $case: 'finished', value: { exitCode: 0, signal: '', timedOut: false, error: '' } } });
      await vi.waitFor(() => expect(heard).toEqual(['job', 'missed\n', 'done']), { timeout: 2000 });
      stop();
    });
  });
});
