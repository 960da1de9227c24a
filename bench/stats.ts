/** One row of the results table. */
export interface BenchResult {
  /** The scenario's number in the table (1–6), or '' for a reference row. */
  id: string;
  scenario: string;
  eventsPerSec?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Peak RSS, MiB: the total and its parts by process. */
  rss?: { totalMb: number; parts: Record<string, number> };
  /** What the numbers are a median of, e.g. '3 runs' or '20,000 events'. */
  samples?: string;
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

const int = (n: number) => Math.round(n).toLocaleString('en-US');

function rssCell(rss: BenchResult['rss']): string {
  if (rss === undefined) return '';
  const parts = Object.entries(rss.parts).sort((a, b) => b[1] - a[1]).map(([name, mb]) => `${name} ${int(mb)}`);
  return parts.length > 1 ? `${int(rss.totalMb)} (${parts.join(' + ')})` : int(rss.totalMb);
}

/** A markdown table; throughput rows get their ratio to the raw loop and to BullMQ. */
export function table(rows: readonly BenchResult[], rawPerSec: number, bullPerSec: number): string {
  const ms = (n: number | undefined) => (n === undefined ? '' : n.toFixed(1));
  const lines = [
    '| # | scenario | events/s | ÷ (1) raw | ÷ (4) BullMQ | p50 ms | p99 ms | peak RSS MiB | median of |',
    '|---|---|--:|--:|--:|--:|--:|---|---|',
  ];
  for (const r of rows) {
    const rate = r.eventsPerSec;
    const vsRaw = rate === undefined ? '' : `${((rate / rawPerSec) * 100).toFixed(0)}%`;
    const vsBull = rate === undefined ? '' : `${(rate / bullPerSec).toFixed(1)}×`;
    lines.push(`| ${r.id} | ${r.scenario} | ${rate === undefined ? '' : int(rate)} | ${vsRaw} | ${vsBull} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${rssCell(r.rss)} | ${r.samples ?? ''} |`);
  }
  return lines.join('\n');
}
