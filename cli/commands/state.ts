/**
 * `fnrun state get FN KEY [NAME] | set FN KEY NAME JSON | rm FN KEY [NAME] --yes`: one function's
 * per-key state, read and changed in Redis (runtime/state/state-store.ts).
 */
import { ConfigError, connectRedis, Keys, NotFoundError, type Redis, Registry, resolvePartitions, STATE_LIMITS, type StateEntries, StateStore } from '../../runtime/internal.ts';
import { escapeControl, jsonLine } from '../escape.ts';
import { requireKnownFunction } from '../known-functions.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun state get FN KEY [NAME]
       fnrun state set FN KEY NAME JSON
       fnrun state rm FN KEY [NAME] --yes

The per-key state of function FN for event key KEY (what its handler reads and writes as
ctx.state): get prints every name and value, or one value's JSON; set stores one value, given
as JSON ('3', '"text"', '{"a":1}'); rm deletes one name, or the key's whole state.

A change applies at once, but it races with the function: an event of that key being processed
while you set or rm read the value before, and its commit, landing just after, overwrites
what it wrote (a counter loses your change). Change state while the function is stopped, or
while no events of that key flow. set restarts the key's expiry when the deployed manifest has
state.ttlMs, and refuses values over the limits (${STATE_LIMITS.maxValueBytes / 1024} KiB per value;
${STATE_LIMITS.maxNames} names and ${STATE_LIMITS.maxKeyBytes / 1024 / 1024} MiB per key). Put -- before a KEY that starts with -.

Options:
  --yes              rm: confirm; without it nothing is deleted
${COMMON_HELP}`;

const OPTIONS = { yes: { type: 'boolean' } } as const;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, values, positionals } = parseCommand(argv, OPTIONS);
  out.json = common.json;
  const [action, fn, key, ...rest] = positionals;
  if (common.help || action === undefined) return out.help(HELP);
  if (action !== 'get' && action !== 'set' && action !== 'rm') throw new ConfigError(`unknown state action ${JSON.stringify(action)}: use get, set or rm (see fnrun state --help)`);
  if (fn === undefined || key === undefined) throw new ConfigError(`fnrun state ${action}: missing ${fn === undefined ? 'FN and KEY' : 'KEY'} (see fnrun state --help)`);
  const most = action === 'set' ? 2 : 1;
  if (rest.length > most) throw new ConfigError(`unexpected argument ${JSON.stringify(rest[most])} (see fnrun state --help)`);
  const [name, valueText] = rest;
  if (action === 'set' && (name === undefined || valueText === undefined)) throw new ConfigError(`fnrun state set: missing ${name === undefined ? 'NAME and JSON' : 'JSON'} (see fnrun state --help)`);
  const value = action === 'set' ? parseValue(valueText!) : undefined;
  if (action === 'rm' && values.yes !== true) {
    throw new ConfigError(`fnrun state rm deletes ${name === undefined ? 'every state value' : `"${name}"`} of ${fn} for key ${key}; run it again with --yes to confirm (nothing was deleted)`);
  }
  const redis = await connectRedis(await clientRedisUrl(common), 'fnrun-cli');
  try {
    const keys = new Keys(common.namespace);
    const store = new StateStore(redis, keys, await resolvePartitions(redis, keys, common.partitions, { create: false }));
    const where = `${escapeControl(fn)}, key ${escapeControl(key)}`;
    switch (action) {
      case 'get': {
        const entries = await store.get(fn, key);
        // None for a name nobody runs is a typo, not an empty state.
        if (Object.keys(entries).length === 0) await requireKnownFunction(redis, keys, fn);
        if (name === undefined) {
          out.result({ function: fn, key, entries }, describeEntries(entries, where));
          return 0;
        }
        if (!Object.hasOwn(entries, name)) {
          const has = Object.keys(entries);
          throw new NotFoundError(`${fn} has no state "${name}" for key ${key} (${has.length === 0 ? 'it has no state for that key' : `it has: ${has.join(', ')}`})`);
        }
        out.result({ function: fn, key, name, value: entries[name] }, jsonLine(entries[name]));
        return 0;
      }
      case 'set': {
        // A typo must not leave state behind that no function reads.
        await requireKnownFunction(redis, keys, fn);
        await store.set(fn, key, name!, value, { ttlMs: await deployedTtlMs(redis, keys, fn) });
        out.result({ function: fn, key, name, value }, `set ${escapeControl(name!)} = ${jsonLine(value)} (${where})`);
        return 0;
      }
      case 'rm': {
        const removed = await store.delete(fn, key, name);
        if (removed === 0) await requireKnownFunction(redis, keys, fn);
        out.result({ function: fn, key, name: name ?? null, removed }, `removed ${removed} state value${removed === 1 ? '' : 's'} (${where})`);
        return 0;
      }
    }
  } finally {
    redis.disconnect();
  }
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError(`the value must be JSON (${(error as Error).message}): quote a string twice, as '"${text.slice(0, 40)}"'`);
  }
}

/** The deployed manifest's `state.ttlMs` (null for none, or when FN is not deployed: a dev function). */
async function deployedTtlMs(redis: Redis, keys: Keys, fn: string): Promise<number | null> {
  return (await new Registry(redis, keys).active(fn))?.manifest.state.ttlMs ?? null;
}

function describeEntries(entries: StateEntries, where: string): string {
  const names = Object.keys(entries);
  if (names.length === 0) return `no state (${where})`;
  const width = Math.min(40, Math.max(...names.map((n) => escapeControl(n).length)));
  return [`${names.length} state value${names.length === 1 ? '' : 's'} (${where}):`, ...names.map((n) => `  ${escapeControl(n).padEnd(width)}  ${jsonLine(entries[n])}`)].join('\n');
}
