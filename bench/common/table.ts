/** Shared output of the benchmarks: a fixed-width table for people and one JSON line for tools. */

export type Row = Record<string, string | number>;

function cell(v: string | number): string {
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3);
}

export function printTable(rows: Row[]) {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(widths[i])).join('  ');
  console.log(line(cols));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

export function printJson(bench: string, meta: Record<string, unknown>, rows: Row[]) {
  console.log(JSON.stringify({ bench, ...meta, rows }));
}

/** Median wall time in ms of `fn` over `reps` runs after `warmup` runs. */
export async function medianMs(fn: () => Promise<void> | void, reps: number,
                               warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
