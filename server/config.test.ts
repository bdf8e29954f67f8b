// fleet-server's options: where the state is kept (--store / FLEET_STORE) is a PostgreSQL URL or
// nothing (SQLite in DATA), and a mistake is named before anything starts.
import { describe, expect, it } from 'vitest';
import { StartupError } from './errors';
import { optionsFromEnv, parseOptions } from './config';

describe('server options: the store', () => {
  it('keeps the state in DATA unless given a PostgreSQL URL', () => {
    expect(parseOptions({}).store).toBeNull();
    expect(parseOptions(optionsFromEnv({ FLEET_STORE: 'postgres://fleet@db:5432/fleet' })).store).toBe('postgres://fleet@db:5432/fleet');
    expect(parseOptions({ store: 'postgresql://u:p@[::1]/f' }).store).toBe('postgresql://u:p@[::1]/f');
  });

  it('refuses anything else, naming the option', () => {
    for (const bad of ['sqlite', 'mysql://db/fleet', 'postgres://', '/var/lib/fleet']) {
      expect(() => parseOptions({ store: bad }), bad).toThrow(StartupError);
      expect(() => parseOptions({ store: bad }), bad).toThrow(/invalid server option store: the store must be a PostgreSQL URL/);
    }
  });
});
