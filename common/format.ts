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
