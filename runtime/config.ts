/**
 * The runtime's defaults, in one place, and the validation of its options at the edge: a bad
 * option is a {@link ConfigError} naming the option, what was given and what is expected; inside,
 * every part gets plain, complete values.
 */
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const MiB = 1024 * 1024;

/** Every runtime default (manifest defaults are in loading/manifest.ts `MANIFEST_DEFAULTS`). */
export const RUNTIME_DEFAULTS = Object.freeze({
  /** Key prefix shared by publishers and runtimes. @defaultValue `'fnrun'` */
  namespace: 'fnrun',
  /** Partitions of a new namespace (see README "How many partitions"). @defaultValue `16` */
  partitions: 16,
  /** @defaultValue `4096` */
  maxPartitions: 4096,
  /** Entries per read of a partition stream. @defaultValue `100` */
  batchSize: 100,
  /** Largest event (data, key and headers) accepted on publish and on read. @defaultValue 1 MiB */
  maxEventBytes: MiB,
  /** Entries read and not yet settled per (consumer group, partition); past it, reading pauses. @defaultValue `1000` */
  maxBuffered: 1_000,
  /** The same bound in bytes. @defaultValue 4 MiB */
  maxBufferedBytes: 4 * MiB,
  /**
   * Entries read and not yet settled by every worker of the process together, in bytes; past it a
   * worker holding a batch or 64 KiB pauses reading. @defaultValue 256 MiB, or a quarter of the heap limit if that is less
   */
  maxBufferedBytesPerProcess: Math.min(256 * MiB, Math.floor(getHeapStatistics().heap_size_limit / 4)),
  /** Most events of one key sent to the sandbox as one chain. @defaultValue `100` */
  maxChain: 100,
  /** Partition lease time-to-live: how long a dead process's partitions wait before others take them. @defaultValue `10000` */
  leaseTtlMs: 10_000,
  /** Lease renewal every `leaseTtlMs / heartbeatsPerLease`. @defaultValue `5` */
  heartbeatsPerLease: 5,
  /** How often retention trims the owned partitions. @defaultValue `60000` */
  retentionIntervalMs: 60_000,
  /** Window in which a publish with the same dedupe id is a no-op. @defaultValue 1 hour */
  dedupeWindowMs: 60 * 60_000,
});

/** Shortest lease the runtime accepts: renewals every TTL / 5 must not flood Redis nor miss on a busy machine. */
export const MIN_LEASE_TTL_MS = 500;

const positiveInt = (name: string, min: number, max: number) => {
  const error = `${name} must be a whole number from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

const limitsSchema = z.object({
  batchSize: positiveInt('batchSize', 1, 10_000).default(RUNTIME_DEFAULTS.batchSize),
  maxEventBytes: positiveInt('maxEventBytes', 1, 512 * MiB).default(RUNTIME_DEFAULTS.maxEventBytes),
  maxBuffered: positiveInt('maxBuffered', 1, 1_000_000).default(RUNTIME_DEFAULTS.maxBuffered),
  maxBufferedBytes: positiveInt('maxBufferedBytes', 1, 4096 * MiB).default(RUNTIME_DEFAULTS.maxBufferedBytes),
  maxBufferedBytesPerProcess: positiveInt('maxBufferedBytesPerProcess', 1, 64 * 1024 * MiB).default(RUNTIME_DEFAULTS.maxBufferedBytesPerProcess),
  maxChain: positiveInt('maxChain', 1, 10_000).default(RUNTIME_DEFAULTS.maxChain),
});

const leaseSchema = z.object({
  memberId: z.string().min(1).optional(),
  leaseTtlMs: positiveInt('leaseTtlMs (--lease-ttl)', MIN_LEASE_TTL_MS, 600_000).default(RUNTIME_DEFAULTS.leaseTtlMs),
  heartbeatMs: positiveInt('heartbeatMs', 50, 200_000).optional(),
}).check((ctx) => {
  const { leaseTtlMs, heartbeatMs } = ctx.value;
  if (heartbeatMs !== undefined && heartbeatMs * 3 > leaseTtlMs) {
    ctx.issues.push({ code: 'custom', input: heartbeatMs, message: `heartbeatMs (${heartbeatMs}) must be at most a third of leaseTtlMs (${leaseTtlMs}), so that a lease is renewed several times before it expires; set it to about ${Math.floor(leaseTtlMs / 5)}` });
  }
});

/** The worker limits, complete. */
export type WorkerLimitsConfig = z.infer<typeof limitsSchema>;
/** Lease options, complete. */
export interface LeaseConfig {
  memberId?: string;
  leaseTtlMs: number;
  heartbeatMs: number;
}

/** Validates the worker limits given to a runtime; throws ConfigError naming the option. */
export function resolveLimits(given: Partial<Record<keyof WorkerLimitsConfig, unknown>>): WorkerLimitsConfig {
  return parse(limitsSchema, given);
}

/** Validates lease options; throws ConfigError naming the option. */
export function resolveLeases(given: { memberId?: unknown; leaseTtlMs?: unknown; heartbeatMs?: unknown }): LeaseConfig {
  const r = parse(leaseSchema, given);
  return { ...(r.memberId !== undefined ? { memberId: r.memberId } : {}), leaseTtlMs: r.leaseTtlMs, heartbeatMs: r.heartbeatMs ?? Math.max(50, Math.floor(r.leaseTtlMs / RUNTIME_DEFAULTS.heartbeatsPerLease)) };
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const got = 'input' in issue && issue.input !== undefined ? `, got ${JSON.stringify(issue.input)}` : '';
  throw new ConfigError(`invalid runtime option: ${issue.message}${got}`);
}
