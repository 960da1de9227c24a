/** One row of a benchmark table. */
export interface BenchResult {
  scenario: string;
  eventsPerSec?: number;
  p50Ms?: number;
  p99Ms?: number;
  samples?: number;
  ratio?: string;
}

/** Nearest-rank percentile of `values` (0–100). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** A markdown table of results. */
export function table(rows: readonly BenchResult[]): string {
  const fmt = (n: number | undefined, digits = 1) => (n === undefined ? '' : n.toFixed(digits));
  const lines = ['| scenario | events/s | p50 ms | p99 ms | samples | ratio |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    lines.push(`| ${r.scenario} | ${r.eventsPerSec === undefined ? '' : Math.round(r.eventsPerSec).toLocaleString('en-US')} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${r.samples ?? ''} | ${r.ratio ?? ''} |`);
  }
  return lines.join('\n');
}
