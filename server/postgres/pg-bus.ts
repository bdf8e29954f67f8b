// The event bus over PostgreSQL's LISTEN/NOTIFY, for replicas that share a database and no NATS:
// no other component to run, and a notification is delivered to every listening replica in
// commit order. Subscribers on the publishing replica hear an event at once, as on the embedded
// bus; the others hear it through one notification channel. NOTIFY carries 8,000 bytes at most, so
// a larger event (a big output chunk) is written to bus_events and the notification names its row.
//
// Delivery is best effort, like the in-process bus it replaces: events published while a replica's
// listening connection is down are not replayed to it (it reconnects on its own). Followers read
// what matters from the stores (a job's output and end are stored before they are published).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { LocalBus, type EventBus } from '../bus';
import type { PgPool } from './pg-database';

const CHANNEL = 'fleet_bus';
/** Encoded events up to this many bytes go in the notification itself. */
const INLINE_BYTES = 7000;
/** Notifications sent in one statement at most. */
const BATCH = 200;
/** Rows of bus_events older than this are deleted (every replica has long fetched them). */
const KEEP_MS = 60_000;
const BYTES_KEY = '$fleet.bytes';

/** JSON with byte arrays kept as bytes (protobuf messages carry output as Uint8Array). */
export function encodeEvent(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
    const raw = this[key];
    if (raw instanceof Uint8Array) return { [BYTES_KEY]: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
    return v;
  });
}

/** The inverse of encodeEvent. */
export function decodeEvent(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const bytes = (v as Record<string, unknown>)[BYTES_KEY];
      if (typeof bytes === 'string' && Object.keys(v).length === 1) return new Uint8Array(Buffer.from(bytes, 'base64'));
    }
    return v;
  });
}

/** What travels in a notification: from which replica, its number there, the topic, and the event or its row. */
interface Notice {
  r: string;
  t: string;
  e?: unknown;
  row?: number;
}

export class PgBus implements EventBus {
  readonly #pool: PgPool;
  readonly #url: string;
  readonly #log: Logger;
  readonly #local: LocalBus;
  readonly #replica = randomUUID();
  #listener: pg.Client | null = null;
  #pending: { topic: string; text: string }[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #flushScheduled = false;
  /** Notifications received, handled one after another so that fetched rows keep their place. */
  #received: Promise<void> = Promise.resolve();
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  readonly #cleanup: NodeJS.Timeout;

  private constructor(pool: PgPool, url: string, log: Logger) {
    this.#pool = pool;
    this.#url = url;
    this.#log = log;
    this.#local = new LocalBus(log);
    this.#cleanup = setInterval(() => {
      pool.query('DELETE FROM bus_events WHERE at < $1', [Date.now() - KEEP_MS]).catch((err: unknown) => log.warn({ err }, 'could not delete old bus events'));
    }, KEEP_MS / 2).unref();
  }

  /**
   * Starts listening on the database at `url` (a connection of its own, outside `pool`, which
   * sends). Resolves once this replica hears every event published from now on.
   */
  static async open(pool: PgPool, url: string, log: Logger): Promise<PgBus> {
    const bus = new PgBus(pool, url, log);
    await bus.#listen();
    return bus;
  }

  publish<T>(topic: string, event: T): void {
    this.#local.publish(topic, event);
    if (this.#closed) return;
    this.#pending.push({ topic, text: encodeEvent(event) });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        const batch = this.#pending;
        this.#pending = [];
        this.#flushing = this.#flushing.then(() => this.#send(batch));
      });
    }
  }

  subscribe<T>(topic: string, handler: (event: T) => void): () => void {
    return this.#local.subscribe(topic, handler);
  }

  #outages = 0;

  outages(): number {
    // Odd while not listening: the number changes when hearing stops and when it starts again.
    return this.#outages * 2 + (this.#listener ? 0 : 1);
  }

  /** Stops listening; events published before this are still sent. */
  async close(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    await this.#flushing;
    this.#closed = true;
    clearInterval(this.#cleanup);
    clearTimeout(this.#reconnectTimer);
    const listener = this.#listener;
    this.#listener = null;
    await listener?.end().catch(() => {});
  }

  /** Sends a batch in publish order: inline events together, a large one through its row. */
  async #send(batch: { topic: string; text: string }[]): Promise<void> {
    try {
      let inline: string[] = [];
      const sendInline = async () => {
        for (let i = 0; i < inline.length; i += BATCH) {
          const part = inline.slice(i, i + BATCH);
          // One statement; pg_notify calls run left to right, so the order holds.
          await this.#pool.query(`SELECT ${part.map((_, j) => `pg_notify($1, $${j + 2})`).join(', ')}`, [CHANNEL, ...part]);
        }
        inline = [];
      };
      for (const { topic, text } of batch) {
        const notice = `{"r":${JSON.stringify(this.#replica)},"t":${JSON.stringify(topic)},"n":${++this.#sent},"e":${text}}`;
        if (Buffer.byteLength(notice) <= INLINE_BYTES) {
          inline.push(notice);
          continue;
        }
        await sendInline();
        await this.#pool.query(
          `WITH e AS (INSERT INTO bus_events (at, payload) VALUES ($1, $2) RETURNING id)
           SELECT pg_notify($3, json_build_object('r', $4::text, 't', $5::text, 'row', e.id)::text) FROM e`,
          [Date.now(), text, CHANNEL, this.#replica, topic],
        );
      }
      await sendInline();
    } catch (err) {
      this.#log.error({ err, events: batch.length }, 'could not publish events to the other replicas');
    }
  }

  /** Events sent by this replica (numbered, so PostgreSQL never folds two identical notifications into one). */
  #sent = 0;

  async #listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#url });
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client));
    client.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      const payload = msg.payload;
      this.#received = this.#received.then(() => this.#deliver(payload)).catch((err: unknown) => this.#log.error({ err }, 'could not deliver an event from another replica'));
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.#listener = client;
  }

  async #deliver(payload: string): Promise<void> {
    const notice = decodeEvent(payload) as Notice;
    if (notice.r === this.#replica) return;
    if (notice.row !== undefined) {
      const { rows } = await this.#pool.query<{ payload: string }>('SELECT payload FROM bus_events WHERE id = $1', [notice.row]);
      if (!rows[0]) return this.#log.warn({ topic: notice.t }, 'an event from another replica was deleted before it was read');
      this.#local.publish(notice.t, decodeEvent(rows[0].payload));
    } else {
      this.#local.publish(notice.t, notice.e);
    }
  }

  /** The listening connection broke (the database restarted): listen again, with backoff. */
  #lost(client: pg.Client, err?: Error): void {
    if (this.#closed || this.#listener !== client) return;
    this.#listener = null;
    this.#outages++;
    this.#log.warn({ err }, 'lost the connection that hears other replicas; reconnecting');
    client.end().catch(() => {});
    const retry = (delay: number) => {
      this.#reconnectTimer = setTimeout(() => {
        if (this.#closed) return;
        this.#listen().then(
          () => this.#log.info('hearing other replicas again'),
          () => retry(Math.min(delay * 2, 10_000)),
        );
      }, delay);
    };
    retry(250);
  }
}
