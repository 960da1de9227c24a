/**
 * The chaos engine: real `fnrun start` processes sharing the partitions of one namespace, a steady
 * producer, and a seeded fault injector; at the end, a drain and a check of fnrun's promises
 * (README "Semantics" and "Running in production") for every function:
 *
 * - nothing lost: every published event was handled and completed;
 * - per-key order: see {@link checkOrder} for the precise definition;
 * - duplicates only where a fault explains them: see {@link explainDuplicates};
 * - no dead letters (handlers never fail; see the fixture's `retry`).
 *
 * What "handled" means here. Handlers log `seen <key> <seq>` and emit a `chaos.done` event
 * `{ fn, seq }` with the same key. The logs travel through the process's stdout pipe, the emits are
 * written by the runtime atomically with the completion record (README: "ctx.emit publishes an
 * event when the invocation succeeds, atomically with its completion record"), into the partition
 * stream of the same key. So:
 *
 * - "completed" (the lost check and the committed-order check) is read from Redis: a committed
 *   `chaos.done` of that function for that (key, seq). It cannot be faked by a log line of a
 *   process that was then killed or fenced, and it cannot be missing because a SIGKILL ate a log
 *   line. (`fnrun start` logs with pino in synchronous mode to stdout, and the runtime writes a
 *   handler's log lines before it commits the batch, so a committed event's `seen` line is already
 *   in the kernel's pipe when the commit happens; a SIGKILL cannot lose it. The report still counts
 *   committed events without a `seen` line, as a check of that reasoning.)
 * - "handlings" (duplicates, first-seen order) come from the `seen` lines: every invocation whose
 *   result reached its host process, committed or not (a fenced process's work included). A
 *   handler's logs travel back with its result, so an invocation cut short by a SIGKILL (the host
 *   died while the sandbox ran it) leaves no line: the duplicate counts are a lower bound of the
 *   handler executions. A killed process yields a visible duplicate only when the kill lands
 *   between the host logging a batch and committing it, which is rare; pauses and Redis faults
 *   show up more.
 *
 * Only the engine lives here; `chaos.test.ts` runs it under node:test. Knobs: {@link chaosOptionsFromEnv}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { DeadLetterQueue, Keys, Publisher } from '../../runtime/index.ts';
import { connectRedis } from '../../runtime/redis/redis.ts';
import { CLI, runCli } from '../helpers/cli.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { startRedisSentinel } from '../helpers/redis-sentinel.ts';

// ---------------------------------------------------------------------------------------------
// Options

export type TopologyKind = 'single' | 'sentinel';
export type FaultKind = 'kill' | 'stop' | 'redis-restart' | 'failover';

export interface ChaosOptions {
  /** Length of the chaos phase (traffic + faults); it runs on until `minFaults` were injected. */
  seconds: number;
  minFaults: number;
  seed: number;
  topology: TopologyKind;
  /** Fault kinds to draw from (default: all the topology supports). */
  faultKinds: FaultKind[] | null;
  /** Events per second the producer publishes. */
  rate: number;
  keys: number;
  processes: number;
  partitions: number;
  leaseTtlMs: number;
  /** How long the drain may take before the run fails with a diagnostic dump. */
  drainTimeoutMs: number;
  reportPath: string | null;
  /** Keep the temp dir (functions, redis data and logs) for inspection. */
  keep: boolean;
  /** Progress lines (default: stderr). */
  log: (line: string) => void;
}

const FAULT_KINDS: readonly FaultKind[] = ['kill', 'stop', 'redis-restart', 'failover'];

/**
 * Options from the environment:
 * - `FNRUN_CHAOS_SECONDS` (default 60): chaos phase length; `FNRUN_CHAOS_FAULTS` (default
 *   max(5, seconds / 30)): at least this many faults, the phase runs on until they were injected;
 * - `FNRUN_CHAOS_SEED` (default random; always printed), `FNRUN_CHAOS_TOPOLOGY` (`single` or
 *   `sentinel`; the default is the caller's, see chaos.test.ts),
 *   `FNRUN_CHAOS_FAULT_KINDS` (comma list, e.g. `kill,stop`), `FNRUN_CHAOS_RATE` (events/s, 300),
 *   `FNRUN_CHAOS_KEYS` (50), `FNRUN_CHAOS_LEASE_TTL` (ms, 2000), `FNRUN_CHAOS_REPORT` (write the
 *   report as JSON there), `FNRUN_CHAOS_KEEP=1` (keep the temp dir).
 */
