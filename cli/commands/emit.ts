/**
 * `fnrun emit TYPE --key K --data JSON` and `fnrun emit --file events.ndjson`.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ConfigError, connectRedis, type EventInput, Keys, Publisher } from '../../runtime/internal.ts';
import { escapeControl } from '../escape.ts';
import { fsUserError } from '../fs-errors.ts';
import { namespaceWarning } from '../namespace-warning.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun emit TYPE [--key KEY] [--data JSON] [--dedupe-id ID]
       fnrun emit --file events.ndjson

Publishes an event and prints its id and partition. With --file, publishes one event per line,
each a JSON object {"type", "key", "data"} (key may be null or absent), in pipelined batches.
Publishing to a namespace where no function is deployed and no runtime has run prints a warning
(the event waits in its stream until a function subscribes).

Options:
  --key KEY          the partition key (events of one key are handled in order); default: none
  --data JSON        the event's data, as JSON (default: null)
  --dedupe-id ID     publish at most once per ID within the dedupe window (10 minutes)
  --file FILE        publish every line of FILE (newline-delimited JSON) instead of one event
${COMMON_HELP}`;

const OPTIONS = {
  key: { type: 'string' },
  data: { type: 'string' },
  file: { type: 'string' },
  'dedupe-id': { type: 'string' },
} as const;

const FILE_BATCH = 1000;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, values, positionals } = parseCommand(argv, OPTIONS);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  const file = values.file as string | undefined;
  const [type, ...rest] = positionals;
  if (file !== undefined && positionals.length > 0) throw new ConfigError('give either TYPE or --file, not both');
  if (file === undefined && (type === undefined || rest.length > 0)) throw new ConfigError('usage: fnrun emit TYPE [--key KEY] [--data JSON] (see --help)');
  const data = file === undefined ? parseJson(values.data as string | undefined ?? 'null', '--data') : null;
  const url = await clientRedisUrl(common);
  const redis = await connectRedis(url, 'fnrun-cli');
  try {
    const keys = new Keys(common.namespace);
    // Asked before publishing (the first publish creates the namespace), told after it worked.
    const warning = await namespaceWarning(redis, keys, url);
    const warn = () => { if (warning !== null) process.stderr.write(`fnrun: warning: ${escapeControl(warning)}\n`); };
    const publisher = await Publisher.connect({ redis, namespace: common.namespace, ...(common.partitions ? { partitions: common.partitions } : {}) });
    if (file !== undefined) {
      const count = await emitFile(publisher, file);
      out.result({ published: count }, `published ${count} events`);
      warn();
      return 0;
    }
    const result = await publisher.publish(type!, (values.key as string | undefined) ?? null, data, values['dedupe-id'] ? { dedupeId: values['dedupe-id'] as string } : {});
    out.result(result, `${result.duplicate ? 'duplicate of' : 'published'} ${result.id} (partition ${result.partition})`);
    warn();
    return 0;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

async function emitFile(publisher: Publisher, file: string): Promise<number> {
  const input = createReadStream(file);
  const lines = createInterface({ input, crlfDelay: Infinity });
  let batch: EventInput[] = [];
  let count = 0;
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      const value = parseJson(line, `${file}:${lineNo}`) as { type?: unknown; key?: unknown; data?: unknown };
      if (value === null || typeof value !== 'object' || typeof value.type !== 'string') {
        throw new ConfigError(`${file}:${lineNo}: expected {"type": "...", "key": "...", "data": ...}`);
      }
      if (value.key !== undefined && value.key !== null && typeof value.key !== 'string') throw new ConfigError(`${file}:${lineNo}: "key" must be a string or null`);
      batch.push({ type: value.type, key: (value.key as string | null | undefined) ?? null, data: value.data ?? null });
      if (batch.length === FILE_BATCH) {
        count += (await publisher.publishBatch(batch)).length;
        batch = [];
      }
    }
  } catch (error) {
    throw fsUserError(error, 'read', file);
  } finally {
    input.destroy();
  }
  if (batch.length > 0) count += (await publisher.publishBatch(batch)).length;
  return count;
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${where}: invalid JSON: ${(error as Error).message}`);
  }
}
