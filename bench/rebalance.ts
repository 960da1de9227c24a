/**
 * Scenario "rebalance": P = 256 partitions, 4 `fnrun start` processes (the real CLI, default lease
 * TTL 10 s, so heartbeats every 2 s) under a steady 2,000 events/s; then, `rounds` times, one
 * process leaves gracefully (SIGTERM) and a new one joins. For each move:
 *
 * - owned: from the SIGTERM (or the new process's spawn) until every partition is leased again,
 *   balanced over the processes now running (each at most ceil(P / N));
 * - working: until every partition that changed owner has had an event handled by its new owner
 *   (from the handlers' log lines: each logs `seen`, with its pid, partition and event id);
 * - for a join, the new process's own start-up (spawn → "ready") is shown apart;
 * - duplicates: (partition, event id) handled more than once over the whole run: 0 expected, since
 *   every hand-over here is graceful (finish, commit, release).
 */
import { Keys, Publisher } from '../runtime/index.ts';
import { connectRedis } from '../runtime/redis/redis.ts';
import { StartProcess } from '../test/chaos/start-process.ts';
import { balancedOver, deploySources, leaseOwners, sleep, until } from './deployment.ts';

export interface RebalanceArgs {
  url: string;
  namespace: string;
  partitions: number;
  processes: number;
  rounds: number;
  rate: number;
}

export interface Move {
  kind: 'leave' | 'join';
  ownedMs: number;
  workingMs: number;
  /** Partitions that changed owner. */
  moved: number;
  /** Join only: spawn → ready. */
  startMs?: number;
}

export interface RebalanceResult {
  moves: Move[];
  handled: number;
  duplicates: number;
}

const FUNCTION = "export const config = { events: ['bench.*'] };\nexport default async function handler(event: { key: string }, ctx: { log: { info(...a: unknown[]): void } }) { ctx.log.info('seen', event.key, 0); }\n";


export async function measure({ url, namespace, partitions, processes, rounds, rate }: RebalanceArgs): Promise<RebalanceResult> {
  const redis = await connectRedis(url, 'bench-rebalance');
  const keys = new Keys(namespace);
  await deploySources(url, namespace, partitions, { seen: FUNCTION });
  /** Per handling: when, by which pid; per event: how often. */
  const firstByOwner = new Map<string, number>(); // `${pid}/${partition}` → earliest handling time after `since`
  let since = Infinity;
  const counts = new Map<string, number>();
  let handled = 0;
  let slot = 0;
  const live: StartProcess[] = [];
  const all: StartProcess[] = [];
  const spawn = () => {
    const proc: StartProcess = new StartProcess({
      slot: slot++, inc: 0, index: all.length, args: ['start', '--redis', url, '--namespace', namespace, '--partitions', String(partitions)],
      sink: (_fn, _key, h) => {
        handled++;
        const id = `${h.partition}/${h.eventId}`;
        counts.set(id, (counts.get(id) ?? 0) + 1);
        if (h.time >= since) {
          const k = `${proc.pid}/${h.partition}`;
          if (!firstByOwner.has(k)) firstByOwner.set(k, h.time);
        }
      },
    });
    live.push(proc);
    all.push(proc);
    return proc;
  };
  const ready = (p: StartProcess) => until(`${p.name} is ready`, 60_000, () => {
    if (!p.alive) throw new Error(`${p.name} exited: ${p.stderr}`);
    return p.member !== null;
  });
  const balanced = () => until('the partitions are balanced', 120_000, async () => balancedOver(await leaseOwners(redis, keys, partitions), live.map((p) => p.pid)));
  const publisher = await Publisher.connect({ redis: url, namespace, partitions });
  let publishing = true;
  const producer = (async () => {
    const began = Date.now();
    let sent = 0;
    while (publishing) {
      const due = Math.floor(((Date.now() - began) * rate) / 1000) - sent;
      if (due > 0) {
        await publisher.publishBatch(Array.from({ length: due }, (_, i) => ({ type: 'bench.event', key: `key-${(sent + i) % 5000}`, data: {} })));
        sent += due;
      }
      await sleep(10);
    }
  })();

  const move = async (kind: Move['kind']): Promise<Move> => {
    const before = await leaseOwners(redis, keys, partitions);
    since = Date.now();
    firstByOwner.clear();
    const t0 = Date.now();
    let startMs: number | undefined;
    if (kind === 'leave') {
      live.shift()!.signal('SIGTERM');
    } else {
      const joined = spawn();
      await ready(joined);
      startMs = Date.now() - t0;
    }
    const ownedAt = await balanced();
    const after = await leaseOwners(redis, keys, partitions);
    const moved = after.flatMap((owner, p) => (owner !== before[p] ? [`${owner}/${p}`] : []));
    await until('every moved partition works for its new owner', 60_000, () => moved.every((k) => firstByOwner.has(k))).catch((error: Error) => {
      // Say which: a partition owned but not worked on is a liveness bug to chase, not noise.
      const idle = moved.filter((k) => !firstByOwner.has(k));
      throw new Error(`${error.message} after a ${kind}: ${idle.length} of ${moved.length} moved partitions (owner pid/partition) handled nothing: ${idle.join(', ')}`);
    });
    // The handlers' clock: when the last moved partition ran its first event under its new owner.
    const workingAt = Math.max(ownedAt, ...moved.map((k) => firstByOwner.get(k)!));
    // A settling pause between moves, so each one starts from a steady state.
    await sleep(3000);
    return { kind, ownedMs: ownedAt - t0, workingMs: workingAt - t0, moved: moved.length, ...(startMs === undefined ? {} : { startMs }) };
  };

  try {
    for (let i = 0; i < processes; i++) spawn();
    for (const p of live) await ready(p);
    await balanced();
    await sleep(3000);
    const moves: Move[] = [];
    for (let r = 0; r < rounds; r++) {
      moves.push(await move('leave'));
      moves.push(await move('join'));
    }
    publishing = false;
    await producer;
    // Let the last events be handled before counting.
    await sleep(2000);
    let duplicates = 0;
    for (const n of counts.values()) if (n > 1) duplicates += n - 1;
    return { moves, handled, duplicates };
  } finally {
    publishing = false;
    await producer.catch(() => {});
    await publisher.close();
    for (const p of all) p.signal('SIGTERM');
    await Promise.all(all.map((p) => p.exited));
    redis.disconnect();
  }
}
