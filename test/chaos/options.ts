/**
 * The chaos run's knobs, from the environment, and its seeded randomness.
 */
import { randomInt } from 'node:crypto';
import { DEFAULT_HANDLER_MS } from './fixture.ts';

export type TopologyKind = 'single' | 'sentinel' | 'cluster';
/**
 * Process faults: `kill` (SIGKILL a `fnrun start`, restart it), `stop` (SIGSTOP past the lease TTL).
 * Redis faults: `redis-restart` (SIGKILL the primary, restart it on its AOF), `failover` (Sentinel
 * failover, or `CLUSTER FAILOVER` of a master to its replica), `master-kill` (Cluster: SIGKILL a
 * master, its replica takes over, the killed node rejoins as a replica), `reshard` (Cluster: move
 * the slots of partitions to another master while traffic flows).
 */
export type FaultKind = 'kill' | 'stop' | 'redis-restart' | 'failover' | 'master-kill' | 'reshard';

export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'stop', 'redis-restart', 'failover', 'master-kill', 'reshard'];

/** The faults each topology can inject (the default mix). */
export const TOPOLOGY_FAULTS: Record<TopologyKind, readonly FaultKind[]> = {
  single: ['kill', 'stop', 'redis-restart'],
  sentinel: ['kill', 'stop', 'redis-restart', 'failover'],
  cluster: ['kill', 'stop', 'failover', 'master-kill', 'reshard'],
};

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
  /** How long each handler waits (a timer) before it emits: batches stay in flight for faults to catch. */
  handlerMs: number;
  /** `concurrency` of the functions under test, when the manifest has the field (see fixture.ts). */
  concurrency: number;
  /** How long the drain may take before the run fails with a diagnostic dump. */
  drainTimeoutMs: number;
  reportPath: string | null;
  /** Keep the temp dir (functions, redis data and logs) for inspection. */
  keep: boolean;
  /** Progress lines (default: stderr). */
  log: (line: string) => void;
}

/**
 * Options from the environment:
 * - `FNRUN_CHAOS_SECONDS` (default 60): chaos phase length; `FNRUN_CHAOS_FAULTS` (default
 *   max(5, seconds / 30)): at least this many faults, the phase runs on until they were injected;
 * - `FNRUN_CHAOS_SEED` (default random; always printed), `FNRUN_CHAOS_TOPOLOGY` (`single`,
 *   `sentinel` or `cluster`; the default is the caller's, see chaos.test.ts),
 *   `FNRUN_CHAOS_FAULT_KINDS` (comma list, e.g. `kill,stop`), `FNRUN_CHAOS_RATE` (events/s, 2000),
 *   `FNRUN_CHAOS_KEYS` (500), `FNRUN_CHAOS_LEASE_TTL` (ms, 2000), `FNRUN_CHAOS_HANDLER_MS` (1 with per-key concurrency, else 0; see fixture.ts),
 *   `FNRUN_CHAOS_CONCURRENCY` (8), `FNRUN_CHAOS_REPORT` (write the report as JSON there),
 *   `FNRUN_CHAOS_KEEP=1` (keep the temp dir).
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
  if (!(topology in TOPOLOGY_FAULTS)) throw new Error(`FNRUN_CHAOS_TOPOLOGY must be ${Object.keys(TOPOLOGY_FAULTS).join(', ')}; got ${JSON.stringify(topology)}`);
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
    rate: int('FNRUN_CHAOS_RATE', 2000),
    keys: int('FNRUN_CHAOS_KEYS', 500),
    processes: 3,
    partitions: 16,
    leaseTtlMs: int('FNRUN_CHAOS_LEASE_TTL', 2000),
    handlerMs: int('FNRUN_CHAOS_HANDLER_MS', DEFAULT_HANDLER_MS, 0),
    concurrency: int('FNRUN_CHAOS_CONCURRENCY', 8),
    drainTimeoutMs: 120_000,
    reportPath: env.FNRUN_CHAOS_REPORT || null,
    keep: env.FNRUN_CHAOS_KEEP === '1',
    log: (line) => process.stderr.write(`# chaos ${line}\n`),
  };
}

/**
 * Seeded randomness (mulberry32): the seed fixes every choice the harness makes (which fault,
 * which process, how long to wait, which key) — not the timing of the system under test.
 */
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

export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
