/**
 * `fnrun replay FN --from TIME|ID [--to TIME|ID]`: re-runs one function over retained history.
 */
import { ConfigError, connectRedis, DEFAULT_MAX_EVENT_BYTES, Keys, parseWindowBound, Registry, replayWindow, resolvePartitions } from '../../runtime/internal.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import { requireKnownFunction } from '../known-functions.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun replay FN --from TIME|ID [--to TIME|ID]

Re-runs function FN over the retained events of a window: each event is appended again to its
partition, addressed to FN only (the other functions do not see it again, and no cursor moves),
with the header fnrun-replay-of. A deployed function gets only the event types its manifest
subscribes to. TIME: a stream id (1732300000000-0), epoch ms, an ISO date, or a duration ago
(90m, 2h, 1d). Only retained events can be replayed. FN must be deployed or seen on the streams
(fnrun status lists them): an unknown name is refused, and nothing is appended.

Options:
  --from TIME|ID     start of the window (required)
  --to TIME|ID       end of the window (default: the newest event)
${COMMON_HELP}`;

const OPTIONS = { from: { type: 'string' }, to: { type: 'string' } } as const;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, values, positionals } = parseCommand(argv, OPTIONS);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  const [fn, ...rest] = positionals;
  if (fn === undefined || rest.length > 0 || values.from === undefined) throw new ConfigError('usage: fnrun replay FN --from TIME|ID [--to TIME|ID] (see --help)');
  const now = Date.now();
  const fromId = parseWindowBound(values.from as string, now, 'from');
  const toId = values.to === undefined ? undefined : parseWindowBound(values.to as string, now, 'to');
  const redis = await connectRedis(await clientRedisUrl(common), 'fnrun-cli');
  try {
    const keys = new Keys(common.namespace);
    const partitions = await resolvePartitions(redis, keys, common.partitions, { create: false });
    const deployed = await new Registry(redis, keys).active(fn).catch(() => null);
    // A typo would otherwise append the whole window again, addressed to nobody.
    if (deployed === null) await requireKnownFunction(redis, keys, fn);
    const count = await replayWindow(redis, keys, partitions, fn, {
      fromId, ...(toId ? { toId } : {}), maxEventBytes: DEFAULT_MAX_EVENT_BYTES, ...(deployed ? { events: deployed.manifest.events } : {}),
    });
    out.result({ function: fn, fromId, toId: toId ?? null, replayed: count }, `replaying ${count} events to ${fn} (${fromId} … ${toId ?? 'now'})`);
    return 0;
  } finally {
    redis.disconnect();
  }
}
