/**
 * `fnrun dlq list [FN] | show FN ID | replay FN ID|--all | purge FN [ID]`.
 */
import { ConfigError } from '../../runtime/errors.ts';
import { DeadLetterQueue } from '../../runtime/dead-letters/dead-letters.ts';
import type { DeadLetter } from '../../runtime/dead-letters/dead-letter-record.ts';
import { Keys } from '../../runtime/redis/keys.ts';
import { resolvePartitions } from '../../runtime/redis/namespace.ts';
import { connectRedis } from '../../runtime/redis/redis.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun dlq list [FN] [--limit N]
       fnrun dlq show FN ID
       fnrun dlq replay FN ID | fnrun dlq replay FN --all
       fnrun dlq purge FN [ID]

Dead letters: events a function failed on its last attempt, expired or malformed entries. IDs
look like 3:1732300000000-0 (partition:entry). Replay sends the event back to that one function
only; the other functions do not see it again.

${COMMON_HELP}`;

const OPTIONS = { all: { type: 'boolean' }, limit: { type: 'string' } } as const;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, values, positionals } = parseCommand(argv, OPTIONS);
  out.json = common.json;
  const [action, fn, id, ...rest] = positionals;
  if (common.help || action === undefined) return out.help(HELP);
  if (rest.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(rest[0])} (see fnrun dlq --help)`);
  const redis = await connectRedis(await clientRedisUrl(common), 'fnrun-cli');
  try {
    const keys = new Keys(common.namespace);
    const dlq = new DeadLetterQueue(redis, keys, await resolvePartitions(redis, keys, common.partitions, { create: false }));
    const need = (what: string | undefined, name: string): string => {
      if (what === undefined) throw new ConfigError(`fnrun dlq ${action}: missing ${name} (see fnrun dlq --help)`);
      return what;
    };
    switch (action) {
      case 'list': {
        const limit = values.limit === undefined ? 100 : Number(values.limit);
        const letters = await dlq.list(fn, { limit });
        out.result(letters, letters.length === 0 ? 'no dead letters' : letters.map(summary).join('\n'));
        return 0;
      }
      case 'show': {
        const letter = await dlq.show(need(fn, 'FN'), need(id, 'ID'));
        out.result(letter, details(letter));
        return 0;
      }
      case 'replay': {
        const name = need(fn, 'FN');
        if (values.all) {
          const count = await dlq.replayAll(name);
          out.result({ replayed: count }, `replayed ${count} dead letters to ${name}`);
        } else {
          const eventId = await dlq.replay(name, need(id, 'ID or --all'));
          out.result({ replayed: 1, eventId }, `replayed to ${name} as event ${eventId}`);
        }
        return 0;
      }
      case 'purge': {
        const count = await dlq.purge(need(fn, 'FN'), id);
        out.result({ purged: count }, `purged ${count} dead letters of ${fn}`);
        return 0;
      }
      default:
        throw new ConfigError(`unknown dlq action ${JSON.stringify(action)}: use list, show, replay or purge`);
    }
  } finally {
    redis.disconnect();
  }
}

function summary(l: DeadLetter): string {
  const when = new Date(l.deadAt).toISOString();
  return `${l.id}  ${l.function}  ${l.event?.type ?? '(malformed)'}  key=${l.event?.key ?? '-'}  ${l.reason} after ${l.attempts} attempt(s)  ${when}  ${l.error.name}: ${l.error.message}`;
}

function details(l: DeadLetter): string {
  return [
    `id:          ${l.id}`,
    `function:    ${l.function} (version ${l.version})`,
    `event:       ${l.eventId} ${l.event?.type ?? '(malformed)'} key=${l.event?.key ?? '-'}`,
    `reason:      ${l.reason} after ${l.attempts} attempt(s)`,
    `failed:      first ${new Date(l.firstFailureAt).toISOString()}, last ${new Date(l.lastFailureAt).toISOString()}`,
    `data:        ${l.event ? JSON.stringify(l.event.data) : JSON.stringify(l.rawFields)}`,
    `error:       ${l.error.stack || `${l.error.name}: ${l.error.message}`}`,
  ].join('\n');
}
