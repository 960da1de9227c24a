/**
 * Rates from counters sampled over time, for `fnrun status --watch`.
 *
 * Redis keeps no history, and counting the entries of the last minute would mean reading them, so
 * rates come from monotonic counters Redis already keeps — a consumer group's `entries-read` and a
 * stream's `entries-added` (XINFO, Redis 7.0) — sampled by the caller: each sample is compared with
 * the oldest one kept inside the window. A single sample has no rate.
 */

/** Per-second rates between the newest sample and the oldest one inside the window. */
export interface Rates {
  /** How long the rates were measured over; null when there is no earlier sample yet. */
  readonly windowMs: number | null;
  /**
   * Sum of the per-second growth of `counters`; counters missing from either sample, or that went
   * down (a stream or group was re-created), are left out. Null when none could be compared.
   */
  perSecond(counters: readonly string[]): number | null;
}

interface Sample {
  time: number;
  counters: ReadonlyMap<string, number>;
}

/** Keeps the samples of the last `windowMs` and computes rates over them. Pure: no clock, no I/O. */
export class RateWindow {
  readonly windowMs: number;
  private samples: Sample[] = [];

  /** @param windowMs how far back rates look. @defaultValue 60000 (a minute) */
  constructor(windowMs = 60_000) {
    this.windowMs = windowMs;
  }

  /** Adds a sample taken at `time` (ms, one clock for every sample) and returns the rates up to it. */
  add(time: number, counters: ReadonlyMap<string, number>): Rates {
    // A sample from the past (a clock step back) would give negative intervals: start over.
    if (this.samples.length > 0 && time < this.samples[this.samples.length - 1]!.time) this.samples = [];
    this.samples.push({ time, counters });
    // Drop samples older than the window, but keep at least one earlier sample to compare with.
    while (this.samples.length > 2 && this.samples[1]!.time <= time - this.windowMs) this.samples.shift();
    const earlier = this.samples.slice(0, -1);
    if (earlier.length === 0 || time - earlier[0]!.time <= 0) return { windowMs: null, perSecond: () => null };
    return {
      windowMs: time - earlier[0]!.time,
      perSecond(names) {
        // Each counter against the oldest sample that has it: Redis reports a group's `entries-read`
        // only once the group has read something, so it can be missing from the first samples.
        let total = 0;
        let compared = 0;
        for (const name of names) {
          const now = counters.get(name);
          if (now === undefined) continue;
          const base = earlier.find((s) => s.counters.has(name));
          const then = base?.counters.get(name);
          if (base === undefined || then === undefined || now < then || time <= base.time) continue;
          total += ((now - then) * 1000) / (time - base.time);
          compared++;
        }
        return compared === 0 ? null : total;
      },
    };
  }
}
