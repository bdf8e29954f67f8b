// The state that several replicas would have to share, built for one embedded server: in memory,
// or in directories under DATA. This is the one place that chooses the implementations; a
// scale-out set (PostgreSQL, an object store) replaces this function and touches nothing else.
// docs/architecture.md, "State shared by replicas", says what each interface must guarantee.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EnrollResponse } from '../proto/gen/fleet/v1/agent';
import { LocalBus, LocalLeases, type DriverLeases, type EventBus } from './bus';
import { MemoryWebSessions, type WebSessionStore } from './http';
import { LocalKeyMaterial, type KeyMaterialStore } from './key-material';
import { MemoryReplayCache, type ReplayCache } from './replay-cache';
import { LocalRecordings, type RecordingStore } from './shells';
import { MemorySignInLimits, type SignInLimits } from './sign-in-limiter';
import { LocalBlobs, type BlobStore } from './state';
import type { LinkDirectory } from './cluster';

/** In-process state behind its seams: what the services use, whichever implementation it is. */
export interface Infrastructure {
  /** Browser sessions of the web page. */
  webSessions: WebSessionStore;
  /** Failed API-token sign-ins per address, on gRPC and the HTTP API (FLEET_SIGNIN_FAILURES a minute). */
  apiSignIns: SignInLimits;
  /** Failed sign-ins on the web page's form per address (FLEET_SIGNIN_FAILURES a minute). */
  webSignIns: SignInLimits;
  /** Join-token guesses at enrollment per address (twice FLEET_SIGNIN_FAILURES a minute). */
  joinTokenGuesses: SignInLimits;
  /** Answers to recent enrollments, for an agent that retries one. */
  enrollmentReplies: ReplayCache<EnrollResponse>;
  /** Shell session recordings. */
  recordings: RecordingStore;
  /** The bytes of hosted files. */
  blobs: BlobStore;
  /** Job events and rollout changes, to whoever follows them. */
  bus: EventBus;
  /** Which jobs and rollouts this server drives. */
  leases: DriverLeases;
  /** The CA, the server certificate, the command-signing key and the NATS keys. */
  keys: KeyMaterialStore;
  /**
   * With replicas sharing a database: this replica's id and where the replicas record the agent
   * links they hold (server/cluster). Absent on the embedded server, which holds every link.
   */
  cluster?: { replica: string; directory: LinkDirectory };
}

/** Which sign-in limit: API tokens, the page's form, join-token guesses. */
export type SignInLimitName = 'api' | 'web' | 'join';

/**
 * A server's three sign-in limits, made by `make` with each one's name and how many failures it
 * allows a minute: `signInFailures` for API tokens and the page's form, twice that for join tokens.
 */
export function signInLimits(
  signInFailures: number,
  make: (name: SignInLimitName, max: number) => SignInLimits,
): Pick<Infrastructure, 'apiSignIns' | 'webSignIns' | 'joinTokenGuesses'> {
  return { apiSignIns: make('api', signInFailures), webSignIns: make('web', signInFailures), joinTokenGuesses: make('join', 2 * signInFailures) };
}

/** The embedded implementations: memory, DATA/recordings, DATA/files and DATA/pki, DATA/nats, an in-process bus. */
export function embeddedInfrastructure(options: { dataDir: string; signInFailures: number }, log?: Logger): Infrastructure {
  return {
    webSessions: new MemoryWebSessions(),
    ...signInLimits(options.signInFailures, (_name, max) => new MemorySignInLimits({ max })),
    enrollmentReplies: new MemoryReplayCache(),
    recordings: new LocalRecordings(join(options.dataDir, 'recordings')),
    blobs: new LocalBlobs(join(options.dataDir, 'files')),
    bus: new LocalBus(log),
    leases: new LocalLeases(),
    keys: new LocalKeyMaterial(options.dataDir),
  };
}
