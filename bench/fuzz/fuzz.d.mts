// Types for test/fuzz.test.ts, which runs the fuzzer (plain ESM, like the other benchmarks).
export interface Tally {
  name: string;
  cases: number;
  crashes: number;
  hangs: number;
  internal: number;
  seconds: number;
  refused: number;
  accepted: number;
}
export interface Finding {
  target: string;
  kind: 'crash' | 'hang' | 'internal';
  detail: string;
  file: string;
}
export interface FuzzFleet {
  dir: string;
  joinToken: string;
  nodeIds: Record<string, string>;
  rss(): Record<string, number>;
  health(): Promise<string[]>;
  stop(): void;
}
export interface FuzzResult {
  tallies: Tally[];
  findings: Finding[];
  rssBefore?: Record<string, number>;
  rssAfter?: Record<string, number>;
}
/** Runs the fuzzer; `cases` is a total or a map of cases per target. */
export function fuzz(options: { seed: number; cases: number | Record<string, number>; only?: string[]; outDir?: string; fleet?: FuzzFleet; nats?: boolean; batches?: number; log?: (line: string) => void }): Promise<FuzzResult>;
export function summaryTable(tallies: Tally[]): string;
export function startFuzzFleet(options?: { nats?: boolean }): Promise<FuzzFleet>;
export function randomSeed(): number;
