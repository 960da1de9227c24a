/**
 * A function's `config` (its manifest), validated once on the host when it is built or deployed.
 * zod stays here at the edge: the rest of the runtime gets a plain {@link Manifest} with every
 * default applied, and a user gets a {@link ManifestError} naming each bad field and the fix.
 */
import { z } from 'zod';
import { ManifestError, type ManifestIssue } from '../errors.ts';
import { closestName } from '../policy/closest-name.ts';
import { eventPatternProblem, eventPatternsProblem } from '../policy/event-matcher.ts';
import { parseAllowEntry } from '../policy/network-policy.ts';
import type { GroupMode, GroupSpec, Manifest } from '../types.ts';
import { NAME_RE, NAME_RULE } from '../policy/function-name.ts';

/** Every manifest default, in one place. */
export const MANIFEST_DEFAULTS = Object.freeze({
  /** @defaultValue `null`: the function has its own cursor (consumer group) per partition. */
  group: null,
  /** Mode of a group given by name only. @defaultValue `'sequential'` */
  groupMode: 'sequential' as GroupMode,
  /** Position in a sequential group when none is given. @defaultValue `0` */
  groupOrder: 0,
  /** @defaultValue 3 attempts in all, exponential backoff from 200 ms up to 30 s */
  retry: Object.freeze({ attempts: 3, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 } as const),
  /** After the last attempt the event goes to the function's DLQ. @defaultValue `true` */
  deadLetter: true,
  /** Per invocation. @defaultValue `5000` */
  timeoutMs: 5_000,
  /** Per isolate. @defaultValue `64` */
  memoryMb: 64,
  /** @defaultValue `null`: events never expire */
  maxEventAgeMs: null,
  /** @defaultValue `[]`: the handler sees no host environment values */
  env: Object.freeze([] as string[]),
  /** Where a new function's cursor starts. @defaultValue `'latest'` */
  startFrom: 'latest' as 'latest' | 'earliest',
  /** One key's events one at a time, in order; other keys at once. @defaultValue `'key'` */
  ordering: 'key' as 'key' | 'partition',
  /**
   * Invocations (chains of one key's events) in flight at once per process. 100 lets an
   * I/O-bound handler overlap its awaits across keys as BullMQ does at concurrency 100-200, while
   * bounding the memory of what is in flight (README "Concurrency"). @defaultValue `100`
   */
  concurrency: 100,
  /** Isolates running the function side by side, each on its own thread. @defaultValue `1` */
  instances: 1,
  /** Emit generations after which an event is dead-lettered with reason `loop` (AWS Lambda stops recursive loops at 16 too). @defaultValue `16` */
  maxHops: 16,
  /** Per-key state: `ttlMs` lets a key's state expire that long after its last write. @defaultValue `{ ttlMs: null }` */
  state: Object.freeze({ ttlMs: null as number | null }),
  /**
   * Outbound fetch. @defaultValue no network (`allow: []`); when allowed: response bodies up to
   * 10 MiB, request bodies up to 10 MiB, 5 redirects, 16 requests in flight per function instance
   */
  network: Object.freeze({
    allow: Object.freeze([] as string[]),
    maxResponseBytes: 10 * 1024 * 1024,
    maxRequestBytes: 10 * 1024 * 1024,
    maxRedirects: 5,
    maxConcurrent: 16,
  }),
});

