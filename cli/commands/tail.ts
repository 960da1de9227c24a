/**
 * `fnrun tail [FN] [--key K] [--status S]`: follows the invocations of every `fnrun start` (and
 * `fnrun dev`) process of a namespace, through the feed they publish while someone listens.
 */
import { ConfigError, FEED_STATUSES, feedFilter, type FeedRecord, type FeedStatusFilter, Keys, subscribeFeed } from '../../runtime/internal.ts';
import { colorEnabled, palette } from '../color.ts';
import { jsonLine } from '../escape.ts';
import { formatInvocation, formatLog } from '../invocation-line.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';
import { untilShutdownSignal } from '../shutdown.ts';

export const HELP = `Usage: fnrun tail [FN] [--key K] [--status S] [--json]

Follows the invocations of every fnrun start and fnrun dev process on the namespace, as they
happen: one line per invocation (time, function, type, key, duration, outcome, the process), with
the handler's logs before it. Processes notice a listener within a second and send their records
in batches every 150 ms; nothing is sent while nobody tails. Ctrl-C stops.

Options:
  FN                 only this function
  --key K            only events with this key
  --status S         only this outcome: ${FEED_STATUSES.join(', ')} (failed: every outcome but ok)
  --json             one JSON object per invocation
${COMMON_HELP}`;

const OPTIONS = { key: { type: 'string' }, status: { type: 'string' } } as const;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, values, positionals } = parseCommand(argv, OPTIONS);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  if (positionals.length > 1) throw new ConfigError(`fnrun tail takes at most one function name, got ${positionals.length} (see --help)`);
  const status = (values.status as string | undefined) ?? null;
  if (status !== null && !(FEED_STATUSES as readonly string[]).includes(status)) {
    throw new ConfigError(`--status must be one of ${FEED_STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
  }
  const keep = feedFilter({ fn: positionals[0] ?? null, key: (values.key as string | undefined) ?? null, status: status as FeedStatusFilter | null });
  const write = (line: string) => process.stdout.write(`${line}\n`);
  const paint = palette(!common.json && colorEnabled(process.stdout, common.noColor));
  const print = common.json ? (r: FeedRecord) => write(jsonLine(r)) : (r: FeedRecord) => {
    for (const l of r.logs ?? []) write(formatLog(r.function, l.level, l.msg, l.time, paint));
    const [first = '', ...rest] = formatInvocation(r, paint, r.time).split('\n');
    write([`${first}  @${r.source}`, ...rest].join('\n'));
  };
  const subscription = await subscribeFeed(await clientRedisUrl(common), new Keys(common.namespace), (message) => {
    for (const r of message.records) if (keep(r)) print(r);
    if (message.dropped > 0) process.stderr.write(`fnrun tail: ${message.dropped} invocation(s) of ${message.source} not shown (its feed buffer was full)\n`);
  });
  process.stderr.write(`fnrun tail: following invocations in namespace "${common.namespace}" (Ctrl-C to stop)\n`);
  try {
    await untilShutdownSignal();
    return 0;
  } finally {
    await subscription.close();
  }
}
