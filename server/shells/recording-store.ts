// Where shell recordings are kept: the seam between the shell sessions, which write a recording
// as the session runs, and its storage (docs/architecture.md, "State shared by replicas"). The
// embedded server keeps them as files under DATA/recordings (LocalRecordings); replicas would keep
// them where every replica can read them back (a database or an object store), because the
// session may run on one replica and its playback be asked of another.
import type { Readable } from 'node:stream';

/** What a session may record into: its asciicast lines, in order, as they come. */
/** Bytes of recording that may wait for the store before the session holds the agent back. */
export const RECORDING_BACKLOG_BYTES = 1 << 20;

export interface RecordingWriter {
  /**
   * Appends text. Never throws and never waits: a store that cannot keep up buffers, and one that
   * fails loses the rest of the recording, never the session.
   */
  write(text: string): void;
  /** True while more than RECORDING_BACKLOG_BYTES written wait to be stored (false once the store failed). */
  readonly backlogged: boolean;
  /** Calls `f` once the backlog is stored (at once when there is none, or when the store failed). */
  whenCaughtUp(f: () => void): void;
  /** Ends the recording; resolves once everything written is stored. */
  close(): Promise<void>;
}

/**
 * Recordings by session id (ids are session ids: letters, digits, "_" and "-", up to 64).
 *
 * A shared implementation must let any replica read a recording while it is still being written
 * (what was stored so far), and must never let a second writer take over an existing recording.
 */
export interface RecordingStore {
  /**
   * Starts the recording of a session; a recording that already exists under the id is kept as
   * it is and nothing new is written to it.
   */
  create(id: string): RecordingWriter;
  /** Reads a recording from its start (as far as it is written), or undefined when there is none. */
  open(id: string): Promise<Readable | undefined>;
  /** True when there is a recording under the id. */
  exists(id: string): Promise<boolean>;
  /** Deletes a recording (nothing happens when there is none). */
  remove(id: string): Promise<void>;
}

/** What a recording id may be (a session id). */
export const RECORDING_ID = /^[A-Za-z0-9_-]{1,64}$/;
