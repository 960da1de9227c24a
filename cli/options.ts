/**
 * Flags every command shares, parsed strictly (an unknown flag is an error, not silently ignored).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runningEmbeddedRedis } from './embedded-redis.ts';
import { ConfigError, namespaceProblem } from '../runtime/internal.ts';

export const COMMON_OPTIONS = {
  redis: { type: 'string' },
  namespace: { type: 'string' },
  partitions: { type: 'string' },
  json: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const COMMON_HELP = `Common options:
  --redis URL        Redis: redis://host:port, rediss://…, a unix socket path, a Cluster
                     (redis+cluster://h1:7000,h2:7001) or a Sentinel set
                     (redis+sentinel://s1:26379,s2:26379/<master name>)
                     (default: $FNRUN_REDIS_URL, else the embedded Redis of a running
                     fnrun dev in this folder, else redis://127.0.0.1:6379)
  --namespace NAME   key prefix shared by publishers and runtimes: letters, digits, . _ -
                     (default: fnrun)
  --partitions N     partition count; must match the namespace's once it exists
  --json             machine-readable output
  --no-color         no colours (also: NO_COLOR=1); colours are on only on a terminal
  -h, --help         this help`;

export interface CommonFlags {
  /** --redis, else $FNRUN_REDIS_URL, else null (see {@link clientRedisUrl}). */
  redis: string | null;
  namespace: string;
  partitions: number | undefined;
  json: boolean;
  /** --no-color was given (see color.ts for NO_COLOR and FORCE_COLOR). */
  noColor: boolean;
  help: boolean;
}

/** Parses `argv` with the common flags plus `options`; throws ConfigError on unknown or bad flags. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O, allowPositionals = true) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals, strict: true });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message.replace(/\. To specify a positional argument.*$/s, '')} (see --help)`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const env = process.env.FNRUN_REDIS_URL;
  const partitions = values.partitions === undefined ? undefined : Number(values.partitions);
  if (partitions !== undefined && (!Number.isInteger(partitions) || partitions < 1)) {
    throw new ConfigError(`--partitions must be a positive integer, got ${JSON.stringify(values.partitions)}`);
  }
  const namespace = (values.namespace as string | undefined) ?? 'fnrun';
  const badNamespace = namespaceProblem(namespace);
  if (badNamespace !== undefined) throw new ConfigError(`--namespace ${JSON.stringify(namespace)} is invalid: ${badNamespace}`);
  const common: CommonFlags = {
    redis: (values.redis as string | undefined) ?? env ?? null,
    namespace,
    partitions,
    json: values.json === true,
    noColor: values['no-color'] === true,
    help: values.help === true,
  };
  return { common, values, positionals: parsed.positionals };
}

/**
 * The Redis a client command (emit, dlq) talks to: the one given, else the embedded Redis that
 * `fnrun dev` runs for this folder, else the conventional local one.
 */
export async function clientRedisUrl(common: CommonFlags): Promise<string> {
  return common.redis ?? (await runningEmbeddedRedis()) ?? defaultRedisUrl();
}

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
let defaulted: string | null = null;

/** The Redis used when none was given or found; remembered, so that an error can say it was a default. */
export function defaultRedisUrl(): string {
  defaulted = DEFAULT_REDIS_URL;
  return DEFAULT_REDIS_URL;
}

/** The default address, when this command fell back to it (see {@link defaultRedisUrl}); else null. */
export function redisDefaultedTo(): string | null {
  return defaulted;
}
