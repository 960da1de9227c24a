/**
 * The sandbox process's RSS as last sampled by the watchdog (every tick). Reading RSS costs ~40 µs
 * (/proc), too much to pay for every batch; a sample at most one tick old is precise enough for
 * "how much did the process grow while this batch ran".
 */
let sample = 0;

export function recordRss(bytes: number): void {
  sample = bytes;
}

/** The latest sample, or a fresh reading before the first one. */
export function recentRss(): number {
  return sample === 0 ? process.memoryUsage.rss() : sample;
}
