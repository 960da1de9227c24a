/**
 * The Partitions page's charts: lag and throughput per function over the last minutes, kept as
 * small samples of successive {@link Status} snapshots (taken only while a browser has the UI open).
 */
import type { Status } from '../status-report.ts';

/** One point of the charts. */
export interface StatusSample {
  time: number;
  /** Events appended per second, over every partition; null without an earlier snapshot. */
  publishedPerSecond: number | null;
  functions: Record<string, { lag: number | null; eventsPerSecond: number | null; pending: number }>;
}

export function toSample(status: Status): StatusSample {
  const rates = status.partitions.map((p) => p.publishedPerSecond).filter((r): r is number => r !== null);
  const functions: StatusSample['functions'] = {};
  for (const f of status.functions) functions[f.name] = { lag: f.lag, eventsPerSecond: f.eventsPerSecond, pending: f.pending };
  return { time: status.time, publishedPerSecond: rates.length === 0 ? null : rates.reduce((a, b) => a + b, 0), functions };
}

export class StatusHistory {
  readonly #max: number;
  #samples: StatusSample[] = [];

  /** @param maxSamples samples kept. @defaultValue 300 (10 minutes at one per 2 s) */
  constructor(maxSamples = 300) {
    this.#max = maxSamples;
  }

  add(sample: StatusSample): void {
    this.#samples.push(sample);
    if (this.#samples.length > this.#max) this.#samples.splice(0, this.#samples.length - this.#max);
  }

  samples(): StatusSample[] {
    return [...this.#samples];
  }
}
