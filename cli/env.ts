// What every command gets: where to write, the contexts file, and a Control client for the
// chosen context (created on first use, closed by main).
import type { Command } from 'commander';
import { ControlClient } from './client';
import { resolveContext } from './context';
import type { CliIo } from './io';

export class CliEnv {
  readonly io: CliIo;
  readonly configFile: string;
  /** The exit code main returns; commands raise it, never lower it. */
  exitCode = 0;
  /** The words after a bare `--` (the command for `fleet exec`), or null when there was none. */
  trailing: string[] | null = null;
  #contextName: string | undefined;
  #client: ControlClient | undefined;
  /** `--request-timeout` (or FLEET_REQUEST_TIMEOUT) in ms; undefined for the defaults. */
  requestTimeoutMs: number | undefined;

  constructor(io: CliIo, configFile: string) {
    this.io = io;
    this.configFile = configFile;
  }

  setContextName(name: string | undefined): void {
    this.#contextName = name;
  }

  get contextName(): string | undefined {
    return this.#contextName;
  }

  client(): ControlClient {
    this.#client ??= new ControlClient(resolveContext(this.configFile, this.#contextName).context, { requestTimeoutMs: this.requestTimeoutMs });
    return this.#client;
  }

  /** Drops the client, so the next `client()` connects afresh (after the server went away). */
  resetClient(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  close(): void {
    this.#client?.close();
  }
}

/** A command module: adds its command(s) under `parent`. */
export type CommandModule = (parent: Command, env: CliEnv) => void;
