// The CLI's contexts file (~/.config/fleet/config.json, or $FLEET_CONFIG): for each named
// context, the server address, an API token and the pinned CA. Written with mode 0600.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomic-write';
import { readEnv } from '../common/env';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { NotLoggedInError, UserError } from './errors';

const contextSchema = z.object({ server: z.string(), token: z.string(), caPem: z.string() });
const fileSchema = z.object({ current: z.string().default('default'), contexts: z.record(z.string(), contextSchema).default({}) });

export type Context = z.infer<typeof contextSchema>;
export type ConfigFile = z.infer<typeof fileSchema>;

/** Where the contexts file lives. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const file = readEnv('FLEET_CONFIG', env);
  if (file !== undefined) return file;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'fleet', 'config.json');
}

export function readConfig(file: string): ConfigFile {
  if (!existsSync(file)) return { current: 'default', contexts: {} };
  try {
    return fileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new UserError(`the fleet config ${file} is damaged (${(err as Error).message.split('\n')[0]}); fix it or log in again after removing it`, 'BAD_CONFIG', err);
  }
}

export function writeConfig(file: string, config: ConfigFile): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
}

/** The context to use: --context, then $FLEET_CONTEXT, then the file's current one. */
export function resolveContext(file: string, name?: string): { name: string; context: Context } {
  const config = readConfig(file);
  const chosen = name || readEnv('FLEET_CONTEXT') || config.current;
  const context = config.contexts[chosen];
  if (!context) throw new NotLoggedInError(chosen);
  return { name: chosen, context };
}
