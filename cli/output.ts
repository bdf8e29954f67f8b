// Output helpers: aligned tables, JSON and YAML, and the -o option shared by list commands.
import YAML from 'yaml';
import { UsageError } from './errors';
import type { CliIo } from './io';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

export function parseOutputFormat(text: string | undefined, allowed: OutputFormat[] = ['table', 'wide', 'json', 'yaml']): OutputFormat {
  const value = (text ?? 'table') as OutputFormat;
  if (!allowed.includes(value)) throw new UsageError(`unknown output format "${text}" (use ${allowed.join(', ')})`);
  return value;
}

/** Prints rows as a table with a header, columns padded to the widest cell. */
export function printTable(io: CliIo, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  io.stdout.write(line(header) + '\n');
  for (const row of rows) io.stdout.write(line(row) + '\n');
}

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function printYaml(io: CliIo, value: unknown): void {
  io.stdout.write(YAML.stringify(value));
}

/** Prints structured data as JSON or YAML; returns false for table formats. */
export function printStructured(io: CliIo, format: OutputFormat, value: unknown): boolean {
  if (format === 'json') printJson(io, value);
  else if (format === 'yaml') printYaml(io, value);
  else return false;
  return true;
}

/** "3m ago", "2h ago", "5d ago". */
export function ago(unixMs: number, now = Date.now()): string {
  if (!unixMs) return '-';
  const s = Math.max(0, Math.round((now - unixMs) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export { formatBytes } from '../common/format';

export function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '-';
}

/** Text for one table cell: whitespace (newlines included) collapsed, cut at `max` characters. */
export function oneLine(text: string, max = 120): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat || '-';
}