// Zod messages below hold only the "expected …" part; toIssue() adds what was got.
function intIn(min: number, max: number, unit = ''): z.ZodInt {
  const error = `${unit ? `a whole number of ${unit}` : 'an integer'} from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

const ENV_RE = /^[A-Z_][A-Z0-9_]*$/;

const eventPattern = z.string({ error: 'an event-type pattern such as "post.created" or "post.*"' }).check((ctx) => {
  const problem = eventPatternProblem(ctx.value);
  if (problem !== undefined) {
    ctx.issues.push({ code: 'custom', input: ctx.value, message: `invalid event-type pattern ${JSON.stringify(ctx.value)}: ${problem}` });
  }
});

const EVENTS_EXPECTED = 'a non-empty array of event-type patterns such as ["post.created", "post.*"]';
const MAX_AGE_EXPECTED = 'a positive whole number of milliseconds, or null for no limit';
const GROUP_EXPECTED = 'a group name such as "billing", or { name, mode?: "sequential" | "parallel", order?: number }';

const groupShape = {
  name: z.string({ error: `a group name (${NAME_RULE})` }).regex(NAME_RE, { error: `a group name (${NAME_RULE})` }),
  mode: z.enum(['sequential', 'parallel'], { error: '"sequential" or "parallel"' }).default(MANIFEST_DEFAULTS.groupMode),
  order: z.number({ error: 'a finite number (lower runs first)' }).refine(Number.isFinite, { error: 'a finite number (lower runs first)' })
    .default(MANIFEST_DEFAULTS.groupOrder),
};

const retryShape = {
  attempts: intIn(1, 100).default(MANIFEST_DEFAULTS.retry.attempts),
  backoff: z.enum(['exponential', 'fixed'], { error: '"exponential" or "fixed"' }).default(MANIFEST_DEFAULTS.retry.backoff),
  // An hour at most: while an event waits for its retry, its partition is blocked for this function.
  initialDelayMs: intIn(0, 3_600_000, 'milliseconds').default(MANIFEST_DEFAULTS.retry.initialDelayMs),
  maxDelayMs: intIn(0, 3_600_000, 'milliseconds').default(MANIFEST_DEFAULTS.retry.maxDelayMs),
};

const stateShape = {
  ttlMs: z.int({ error: 'a positive whole number of milliseconds, or null for no expiry' }).min(1_000, { error: 'at least 1000 milliseconds, or null for no expiry' })
    .nullish().transform((v) => v ?? MANIFEST_DEFAULTS.state.ttlMs),
};

const ALLOW_EXPECTED = 'a host such as "api.example.com", "*.example.org", "127.0.0.1:9000" or "[::1]:3000"';
const allowEntry = z.string({ error: ALLOW_EXPECTED }).check((ctx) => {
  const rule = parseAllowEntry(ctx.value);
  if (typeof rule === 'string') ctx.issues.push({ code: 'custom', input: ctx.value, message: `invalid entry ${JSON.stringify(ctx.value)}: ${rule}` });
});
const MAX_BODY_BYTES = 512 * 1024 * 1024;

const networkShape = {
  allow: z
    .array(allowEntry, { error: 'an array of hosts such as ["api.example.com", "*.example.org"]' })
    .default(() => [...MANIFEST_DEFAULTS.network.allow])
    .transform((a) => [...new Set(a)]),
  maxResponseBytes: intIn(0, MAX_BODY_BYTES, 'bytes').default(MANIFEST_DEFAULTS.network.maxResponseBytes),
  maxRequestBytes: intIn(0, MAX_BODY_BYTES, 'bytes').default(MANIFEST_DEFAULTS.network.maxRequestBytes),
  maxRedirects: intIn(0, 20).default(MANIFEST_DEFAULTS.network.maxRedirects),
  maxConcurrent: intIn(1, 256).default(MANIFEST_DEFAULTS.network.maxConcurrent),
};

const manifestShape = {
  events: z.array(eventPattern, { error: EVENTS_EXPECTED }).min(1, { error: EVENTS_EXPECTED }).transform((e) => [...new Set(e)]).check((ctx) => {
    const problem = eventPatternsProblem(ctx.value);
    if (problem !== undefined) ctx.issues.push({ code: 'custom', input: ctx.value, message: `too many event-type patterns: ${problem}` });
  }),
  group: z
    .preprocess((v) => (typeof v === 'string' ? { name: v } : v), z.strictObject(groupShape, { error: GROUP_EXPECTED }))
    .nullish()
    .transform((g): GroupSpec | null => g ?? MANIFEST_DEFAULTS.group),
  retry: z
    .strictObject(retryShape, { error: '{ attempts?, backoff?, initialDelayMs?, maxDelayMs? }' })
    .prefault({})
    .check((ctx) => {
      const { initialDelayMs, maxDelayMs } = ctx.value;
      if (initialDelayMs > maxDelayMs) {
        ctx.issues.push({
          code: 'custom', input: ctx.value, path: ['initialDelayMs'],
          message: `initialDelayMs (${initialDelayMs}) is above maxDelayMs (${maxDelayMs}); raise maxDelayMs or lower initialDelayMs`,
        });
      }
    }),
  deadLetter: z.boolean({ error: 'true or false' }).default(MANIFEST_DEFAULTS.deadLetter),
  timeoutMs: intIn(1, 300_000, 'milliseconds').default(MANIFEST_DEFAULTS.timeoutMs),
  memoryMb: intIn(8, 2048, 'megabytes').default(MANIFEST_DEFAULTS.memoryMb),
  maxEventAgeMs: z
    .int({ error: MAX_AGE_EXPECTED })
    .min(1, { error: MAX_AGE_EXPECTED })
    .nullish().transform((v) => v ?? MANIFEST_DEFAULTS.maxEventAgeMs),
  env: z
    .array(z.string({ error: 'an environment variable name' }).regex(ENV_RE, { error: 'an environment variable name such as "API_TOKEN" ([A-Z_][A-Z0-9_]*)' }), {
      error: 'an array of environment variable names such as ["API_TOKEN"]',
    })
    .default(() => [...MANIFEST_DEFAULTS.env])
    .transform((e) => [...new Set(e)]),
  startFrom: z.enum(['latest', 'earliest'], { error: '"latest" or "earliest"' }).default(MANIFEST_DEFAULTS.startFrom),
  ordering: z.enum(['key', 'partition'], { error: '"key" (each key in order, keys at once) or "partition" (one event at a time per partition)' }).default(MANIFEST_DEFAULTS.ordering),
  concurrency: intIn(1, 10_000).default(MANIFEST_DEFAULTS.concurrency),
  instances: intIn(1, 16).default(MANIFEST_DEFAULTS.instances),
  maxHops: intIn(1, 1_000).default(MANIFEST_DEFAULTS.maxHops),
  state: z
    .strictObject(stateShape, { error: '{ ttlMs?: number | null }' })
    .prefault({}),
  network: z
    .strictObject(networkShape, { error: '{ allow: ["api.example.com", …], maxResponseBytes?, maxRequestBytes?, maxRedirects?, maxConcurrent? }' })
    .prefault({}),
};

// Typed as ZodType<Manifest> so that the compiler checks the parse output against types.ts.
const manifestSchema: z.ZodType<Manifest> = z.strictObject(manifestShape, {
  error: 'an object such as { events: ["post.created"] } (export const config = { ... })',
});

/** Known keys of each object in the manifest, by dotted path, for "did you mean" hints. */
const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(manifestShape),
  retry: Object.keys(retryShape),
  group: Object.keys(groupShape),
  state: Object.keys(stateShape),
  network: Object.keys(networkShape),
};

/**
 * Validates a function's raw `config` export and applies the defaults.
 *
 * @param file - the function's source file, for the error message
 * @param raw - the `config` object as exported (without `handler` when it came from `defineFunction`)
 * @throws ManifestError listing every problem, each with its field path, what was got and what was expected
 */
export function parseManifest(file: string, raw: unknown): Manifest {
  const notJson = new Set<symbol>();
  const result = manifestSchema.safeParse(unmarkNotJson(raw, notJson), { reportInput: true });
  if (result.success) return result.data;
  throw new ManifestError(file, result.error.issues.flatMap((issue) => toIssues(issue, notJson)));
}

/**
 * Key of the marker the sandbox sends where `config` held a value JSON cannot carry (a function, a
 * symbol, a bigint, NaN or ±Infinity, a cycle): `{ "__fnrunNotJson": "a function" }`. The shim
 * (sandbox/isolate/shim-module.ts) writes it literally.
 */
export const NOT_JSON_KEY = '__fnrunNotJson';

/** Replaces markers with symbols (added to `notJson`): every field rejects one, and {@link describe} shows what it was. */
function unmarkNotJson(value: unknown, notJson: Set<symbol>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => unmarkNotJson(v, notJson));
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  const what = record[NOT_JSON_KEY];
  if (keys.length === 1 && typeof what === 'string') {
    const symbol = Symbol(what);
    notJson.add(symbol);
    return symbol;
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) Object.defineProperty(out, key, { value: unmarkNotJson(record[key], notJson), enumerable: true, writable: true, configurable: true });
  return out;
}

function toIssues(issue: z.core.$ZodIssue, notJson: ReadonlySet<symbol>): ManifestIssue[] {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = KNOWN_KEYS[path] ?? [];
    return issue.keys.map((key) => {
      const guess = closestName(key, known);
      const hint = guess ? `did you mean "${guess}"?` : `known fields: ${known.join(', ')}`;
      return { path: path ? `${path}.${key}` : key, message: `unknown field; ${hint}` };
    });
  }
  if (issue.code === 'custom') return [{ path, message: issue.message }];
  if (issue.input === undefined) return [{ path, message: `missing; expected ${issue.message}` }];
  return [{ path, message: `expected ${issue.message}, got ${describe(issue.input, notJson)}` }];
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/** A short rendering of a bad value: JSON when it is short, its kind otherwise. */
function describe(value: unknown, notJson: ReadonlySet<symbol>): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n (a bigint)`;
  if (typeof value === 'symbol') return notJson.has(value) ? value.description! : String(value);
  if (typeof value === 'number') return String(value);
  const json = JSON.stringify(value);
  if (json !== undefined && json.length <= 60) return json;
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  return typeof value === 'string' ? `a ${value.length}-character string` : 'an object';
}
