// Human-readable formatting shared by the CLI and the web page.

/** 1536 → "1.5KiB"; 0 → "-". */
export function formatBytes(n: number): string {
  if (!n) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 10 || i === 0 ? 0 : 1)}${units[i]}`;
}

/**
 * A value to quote in an error or log message: the whole of it when short, otherwise its first
 * `max` characters and its length, so no message ever carries a huge value.
 * @example quote('web-1') === '"web-1"'; quote('a'.repeat(500), 3) === '"aaa"… (500 characters)'
 */
export function quote(text: string, max = 100): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`;
}