export function chaosOptionsFromEnv(env: NodeJS.ProcessEnv = process.env, defaultTopology: TopologyKind = 'single'): ChaosOptions {
  const int = (name: string, fallback: number, min = 1): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const seconds = int('FNRUN_CHAOS_SECONDS', 60);
  const topology = (env.FNRUN_CHAOS_TOPOLOGY || defaultTopology) as TopologyKind;
  if (topology !== 'single' && topology !== 'sentinel') throw new Error(`FNRUN_CHAOS_TOPOLOGY must be single or sentinel, got ${JSON.stringify(topology)}`);
  let faultKinds: FaultKind[] | null = null;
  if (env.FNRUN_CHAOS_FAULT_KINDS) {
    faultKinds = env.FNRUN_CHAOS_FAULT_KINDS.split(',').map((s) => s.trim()) as FaultKind[];
    for (const k of faultKinds) if (!FAULT_KINDS.includes(k)) throw new Error(`FNRUN_CHAOS_FAULT_KINDS: unknown fault ${JSON.stringify(k)} (known: ${FAULT_KINDS.join(', ')})`);
  }
  return {
    seconds,
    minFaults: int('FNRUN_CHAOS_FAULTS', Math.max(5, Math.round(seconds / 30)), 0),
    seed: int('FNRUN_CHAOS_SEED', randomInt(1, 2 ** 31 - 1), 0),
    topology,
    faultKinds,
    rate: int('FNRUN_CHAOS_RATE', 300),
    keys: int('FNRUN_CHAOS_KEYS', 50),
    processes: 3,
    partitions: 16,
    leaseTtlMs: int('FNRUN_CHAOS_LEASE_TTL', 2000),
    drainTimeoutMs: 120_000,
    reportPath: env.FNRUN_CHAOS_REPORT || null,
    keep: env.FNRUN_CHAOS_KEEP === '1',
    log: (line) => process.stderr.write(`# chaos ${line}\n`),
  };
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness (mulberry32): the seed fixes every choice the harness makes (which fault,
// which process, how long to wait, which key) — not the timing of the system under test.

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Topologies

interface Topology {
  kind: TopologyKind;
  /** What `--redis` gets, and what the harness's own connections use. */
  url: string;
  /** Publishes must be acknowledged by a replica (WAIT) to survive a failover. */
  replicated: boolean;
  /** SIGKILL the (primary) redis-server and start it again on the same data; returns a description. */
  restartRedis(): Promise<string>;
  /** Sentinel failover of the primary to its replica; returns a description. */
  failover(): Promise<string>;
  stop(): Promise<void>;
}

async function singleTopology(): Promise<Topology> {
  // AOF with appendfsync always: a write is on disk before its reply, so a SIGKILL loses nothing acknowledged.
  const redis = await startRedis({ appendonly: true });
  return {
    kind: 'single',
    url: redis.url,
    replicated: false,
    async restartRedis() {
      await redis.kill(true);
      await redis.restart();
      return 'redis-server SIGKILL + restart (AOF, appendfsync always)';
    },
    failover: () => Promise.reject(new Error('a single redis-server has no failover')),
    stop: () => redis.stop(),
  };
}

async function sentinelTopology(): Promise<Topology> {
  // A primary and one replica (both AOF, appendfsync always) watched by three sentinels.
  const sentinel = await startRedisSentinel({ masterName: 'chaos' });
  return {
    kind: 'sentinel',
    url: sentinel.url,
    replicated: true,
    async restartRedis() {
      const port = await sentinel.primaryPort();
      await sentinel.restartPrimary();
      return `primary (port ${port}) SIGKILL + restart (AOF, appendfsync always)`;
    },
    async failover() {
      const { from, to } = await sentinel.failover();
      return `SENTINEL FAILOVER: primary ${from} → ${to}`;
    },
    stop: () => sentinel.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// The functions under test

const FUNCTIONS = ['chaos-solo', 'chaos-grouped'] as const;
const EVENT_TYPE = 'chaos.event';
const DONE_TYPE = 'chaos.done';

/** Each invocation waits this long: batches stay in flight long enough for kills and pauses to catch some. */
const HANDLER_MS = 2;

/**
 * `chaos-solo` has its own consumer group; `chaos-grouped` is a member of the group `chaos-g`, so
 * two consumer groups (one per code path: solo and group) run on every partition. Ten attempts:
 * the handlers never throw, but a crash counts as an attempt for every event of the batch in
 * flight (README "Retries"), and a long run may crash the same batch more than the default 3 times.
 */
function functionSource(name: string): string {
  const group = name === 'chaos-grouped' ? ", group: 'chaos-g'" : '';
  return `export const config = { events: ['${EVENT_TYPE}']${group}, retry: { attempts: 10, initialDelayMs: 100, maxDelayMs: 1000 } };
type Ctx = { log: { info(...a: unknown[]): void }; emit(type: string, key: string | null, data: unknown): Promise<void>; functionName: string };
export default async function handler(event: { key: string; data: { seq: number } }, ctx: Ctx) {
  ctx.log.info('seen', event.key, event.data.seq);
  await new Promise((resolve) => setTimeout(resolve, ${HANDLER_MS}));
  await ctx.emit('${DONE_TYPE}', event.key, { fn: ctx.functionName, seq: event.data.seq });
}
`;
}

// ---------------------------------------------------------------------------------------------
// fnrun start processes

/** One time a handler ran, from its `seen` log line. */
interface Handling {
  seq: number;
  /** Handler's clock when it logged (ms). */
  time: number;
  slot: number;
  /** Incarnation of the slot's process (0 first, +1 per restart). */
  inc: number;
  /** Line number in that process's stdout: orders handlings of one process exactly. */
  line: number;
  partition: number;
  eventId: string;
  attempt: number;
}

type HandlingSink = (fn: string, key: string, h: Handling) => void;

class StartProcess {
  readonly slot: number;
  readonly inc: number;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly startedAt = Date.now();
  member: string | null = null;
  paused = false;
  /** Warn/error lines (level ≥ 40) with the harness's arrival time, capped. */
  readonly problems: string[] = [];
  problemCount = 0;
  /** Warn/error messages (`msg`, numbers blanked) and how often each came. */
  readonly problemKinds = new Map<string, number>();
  /** The first line of each kind. */
  readonly problemExamples = new Map<string, string>();
  readonly tail: string[] = [];
  stderr = '';
  lineNo = 0;
  exit: { code: number | null; signal: string | null } | null = null;
  /** Set when the harness sent SIGKILL or SIGTERM: any other exit is a crash worth reporting. */
  exitExpected = false;
  readonly exited: Promise<void>;
  unparsable = 0;

  constructor(slot: number, inc: number, args: string[], sink: HandlingSink) {
    this.slot = slot;
    this.inc = inc;
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid!;
    let buffer = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const line of parts) this.onLine(line, sink);
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-20_000); });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => { this.exit = { code, signal }; resolve(); }));
  }

  get name(): string {
    return `proc ${this.slot}.${this.inc} (pid ${this.pid})`;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  private onLine(line: string, sink: HandlingSink) {
    const n = ++this.lineNo;
    this.tail.push(line);
    if (this.tail.length > 40) this.tail.shift();
    if (!line.startsWith('{')) return;
    if (line.includes('"msg":"seen ')) {
      let o: { function: string; partition: number; eventId: string; attempt: number; time: number; msg: string };
      try {
        o = JSON.parse(line) as typeof o;
      } catch {
        this.unparsable++;
        return;
      }
      const [, key, seq] = o.msg.split(' ');
      sink(o.function, key!, { seq: Number(seq), time: o.time, slot: this.slot, inc: this.inc, line: n, partition: o.partition, eventId: o.eventId, attempt: o.attempt });
      return;
    }
    if (this.member === null && line.includes('fnrun start: ready')) {
      this.member = (JSON.parse(line) as { member: string }).member;
    }
    if (/"level":(40|50|60)/.test(line)) {
      this.problemCount++;
      const msg = (/"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line.slice(0, 80)).replace(/\d+(-\d+)?/g, 'N').slice(0, 100);
      this.problemKinds.set(msg, (this.problemKinds.get(msg) ?? 0) + 1);
      if (!this.problemExamples.has(msg)) this.problemExamples.set(msg, line.slice(0, 1500));
      if (this.problems.length < 2000) this.problems.push(`${new Date().toISOString()} ${line.slice(0, 600)}`);
    }
  }

  signal(sig: NodeJS.Signals) {
    if (sig === 'SIGKILL' || sig === 'SIGTERM') this.exitExpected = true;
    if (this.alive) this.child.kill(sig);
  }
}

// ---------------------------------------------------------------------------------------------
// The producer

interface Published {
  seq: number;
  partition: number;
  id: string;
}

/**
 * Publishes `rate` events/s (on average, in small batches; it catches up after a stall) with a
 * per-key sequence number and a dedupe id per event. A failed batch is retried with the same
 * events (same dedupe ids, so a publish that did land is not appended twice) until it succeeds,
 * and the next batch waits for it: per key, seq n+1 is never published before seq n. An event
 * counts as published only once its publish resolved.
 *
 * Replicated topologies: a publish the primary acknowledged is lost by a failover unless the
 * replica has it, so the Publisher runs with `waitForReplicas: { replicas: 1 }` (WAIT after each
 * batch; NotReplicatedError on a shortfall → retry with the same dedupe ids). The Publisher closes
 * the two holes of a bare WAIT (a reconnect between the batch and the WAIT; a retry of dedupe hits
 * that writes nothing); the harness checks that: an attempt that resolved although the connection
 * dropped during it is recorded, and whether its events survived is a failure criterion.
 */
class Producer {
  readonly published = new Map<string, Published[]>();
  count = 0;
  batches = 0;
  attempts = 0;
  readonly failures = new Map<string, number>();
  dedupeHits = 0;
  /** Events of attempts whose WAIT succeeded although the connection dropped during the attempt. */
  readonly waitAcrossReconnect: { key: string; seq: number; id: string }[] = [];
  private readonly seqs = new Map<string, number>();
  private readonly redis: Redis;
  private readonly publisher: Publisher;
  private generation = 0;
  private stopping = false;
  private loop: Promise<void> | null = null;

  private constructor(redis: Redis, publisher: Publisher) {
    this.redis = redis;
    this.publisher = publisher;
    redis.on('close', () => { this.generation++; });
  }

  static async connect(url: string, namespace: string, partitions: number, replicated: boolean): Promise<Producer> {
    const redis = await connectRedis(url, 'chaos-producer');
    const publisher = await Publisher.connect({ redis, namespace, partitions, ...(replicated ? { waitForReplicas: { replicas: 1, timeoutMs: 1000 } } : {}) });
    return new Producer(redis, publisher);
  }

  start(rate: number, keys: number, random: () => number) {
    const began = Date.now();
    let created = 0;
    this.loop = (async () => {
      while (!this.stopping) {
        const due = Math.floor(((Date.now() - began) * rate) / 1000) - created;
        if (due <= 0) { await sleep(20); continue; }
        const batch = Array.from({ length: Math.min(due, 250) }, () => {
          const key = `k${Math.floor(random() * keys)}`;
          const seq = (this.seqs.get(key) ?? 0) + 1;
          this.seqs.set(key, seq);
          return { key, seq };
        });
        created += batch.length;
        await this.publishDurably(batch);
      }
    })();
  }

  async stop() {
    this.stopping = true;
    await this.loop;
    await this.publisher.close();
    this.redis.disconnect();
  }

  private async publishDurably(batch: { key: string; seq: number }[]) {
    const input = batch.map(({ key, seq }) => ({ type: EVENT_TYPE, key, data: { seq }, dedupeId: `${key}:${seq}` }));
    for (let attempt = 1; ; attempt++) {
      this.attempts++;
      const generation = this.generation;
      try {
        const results = await this.publisher.publishBatch(input);
        if (this.generation !== generation) {
          // The Publisher's WAIT said "replicated"; remember what it returned, to see at the end whether it lasted.
          results.forEach((r, i) => this.waitAcrossReconnect.push({ key: batch[i]!.key, seq: batch[i]!.seq, id: r.id }));
          throw new Error('reconnected during the publish');
        }
        results.forEach((r, i) => {
          const { key, seq } = batch[i]!;
          let list = this.published.get(key);
          if (list === undefined) this.published.set(key, (list = []));
          list.push({ seq, partition: r.partition, id: r.id });
          if (r.duplicate) this.dedupeHits++;
        });
        this.count += batch.length;
        this.batches++;
        return;
      } catch (error) {
        const reason = (error as Error).message.replace(/\d+/g, 'N').slice(0, 120);
        this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
        await sleep(Math.min(25 * attempt, 500));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

export interface FaultRecord {
  n: number;
  kind: FaultKind;
  /** The process slot, or `redis`. */
  target: string;
  detail: string;
  /** Harness clock (ms since the epoch): the fault began, and the system was observed recovered. */
  start: number;
  end: number;
  /** Seconds since the chaos phase began. */
  at: number;
  recoveredAfterMs: number;
  error?: string;
}

export interface DuplicateExample {
  key: string;
  seq: number;
  handlings: { proc: string; time: string; partition: number; eventId: string; attempt: number }[];
  explainedBy: number | null;
}

export interface FunctionReport {
  published: number;
  /** (key, seq) with a committed `chaos.done` of this function. */
  completed: number;
  /** `seen` lines. */
  handlings: number;
  lost: number;
  lostExamples: { key: string; seq: number; partition: number; id: string; handled: number; handlings: string[] }[];
  /** Extra handlings beyond the first, per (key, seq). */
  duplicates: number;
  duplicateEvents: number;
  explainedDuplicates: number;
  unexplainedDuplicates: number;
  duplicatesByFault: Record<string, number>;
  duplicatesByAttempt: Record<string, number>;
  unexplainedExamples: DuplicateExample[];
  explainedExamples: DuplicateExample[];
  orderViolations: number;
  orderExamples: string[];
  /** Completions whose `chaos.done` came out of stream order for the key, or twice. */
  committedOrderViolations: number;
  committedTwice: number;
  committedExamples: string[];
  /** Committed events without a `seen` line (see the module comment: expected 0). */
  completedWithoutLog: number;
  dlq: number;
  pendingAfterDrain: number;
}

export interface ChaosReport {
  ok: boolean;
  failures: string[];
  warnings: string[];
  seed: number;
  topology: TopologyKind;
  options: { seconds: number; minFaults: number; rate: number; keys: number; processes: number; partitions: number; leaseTtlMs: number; faultKinds: FaultKind[] };
  startedAt: string;
  chaosMs: number;
  drainMs: number;
  totalMs: number;
  faults: FaultRecord[];
  producer: {
    published: number; batches: number; attempts: number; failedAttempts: Record<string, number>; dedupeHits: number; publishOrderViolations: number;
    /** Events whose publish the Publisher's WAIT confirmed across a reconnect (the harness retried them). */
    waitAcrossReconnect: number;
    /** Of those, events whose confirmed entry was gone (the retry appended it again): lost, had the harness trusted that WAIT. */
    waitAcrossReconnectLost: number;
  };
  functions: Record<string, FunctionReport>;
  processes: { name: string; startedAt: string; exit: string; problemLines: number; problems: Record<string, number>; problemExamples: Record<string, string>; member: string | null }[];
  diagnostics: string[];
}

// ---------------------------------------------------------------------------------------------
// The run

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const runStarted = Date.now();
  const log = (line: string) => opts.log(`t+${((Date.now() - runStarted) / 1000).toFixed(1)}s ${line}`);
  const random = prng(opts.seed);
  const trafficRandom = prng(opts.seed ^ 0x5eed);
  log(`seed ${opts.seed} (FNRUN_CHAOS_SEED=${opts.seed} repeats the harness's choices), topology ${opts.topology}, ${opts.seconds}s, ≥ ${opts.minFaults} faults, ${opts.rate} events/s over ${opts.keys} keys, lease TTL ${opts.leaseTtlMs} ms`);

  const available: FaultKind[] = ['kill', 'stop', 'redis-restart', ...(opts.topology === 'sentinel' ? ['failover' as const] : [])];
  const kinds = opts.faultKinds ?? available;
  for (const k of kinds) if (!available.includes(k)) throw new Error(`fault ${k} is not available on topology ${opts.topology}`);
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-chaos-'));
  const functionsDir = join(dir, 'functions');
  mkdirSync(functionsDir);
  for (const fn of FUNCTIONS) writeFileSync(join(functionsDir, `${fn}.ts`), functionSource(fn));
  const namespace = 'chaos';
  const keys = new Keys(namespace);
  const failures: string[] = [];
  const warnings: string[] = [];
  const diagnostics: string[] = [];
  const faults: FaultRecord[] = [];
  const handlings = new Map<string, Map<string, Handling[]>>(FUNCTIONS.map((fn) => [fn, new Map()]));
  const sink: HandlingSink = (fn, key, h) => {
    const byKey = handlings.get(fn);
    if (byKey === undefined) return;
    let list = byKey.get(key);
    if (list === undefined) byKey.set(key, (list = []));
    list.push(h);
  };

  let topology: Topology;
  try {
    topology = opts.topology === 'sentinel' ? await sentinelTopology() : await singleTopology();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const common = ['--redis', topology.url, '--namespace', namespace];
  const slots: StartProcess[] = [];
  const history: StartProcess[] = [];
  let admin: Redis | null = null;
  let producer: Producer | null = null;
  let chaosStarted = 0;
  let chaosMs = 0;
  let drainMs = 0;

  const startProcess = (slot: number) => {
    const inc = history.filter((p) => p.slot === slot).length;
    const proc = new StartProcess(slot, inc, ['start', ...common, '--lease-ttl', String(opts.leaseTtlMs)], sink);
    slots[slot] = proc;
    history.push(proc);
    return proc;
  };
  const awaitReady = async (proc: StartProcess) => {
    const deadline = Date.now() + 60_000;
    while (proc.member === null) {
      if (!proc.alive) throw new Error(`${proc.name} exited (${JSON.stringify(proc.exit)}) before it was ready: ${proc.stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${proc.name} not ready after 60 s:\n${proc.tail.join('\n')}\n${proc.stderr.slice(-2000)}`);
      await sleep(50);
    }
  };

  /** Lease tokens of every partition (null: unowned), or null when Redis does not answer. */
  const leases = async (): Promise<(string | null)[] | null> => {
    try {
      return await admin!.mget(...Array.from({ length: opts.partitions }, (_, p) => keys.partition(p).lease));
    } catch {
      return null;
    }
  };
  const pidOf = (token: string): number => {
    const member = token.split('|')[0]!;
    const parts = member.split(':');
    return Number(parts[parts.length - 2]);
  };
  /** Every partition leased to a running, unpaused process, all processes with a share, none above ceil(P/N). */
  const balanced = (tokens: (string | null)[]): boolean => {
    const live = new Set(slots.filter((p) => p.alive && !p.paused).map((p) => p.pid));
    if (live.size !== opts.processes) return false;
    const counts = new Map<number, number>();
    for (const t of tokens) {
      if (t === null) return false;
      const pid = pidOf(t);
      if (!live.has(pid)) return false;
      counts.set(pid, (counts.get(pid) ?? 0) + 1);
    }
    return counts.size === opts.processes && [...counts.values()].every((c) => c <= Math.ceil(opts.partitions / opts.processes));
  };
  /**
   * Recovered: balanced, and no lease changed hands (same member and epoch) over one lease TTL.
   * An owner that could not renew during the fault gives its partitions up within 80% of a TTL
   * (README), so a TTL without a change means the fault's after-effects on ownership are over.
   * Returns the time the stable interval ended: the fault's window ends there.
   */
  const awaitRecovered = async (what: string): Promise<number> => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const dead = slots.find((p) => !p.alive);
      if (dead) throw new Error(`${dead.name} exited (${JSON.stringify(dead.exit)}) while waiting for recovery after ${what}: ${dead.stderr.slice(-1500)}`);
      const a = await leases();
      if (a !== null && balanced(a)) {
        await sleep(opts.leaseTtlMs);
        const b = await leases();
        if (b !== null && balanced(b) && a.every((t, i) => t === b[i])) return Date.now();
      } else {
        await sleep(100);
      }
      if (Date.now() > deadline) {
        const now = await leases();
        throw new Error(`not recovered 90 s after ${what}: leases ${JSON.stringify(now)}; processes ${slots.map((p) => `${p.name} alive=${p.alive} paused=${p.paused}`).join(', ')}`);
      }
    }
  };

  const injectFault = async (n: number, kind: FaultKind): Promise<FaultRecord> => {
    const start = Date.now();
    const record: FaultRecord = { n, kind, target: 'redis', detail: '', start, end: Infinity, at: (start - chaosStarted) / 1000, recoveredAfterMs: NaN };
    faults.push(record);
    try {
      if (kind === 'kill') {
        const slot = Math.floor(random() * opts.processes);
        const victim = slots[slot]!;
        record.target = `proc ${slot}`;
        victim.signal('SIGKILL');
        await victim.exited;
        // Sometimes back before its leases expire, sometimes after.
        const delay = Math.round(random() * 1.5 * opts.leaseTtlMs);
        await sleep(delay);
        const next = startProcess(slot);
        await awaitReady(next);
        record.detail = `SIGKILL ${victim.name}, restarted ${delay} ms later as ${next.name}`;
      } else if (kind === 'stop') {
        const slot = Math.floor(random() * opts.processes);
        const victim = slots[slot]!;
        record.target = `proc ${slot}`;
        victim.signal('SIGSTOP');
        victim.paused = true;
        // Paused past its lease TTL: until the others took every partition it held, then a bit more.
        const deadline = Date.now() + opts.leaseTtlMs * 5 + 10_000;
        for (;;) {
          const tokens = await leases();
          if (tokens !== null && tokens.every((t) => t !== null && pidOf(t) !== victim.pid)) break;
          if (Date.now() > deadline) { warnings.push(`fault ${n}: the partitions of paused ${victim.name} were not all taken over within ${opts.leaseTtlMs * 5 + 10_000} ms`); break; }
          await sleep(100);
        }
        const extra = Math.round(random() * opts.leaseTtlMs * 0.5);
        await sleep(extra);
        victim.signal('SIGCONT');
        victim.paused = false;
        record.detail = `SIGSTOP ${victim.name} for ${Date.now() - start} ms (lease TTL ${opts.leaseTtlMs}), then SIGCONT`;
      } else if (kind === 'redis-restart') {
        record.detail = await topology.restartRedis();
      } else {
        record.detail = await topology.failover();
      }
      log(`fault ${n}: ${kind} ${record.target}: ${record.detail}`);
      record.end = await awaitRecovered(`fault ${n} (${kind})`);
      record.recoveredAfterMs = record.end - start;
      log(`fault ${n}: recovered ${record.recoveredAfterMs} ms after it began`);
    } catch (error) {
      record.error = (error as Error).message;
      throw error;
    }
    return record;
  };

  try {
    // Setup: deploy, N processes, balanced.
    admin = await connectRedis(topology.url, 'chaos-admin');
    const deployed = await runCli(['deploy', '--dir', functionsDir, ...common, '--partitions', String(opts.partitions), '--json']);
    if (deployed.code !== 0) throw new Error(`fnrun deploy failed (${deployed.code}): ${deployed.stdout}${deployed.stderr}`);
    for (let slot = 0; slot < opts.processes; slot++) startProcess(slot);
    for (const p of slots) await awaitReady(p);
    await awaitRecovered('start');
    log(`${opts.processes} processes ready and balanced; traffic starts`);

    // Chaos phase.
    producer = await Producer.connect(topology.url, namespace, opts.partitions, topology.replicated);
    chaosStarted = Date.now();
    producer.start(opts.rate, opts.keys, trafficRandom);
    const phaseMs = opts.seconds * 1000;
    // Gaps leave fault-free stretches (where any duplicate is unexplained) and fit about minFaults
    // faults into the phase; a fault with its recovery takes a few lease TTLs.
    const meanGap = Math.max(1500, phaseMs / Math.max(1, opts.minFaults) - 3.5 * opts.leaseTtlMs);
    let bag: FaultKind[] = [];
    let n = 0;
    try {
      for (;;) {
        const elapsed = Date.now() - chaosStarted;
        if (elapsed >= phaseMs && n >= opts.minFaults) break;
        const gap = elapsed >= phaseMs ? 1000 : Math.round(meanGap * (0.3 + 1.4 * random()));
        await sleep(Math.min(gap, Math.max(0, phaseMs - elapsed) + (n < opts.minFaults ? gap : 0)));
        if (Date.now() - chaosStarted >= phaseMs && n >= opts.minFaults) break;
        // Every kind once per round, in a shuffled order.
        if (bag.length === 0) bag = shuffle([...kinds], random);
        await injectFault(++n, bag.pop()!);
      }
    } catch (error) {
      failures.push(`fault injection: ${(error as Error).message}`);
    }
    await producer.stop();
    chaosMs = Date.now() - chaosStarted;
    log(`chaos phase over after ${(chaosMs / 1000).toFixed(1)} s: ${faults.length} faults, ${producer.count} events published; draining`);

    // Drain: every published event completed by every function.
    const drainStarted = Date.now();
    const completions = new CompletionReader(admin, keys, opts.partitions);
    const missing = () => {
      let total = 0;
      for (const fn of FUNCTIONS) total += missingOf(producer!.published, completions.of(fn)).length;
      return total;
    };
    let left = Infinity;
    for (;;) {
      try {
        await completions.poll();
        left = missing();
      } catch (error) {
        warnings.push(`drain: reading completions failed once: ${(error as Error).message}`);
      }
      if (left === 0 || Date.now() - drainStarted > opts.drainTimeoutMs) break;
      await sleep(500);
    }
    drainMs = Date.now() - drainStarted;
    if (left > 0) {
      failures.push(`drain: ${left} (function, event) completions still missing ${Math.round(drainMs / 1000)} s after the producer stopped`);
      diagnostics.push(await drainDiagnostics(admin, keys, opts.partitions, producer.published, completions));
    } else {
      log(`drained in ${(drainMs / 1000).toFixed(1)} s`);
    }
    // The `seen` lines of committed events were in the pipes before their commits; let the harness read them.
    const logDeadline = Date.now() + 5000;
    while (Date.now() < logDeadline && FUNCTIONS.some((fn) => completedWithoutLog(completions.of(fn), handlings.get(fn)!) > 0)) await sleep(100);

    // Checks.
    const functions: Record<string, FunctionReport> = {};
    for (const fn of FUNCTIONS) {
      const r = checkFunction(fn, producer.published, completions.of(fn), handlings.get(fn)!, faults);
      r.dlq = await new DeadLetterQueue(admin, keys, opts.partitions).count(fn);
      r.pendingAfterDrain = await pendingOf(admin, keys, opts.partitions, fn === 'chaos-grouped' ? 'group:chaos-g' : `fn:${fn}`);
      functions[fn] = r;
      if (r.lost > 0) failures.push(`${fn}: ${r.lost} events lost (never completed), e.g. ${JSON.stringify(r.lostExamples.slice(0, 3))}`);
      if (r.orderViolations > 0) failures.push(`${fn}: ${r.orderViolations} per-key order violations (first handling), e.g. ${r.orderExamples.slice(0, 3).join('; ')}`);
      if (r.committedOrderViolations > 0 || r.committedTwice > 0) failures.push(`${fn}: completions out of order ${r.committedOrderViolations}, completed twice ${r.committedTwice}, e.g. ${r.committedExamples.slice(0, 3).join('; ')}`);
      if (r.unexplainedDuplicates > 0) failures.push(`${fn}: ${r.unexplainedDuplicates} duplicate handlings outside every fault window, e.g. ${JSON.stringify(r.unexplainedExamples.slice(0, 2))}`);
      if (r.dlq > 0) failures.push(`${fn}: ${r.dlq} dead letters`);
      if (r.completedWithoutLog > 0) warnings.push(`${fn}: ${r.completedWithoutLog} completed events have no "seen" line (a log line lost?)`);
      if (r.pendingAfterDrain > 0) warnings.push(`${fn}: ${r.pendingAfterDrain} entries still pending after the drain`);
    }
    const publishOrderViolations = checkPublishOrder(producer.published);
    const waitCheck = checkWaitAcrossReconnect(producer);
    // The harness retried these, so nothing is lost here; but a producer trusting Publisher.waitForReplicas would have lost them.
    if (waitCheck.waitAcrossReconnectLost > 0) failures.push(`producer: Publisher.waitForReplicas confirmed ${waitCheck.waitAcrossReconnectLost} events a failover then dropped (the WAIT ran on a new connection after a reconnect; the harness noticed the reconnect and published them again)`);
    if (publishOrderViolations > 0) failures.push(`producer: ${publishOrderViolations} events were appended out of per-key seq order (a harness bug or a lost acknowledged publish)`);
    if (faults.length < opts.minFaults) failures.push(`only ${faults.length} of ${opts.minFaults} faults were injected`);
    const extraCompletions = FUNCTIONS.reduce((s, fn) => s + phantomCount(producer!.published, completions.of(fn)), 0);
    if (extraCompletions > 0) warnings.push(`${extraCompletions} completions of (key, seq) the producer never counted as published`);

    for (const p of history) {
      if (p.exit !== null && !p.exitExpected) failures.push(`${p.name} exited by itself (${JSON.stringify(p.exit)}); stderr: ${p.stderr.slice(-1000)}`);
      if (p.unparsable > 0) warnings.push(`${p.name}: ${p.unparsable} "seen" lines were not valid JSON`);
    }
    // Graceful stop: README says SIGTERM exits 0.
    for (const p of slots) if (p.paused) { p.signal('SIGCONT'); p.paused = false; }
    await Promise.all(slots.map(async (p) => {
      p.signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([p.exited, new Promise((r) => { timer = setTimeout(r, 40_000); })]);
      clearTimeout(timer);
    }));
    for (const p of slots) if (p.exit?.code !== 0) warnings.push(`${p.name}: SIGTERM ended it with ${JSON.stringify(p.exit)}, expected exit code 0`);

    const report: ChaosReport = {
      ok: failures.length === 0,
      failures,
      warnings,
      seed: opts.seed,
      topology: topology.kind,
      options: { seconds: opts.seconds, minFaults: opts.minFaults, rate: opts.rate, keys: opts.keys, processes: opts.processes, partitions: opts.partitions, leaseTtlMs: opts.leaseTtlMs, faultKinds: kinds },
      startedAt: new Date(runStarted).toISOString(),
      chaosMs,
      drainMs,
      totalMs: Date.now() - runStarted,
      faults,
      producer: { published: producer.count, batches: producer.batches, attempts: producer.attempts, failedAttempts: Object.fromEntries(producer.failures), dedupeHits: producer.dedupeHits, publishOrderViolations, ...waitCheck },
      functions,
      processes: history.map((p) => ({ name: p.name, startedAt: new Date(p.startedAt).toISOString(), exit: p.exit === null ? 'running' : p.exit.signal ?? `code ${p.exit.code}`, problemLines: p.problemCount, problems: Object.fromEntries(p.problemKinds), problemExamples: Object.fromEntries(p.problemExamples), member: p.member })),
      diagnostics,
    };
    if (!report.ok) report.diagnostics.push(processDiagnostics(history));
    return report;
  } finally {
    for (const p of history) if (p.alive) { p.signal('SIGCONT'); p.signal('SIGKILL'); }
    await Promise.all(history.map((p) => p.exited));
    if (producer) await producer.stop().catch(() => {});
    admin?.disconnect();
    await topology.stop();
    if (opts.keep) opts.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

// ---------------------------------------------------------------------------------------------
// Reading completions (committed `chaos.done` emits) from the partition streams

/** Per function and key, the seqs of its `chaos.done` entries in stream order. */
class CompletionReader {
  private readonly redis: Redis;
  private readonly keys: Keys;
  private readonly partitions: number;
  private readonly after: string[];
  private readonly byFn = new Map<string, Map<string, number[]>>();

  constructor(redis: Redis, keys: Keys, partitions: number) {
    this.redis = redis;
    this.keys = keys;
    this.partitions = partitions;
    this.after = Array.from({ length: partitions }, () => '-');
  }

  of(fn: string): Map<string, number[]> {
    let m = this.byFn.get(fn);
    if (m === undefined) this.byFn.set(fn, (m = new Map()));
    return m;
  }

  /** Reads what was appended since the last poll. Only called once the faults are over, so nothing read can vanish (a failover drops unreplicated writes). */
  async poll() {
    for (let p = 0; p < this.partitions; p++) {
      for (;;) {
        const start = this.after[p] === '-' ? '-' : `(${this.after[p]}`;
        const entries = (await this.redis.xrange(this.keys.partition(p).events, start, '+', 'COUNT', 5000)) as [string, string[]][];
        for (const [id, fields] of entries) {
          this.after[p] = id;
          let type = '';
          let key = '';
          let data = '';
          for (let i = 0; i < fields.length; i += 2) {
            if (fields[i] === 'type') type = fields[i + 1]!;
            else if (fields[i] === 'key') key = fields[i + 1]!;
            else if (fields[i] === 'data') data = fields[i + 1]!;
          }
          if (type !== DONE_TYPE) continue;
          const { fn, seq } = JSON.parse(data) as { fn: string; seq: number };
          const m = this.of(fn);
          let list = m.get(key);
          if (list === undefined) m.set(key, (list = []));
          list.push(seq);
        }
        if (entries.length < 5000) break;
      }
    }
  }
}

function missingOf(published: Map<string, Published[]>, completed: Map<string, number[]>): { key: string; p: Published }[] {
  const out: { key: string; p: Published }[] = [];
  for (const [key, list] of published) {
    const done = new Set(completed.get(key) ?? []);
    for (const p of list) if (!done.has(p.seq)) out.push({ key, p });
  }
  return out;
}

/** Completions (key → seqs) whose seq has no entry of the same key in `known`. */
function countUnknown(completed: Map<string, number[]>, known: Map<string, readonly { seq: number }[]>): number {
  let n = 0;
  for (const [key, seqs] of completed) {
    const seqsOfKey = new Set((known.get(key) ?? []).map((k) => k.seq));
    for (const s of seqs) if (!seqsOfKey.has(s)) n++;
  }
  return n;
}

/** Completions of events nobody published. */
const phantomCount = (published: Map<string, Published[]>, completed: Map<string, number[]>): number => countUnknown(completed, published);
/** Completions without a "seen" log line. */
const completedWithoutLog = (completed: Map<string, number[]>, seen: Map<string, Handling[]>): number => countUnknown(completed, seen);

/** Per key, the producer's sequence numbers must be appended in increasing stream-id order. */
function checkPublishOrder(published: Map<string, Published[]>): number {
  let violations = 0;
  for (const list of published.values()) {
    for (let i = 1; i < list.length; i++) if (compareIds(list[i - 1]!.id, list[i]!.id) >= 0) violations++;
  }
  return violations;
}

/** For the events of {@link Producer.waitAcrossReconnect}: did the confirmed entry last (the final publish returned the same id)? */
function checkWaitAcrossReconnect(producer: Producer): { waitAcrossReconnect: number; waitAcrossReconnectLost: number } {
  let lost = 0;
  for (const w of producer.waitAcrossReconnect) {
    const final = producer.published.get(w.key)?.find((p) => p.seq === w.seq);
    if (final !== undefined && final.id !== w.id) lost++;
  }
  return { waitAcrossReconnect: producer.waitAcrossReconnect.length, waitAcrossReconnectLost: lost };
}

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}

async function pendingOf(redis: Redis, keys: Keys, partitions: number, group: string): Promise<number> {
  let total = 0;
  for (let p = 0; p < partitions; p++) {
    const summary = (await redis.xpending(keys.partition(p).events, group)) as [number, ...unknown[]];
    total += Number(summary[0]);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Checks

const procName = (h: Handling) => `proc ${h.slot}.${h.inc}`;

/**
 * `a` happened strictly before `b`: an earlier handler timestamp, or the same millisecond in the
 * same process and an earlier stdout line. Two handlings in the same millisecond in different
 * processes are not ordered (the harness cannot know which came first).
 */
function before(a: Handling, b: Handling): boolean {
  return a.time < b.time || (a.time === b.time && a.slot === b.slot && a.inc === b.inc && a.line < b.line);
}

/**
 * Per-key order, precisely. For one function and one key, let first(s) be the earliest handling
 * of seq s (by {@link before}; among unordered ties, any). The order holds when there are no
 * s < s' with first(s') strictly before first(s): each event is handled for the first time only
 * after every earlier event of its key was handled at least once. A later handling of s — a
 * redelivery after s' was handled, e.g. by a new owner re-running the batch a killed or fenced
 * process had in flight — is a duplicate (see {@link explainDuplicates}), not an order violation.
 *
 * Each violation counted is an s whose first handling is strictly before the latest first
 * handling of the seqs below it.
 */
function checkOrder(byKey: Map<string, Handling[]>): { violations: number; examples: string[] } {
  let violations = 0;
  const examples: string[] = [];
  for (const [key, list] of byKey) {
    const first = new Map<number, Handling>();
    for (const h of list) {
      const f = first.get(h.seq);
      if (f === undefined || before(h, f)) first.set(h.seq, h);
    }
    const seqs = [...first.keys()].sort((a, b) => a - b);
    let latest: Handling | null = null;
    for (const s of seqs) {
      const h = first.get(s)!;
      if (latest !== null && before(h, latest)) {
        violations++;
        if (examples.length < 10) examples.push(`${key}: seq ${s} first handled by ${procName(h)} at ${iso(h.time)}, before seq ${latest.seq} (by ${procName(latest)} at ${iso(latest.time)})`);
      }
      if (latest === null || before(latest, h)) latest = h;
    }
  }
  return { violations, examples };
}

/**
 * A duplicate is every handling of a (key, seq) after its first. Each is explained when a fault
 * window straddles it and the handling before it: some fault f with
 *     previous.time ≤ f.end  and  this.time ≥ f.start,
 * where f runs from the moment the harness began it (SIGKILL, SIGSTOP, redis-server SIGKILL,
 * failover request) to the moment it observed the system recovered (every partition leased to a
 * live process, balanced, and no lease moving for a whole TTL). That covers the redeliveries
 * fnrun documents: a killed process's in-flight batch run again by the new owner, a paused
 * process finishing its batch after SIGCONT while the new owner also ran it (its commit is
 * fenced), an in-flight commit lost to a Redis restart or failover and redone. Two handlings
 * both before or both after every fault window (steady state, and graceful handovers, which
 * README says never run an event twice) are unexplained.
 */
function explainDuplicates(byKey: Map<string, Handling[]>, faults: FaultRecord[]) {
  let duplicates = 0;
  let events = 0;
  let explained = 0;
  const byFault: Record<string, number> = {};
  const byAttempt: Record<string, number> = {};
  const unexplainedExamples: DuplicateExample[] = [];
  const explainedExamples: DuplicateExample[] = [];
  for (const [key, list] of byKey) {
    const bySeq = new Map<number, Handling[]>();
    for (const h of list) {
      let l = bySeq.get(h.seq);
      if (l === undefined) bySeq.set(h.seq, (l = []));
      l.push(h);
    }
    for (const [seq, hs] of bySeq) {
      if (hs.length < 2) continue;
      events++;
      hs.sort((a, b) => a.time - b.time || (a.slot === b.slot && a.inc === b.inc ? a.line - b.line : 0));
      const example: DuplicateExample = {
        key, seq, explainedBy: null,
        handlings: hs.map((h) => ({ proc: procName(h), time: iso(h.time), partition: h.partition, eventId: h.eventId, attempt: h.attempt })),
      };
      let allExplained = true;
      for (let i = 1; i < hs.length; i++) {
        duplicates++;
        const prev = hs[i - 1]!;
        const cur = hs[i]!;
        byAttempt[String(cur.attempt)] = (byAttempt[String(cur.attempt)] ?? 0) + 1;
        const f = faults.find((f) => prev.time <= f.end && cur.time >= f.start);
        if (f) {
          explained++;
          byFault[`${f.n} ${f.kind}`] = (byFault[`${f.n} ${f.kind}`] ?? 0) + 1;
          example.explainedBy ??= f.n;
        } else {
          allExplained = false;
        }
      }
      if (!allExplained && unexplainedExamples.length < 20) unexplainedExamples.push(example);
      if (allExplained && explainedExamples.length < 5) explainedExamples.push(example);
    }
  }
  return { duplicates, events, explained, byFault, byAttempt, unexplainedExamples, explainedExamples };
}

function checkFunction(fn: string, published: Map<string, Published[]>, completed: Map<string, number[]>, seen: Map<string, Handling[]>, faults: FaultRecord[]): FunctionReport {
  const missing = missingOf(published, completed);
  // Completions: per key in stream order, each seq once and increasing.
  let committedOrderViolations = 0;
  let committedTwice = 0;
  const committedExamples: string[] = [];
  let completedCount = 0;
  for (const [key, seqs] of completed) {
    const once = new Set<number>();
    let max = 0;
    for (const s of seqs) {
      if (once.has(s)) {
        committedTwice++;
        if (committedExamples.length < 10) committedExamples.push(`${key} seq ${s} completed twice`);
        continue;
      }
      once.add(s);
      completedCount++;
      if (s < max) {
        committedOrderViolations++;
        if (committedExamples.length < 10) committedExamples.push(`${key} seq ${s} completed after seq ${max}`);
      }
      max = Math.max(max, s);
    }
  }
  const order = checkOrder(seen);
  const dups = explainDuplicates(seen, faults);
  let publishedCount = 0;
  for (const l of published.values()) publishedCount += l.length;
  let handlingCount = 0;
  for (const l of seen.values()) handlingCount += l.length;
  return {
    published: publishedCount,
    completed: completedCount,
    handlings: handlingCount,
    lost: missing.length,
    lostExamples: missing.slice(0, 10).map(({ key, p }) => {
      const hs = (seen.get(key) ?? []).filter((h) => h.seq === p.seq);
      return { key, seq: p.seq, partition: p.partition, id: p.id, handled: hs.length, handlings: hs.map((h) => `${procName(h)} at ${iso(h.time)} p${h.partition}/${h.eventId} attempt ${h.attempt}`) };
    }),
    duplicates: dups.duplicates,
    duplicateEvents: dups.events,
    explainedDuplicates: dups.explained,
    unexplainedDuplicates: dups.duplicates - dups.explained,
    duplicatesByFault: dups.byFault,
    duplicatesByAttempt: dups.byAttempt,
    unexplainedExamples: dups.unexplainedExamples,
    explainedExamples: dups.explainedExamples,
    orderViolations: order.violations,
    orderExamples: order.examples,
    committedOrderViolations,
    committedTwice,
    committedExamples,
    completedWithoutLog: completedWithoutLog(completed, seen),
    dlq: 0,
    pendingAfterDrain: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Diagnostics

const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);

async function drainDiagnostics(redis: Redis, keys: Keys, partitions: number, published: Map<string, Published[]>, completions: CompletionReader): Promise<string> {
  const out: string[] = ['--- drain timed out: what is missing'];
  try {
    const partitionsMissing = new Set<number>();
    for (const fn of FUNCTIONS) {
      const missing = missingOf(published, completions.of(fn));
      out.push(`${fn}: ${missing.length} missing; first: ${missing.slice(0, 8).map(({ key, p }) => `${key}#${p.seq}@p${p.partition}/${p.id}`).join(', ')}`);
      for (const { p } of missing) partitionsMissing.add(p.partition);
    }
    for (const p of [...partitionsMissing].sort((a, b) => a - b)) {
      const pk = keys.partition(p);
      const lease = await redis.get(pk.lease);
      const groups = (await redis.xinfo('GROUPS', pk.events)) as unknown[][];
      const summary = groups.map((g) => {
        const o: Record<string, unknown> = {};
        for (let i = 0; i < g.length; i += 2) o[String(g[i])] = g[i + 1];
        return `${String(o.name)} pending=${String(o.pending)} last-delivered=${String(o['last-delivered-id'])} lag=${String(o.lag)}`;
      });
      const attempts = await Promise.all(FUNCTIONS.map(async (fn) => `${fn} attempts=${await redis.hlen(pk.attempts(fn))}`));
      out.push(`p${p}: lease ${lease}; ${summary.join('; ')}; ${attempts.join(', ')}`);
      for (const g of ['fn:chaos-solo', 'group:chaos-g']) {
        const rows = (await redis.xpending(pk.events, g, '-', '+', 10)) as [string, string, number, number][];
        if (rows.length > 0) out.push(`  p${p} ${g} pending (id, consumer, idle ms, deliveries): ${rows.map((r) => r.join(' ')).join('; ')}`);
      }
    }
  } catch (error) {
    out.push(`(diagnostics failed: ${(error as Error).message})`);
  }
  return out.join('\n');
}

function processDiagnostics(history: StartProcess[]): string {
  const out: string[] = ['--- warn/error lines of every fnrun start process (last 30 each), then its stderr'];
  for (const p of history) {
    out.push(`[${p.name}] started ${new Date(p.startedAt).toISOString()}, member ${p.member}, exit ${JSON.stringify(p.exit)}, ${p.problemCount} warn/error lines`);
    for (const line of p.problems.slice(-30)) out.push(`[${p.name}] ${line}`);
    if (p.stderr.trim()) out.push(`[${p.name} stderr] ${p.stderr.slice(-1500)}`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Printing

export function formatReport(r: ChaosReport): string {
  const out: string[] = [];
  out.push(`=== fnrun chaos report: ${r.ok ? 'PASS' : 'FAIL'} ===`);
  out.push(`seed ${r.seed} (rerun: FNRUN_CHAOS_SEED=${r.seed}), topology ${r.topology}, ${r.options.processes} processes, ${r.options.partitions} partitions, lease TTL ${r.options.leaseTtlMs} ms`);
  out.push(`chaos phase ${(r.chaosMs / 1000).toFixed(1)} s, drain ${(r.drainMs / 1000).toFixed(1)} s, total ${(r.totalMs / 1000).toFixed(1)} s; started ${r.startedAt}`);
  out.push(`faults (${r.faults.length}):`);
  for (const f of r.faults) {
    out.push(`  #${f.n} t+${f.at.toFixed(1)}s ${iso(f.start)} ${f.kind.padEnd(13)} ${f.target.padEnd(7)} recovered after ${Number.isFinite(f.recoveredAfterMs) ? `${f.recoveredAfterMs} ms` : '-'}: ${f.detail}${f.error ? ` ERROR ${f.error}` : ''}`);
  }
  const failed = Object.entries(r.producer.failedAttempts).map(([k, v]) => `${v}× ${k}`).join('; ');
  out.push(`producer: ${r.producer.published} events published in ${r.producer.batches} batches, ${r.producer.attempts} attempts${failed ? ` (failed: ${failed})` : ''}, ${r.producer.dedupeHits} dedupe hits on retries, ${r.producer.publishOrderViolations} publish-order violations; ${r.topology === 'sentinel' ? 'replication (WAIT) confirmed' : 'acknowledged'} across a reconnect and published again: ${r.producer.waitAcrossReconnect} events, ${r.producer.waitAcrossReconnectLost} of them gone afterwards`);
  for (const [fn, f] of Object.entries(r.functions)) {
    out.push(`${fn}: published ${f.published}, completed ${f.completed}, handled ${f.handlings} times; lost ${f.lost}; order violations ${f.orderViolations} (first handling), ${f.committedOrderViolations} (completions), completed twice ${f.committedTwice}; DLQ ${f.dlq}; pending after drain ${f.pendingAfterDrain}; completed without a log line ${f.completedWithoutLog}`);
    const byFault = Object.entries(f.duplicatesByFault).map(([k, v]) => `fault ${k}: ${v}`).join(', ');
    const byAttempt = Object.entries(f.duplicatesByAttempt).map(([k, v]) => `attempt ${k}: ${v}`).join(', ');
    out.push(`  duplicates: ${f.duplicates} extra handlings of ${f.duplicateEvents} events; explained ${f.explainedDuplicates}${byFault ? ` (${byFault})` : ''}; unexplained ${f.unexplainedDuplicates}${byAttempt ? `; the redelivery's attempt: ${byAttempt}` : ''}`);
    for (const e of f.unexplainedExamples.slice(0, 5)) out.push(`  unexplained: ${e.key}#${e.seq}: ${e.handlings.map((h) => `${h.proc} ${h.time} p${h.partition}/${h.eventId} attempt ${h.attempt}`).join(' | ')}`);
    for (const e of f.orderExamples.slice(0, 5)) out.push(`  order: ${e}`);
    for (const e of f.committedExamples.slice(0, 5)) out.push(`  completion: ${e}`);
    for (const e of f.lostExamples.slice(0, 5)) out.push(`  lost: ${e.key}#${e.seq} p${e.partition}/${e.id} (handled ${e.handled} times${e.handlings.length ? `: ${e.handlings.join(' | ')}` : ''})`);
  }
  out.push(`processes: ${r.processes.map((p) => `${p.name} → ${p.exit}${p.problemLines ? `, ${p.problemLines} warn/error lines` : ''}`).join('; ')}`);
  const kinds = new Map<string, number>();
  for (const p of r.processes) for (const [k, v] of Object.entries(p.problems)) kinds.set(k, (kinds.get(k) ?? 0) + v);
  if (kinds.size > 0) out.push(`warn/error messages (all processes): ${[...kinds].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v}× "${k}"`).join('; ')}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  for (const f of r.failures) out.push(`FAILURE: ${f}`);
  for (const d of r.diagnostics) out.push(d);
  return out.join('\n');
}
