/**
 * `fnrun dlq list [FN] | show FN ID | replay FN ID|--all | purge FN [ID]`.
 */
import { ConfigError, connectRedis, type DeadLetter, DeadLetterQueue, Keys, NotFoundError, resolvePartitions } from '../../runtime/internal.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import { escapeControl, escapeControlLines, jsonLine } from '../escape.ts';
import { requireKnownFunction } from '../known-functions.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun dlq list [FN] [--limit N]
       fnrun dlq show FN ID
       fnrun dlq replay FN ID | fnrun dlq replay FN --all
       fnrun dlq purge FN [ID] --yes

Dead letters: events a function failed on its last attempt, expired or malformed entries. IDs
look like 3:1732300000000-0 (partition:entry). Replay sends the event back to that one function
only; the other functions do not see it again. Purge deletes them for good.

Options:
  --limit N          list at most N dead letters, oldest first (default 100)
  --all              replay: every dead letter of FN
  --yes              purge: confirm; without it nothing is deleted
${COMMON_HELP}`;

const OPTIONS = { all: { type: 'boolean' }, limit: { type: 'string' }, yes: { type: 'boolean' } } as const;

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
    // An id that is not found may be a mistyped function name: say that instead.
    const orUnknownFunction = <T>(name: string, work: Promise<T>): Promise<T> => work.catch(async (error: unknown) => {
      if (error instanceof NotFoundError) await requireKnownFunction(redis, keys, name);
      throw error;
    });
    switch (action) {
      case 'list': {
        const limit = values.limit === undefined ? 100 : Number(values.limit);
        if (!Number.isSafeInteger(limit) || limit < 1) throw new ConfigError(`--limit must be a positive integer, got ${JSON.stringify(values.limit)}`);
        const letters = await dlq.list(fn, { limit });
        // None for a name nobody runs is a typo, not good news.
        if (letters.length === 0 && fn !== undefined) await requireKnownFunction(redis, keys, fn);
        out.result(letters, letters.length === 0 ? `no dead letters${fn === undefined ? '' : ` for ${fn}`}` : letters.map(summary).join('\n'));
        return 0;
      }
      case 'show': {
        const name = need(fn, 'FN');
        const letter = await orUnknownFunction(name, dlq.show(name, need(id, 'ID')));
        out.result(letter, details(letter));
        return 0;
      }
      case 'replay': {
        const name = need(fn, 'FN');
        if (values.all) {
          const count = await dlq.replayAll(name);
          if (count === 0) await requireKnownFunction(redis, keys, name);
          out.result({ replayed: count }, `replayed ${count} dead letters to ${name}`);
        } else {
          const eventId = await orUnknownFunction(name, dlq.replay(name, need(id, 'ID or --all')));
          out.result({ replayed: 1, eventId }, `replayed to ${name} as event ${eventId}`);
        }
        return 0;
      }
      case 'purge': {
        const name = need(fn, 'FN');
        if (values.yes !== true) {
          throw new ConfigError(`fnrun dlq purge deletes ${id === undefined ? `every dead letter of ${name}` : `dead letter ${id}`} for good; run it again with --yes to confirm (nothing was deleted)`);
        }
        const count = await dlq.purge(name, id);
        if (count === 0) await requireKnownFunction(redis, keys, name);
        out.result({ purged: count }, `purged ${count} dead letters of ${name}`);
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
  return `${l.id}  ${escapeControl(l.function)}  ${eventType(l)}  key=${escapeControl(l.event?.key ?? '-')}  ${l.reason} after ${l.attempts} attempt(s)  ${when}  ${escapeControl(`${l.error.name}: ${l.error.message}`)}`;
}

function details(l: DeadLetter): string {
  return [
    `id:          ${l.id}`,
    `function:    ${escapeControl(l.function)} (version ${escapeControl(l.version)})`,
    `event:       ${l.eventId} ${eventType(l)} key=${escapeControl(l.event?.key ?? '-')}`,
    `reason:      ${l.reason} after ${l.attempts} attempt(s)`,
    `failed:      first ${new Date(l.firstFailureAt).toISOString()}, last ${new Date(l.lastFailureAt).toISOString()}`,
    `data:        ${l.event ? jsonLine(l.event.data) : jsonLine(l.rawFields)}`,
    `error:       ${escapeControlLines(l.error.stack || `${l.error.name}: ${l.error.message}`)}`,
  ].join('\n');
}

function eventType(l: DeadLetter): string {
  return l.event?.type == null ? '(malformed)' : escapeControl(l.event.type);
}
