/**
 * `fnrun status [--json] [--watch]`: partitions, owners and per-function lag, pending, retries and
 * dead letters, read from Redis only (runtime/status.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, connectRedis, getStatus, Keys, RateWindow } from '../../runtime/internal.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';
import { formatStatus } from '../status-format.ts';

export const HELP = `Usage: fnrun status [--watch] [--json]

Shows, from Redis alone: each partition's owner (lease), length and first/last entry id; for every
function (deployed, or seen on the streams) its version, consumer group, lag (entries not yet
read), pending (read, not yet settled), the age of the oldest pending event, retries in flight,
dead letters and events/s; and the stuck events (failed, waiting for a retry), oldest first.

Options:
  --watch            redraw every second; rates (events/s) are measured from the samples, over
                     the last minute (a single snapshot has none). With --json: one line per sample.
                     Ctrl-C to stop.
${COMMON_HELP}`;

const OPTIONS = { watch: { type: 'boolean' } } as const;

/** Time between two samples with --watch. */
const WATCH_INTERVAL_MS = 1000;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, values, positionals } = parseCommand(argv, OPTIONS, false);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  if (positionals.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const redis = await connectRedis(await clientRedisUrl(common), 'fnrun-cli');
  const keys = new Keys(common.namespace);
  const opts = common.partitions === undefined ? {} : { partitions: common.partitions };
  if (!values.watch) {
    try {
      const status = await getStatus(redis, keys, opts);
      out.result(status, formatStatus(status));
      return 0;
    } finally {
      redis.disconnect();
    }
  }

  // Ctrl-C ends the wait between samples at once; a sample in flight is cut short by closing the
  // connection (commands would otherwise queue forever while Redis is unreachable).
  const stop = new AbortController();
  const onSignal = () => {
    stop.abort();
    redis.disconnect();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rates = new RateWindow();
  const clear = process.stdout.isTTY && !common.json ? '\x1b[H\x1b[2J' : '';
  try {
    while (!stop.signal.aborted) {
      let status;
      try {
        status = await getStatus(redis, keys, { ...opts, rates });
      } catch (error) {
        if (stop.signal.aborted) break;
        throw error;
      }
      if (clear) process.stdout.write(clear);
      out.result(status, common.json ? '' : `${formatStatus(status)}\n`);
      // Rejects with AbortError on Ctrl-C; the loop condition then ends the watch.
      await sleep(WATCH_INTERVAL_MS, undefined, { signal: stop.signal }).catch(() => undefined);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    redis.disconnect();
  }
}
