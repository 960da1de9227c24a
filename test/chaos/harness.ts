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
 * Only the engine lives here; `chaos.test.ts` runs it under node:test. Knobs: `chaosOptionsFromEnv`
 * in options.ts. The parts: topology.ts (Redis and its faults), fixture.ts (the functions),
 * process-pool.ts (the `fnrun start` processes, ownership), producer.ts, handlings.ts and
 * completions.ts (what happened), checks.ts (the verdict), report.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { DeadLetterQueue, Keys } from '../../runtime/index.ts';
import { connectRedis } from '../../runtime/redis/redis.ts';
import { MANIFEST_DEFAULTS } from '../../runtime/loading/manifest.ts';
import { runCli } from '../helpers/cli.ts';
import { checkFunction, checkPublishOrder, checkWaitAcrossReconnect, completedWithoutLog, phantomCount } from './checks.ts';
import { CompletionReader } from './completions.ts';
import { drainDiagnostics, processDiagnostics } from './diagnostics.ts';
import { FUNCTIONS, GROUP_OF, functionSource } from './fixture.ts';
import { HandlingLog } from './handlings.ts';
import { prng, shuffle, sleep, TOPOLOGY_FAULTS, type ChaosOptions, type FaultKind } from './options.ts';
import { OwnershipWatch, ProcessPool } from './process-pool.ts';
import { Producer } from './producer.ts';
import type { ChaosReport, FaultRecord, FunctionReport } from './report.ts';
import { startTopology, type Topology } from './topology.ts';

export { chaosOptionsFromEnv, type ChaosOptions } from './options.ts';
export { formatReport, type ChaosReport } from './report.ts';

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const runStarted = Date.now();
  const log = (line: string) => opts.log(`t+${((Date.now() - runStarted) / 1000).toFixed(1)}s ${line}`);
  const random = prng(opts.seed);
  const trafficRandom = prng(opts.seed ^ 0x5eed);
  log(`seed ${opts.seed} (FNRUN_CHAOS_SEED=${opts.seed} repeats the harness's choices), topology ${opts.topology}, ${opts.seconds}s, ≥ ${opts.minFaults} faults, ${opts.rate} events/s over ${opts.keys} keys, lease TTL ${opts.leaseTtlMs} ms`);

  const available = TOPOLOGY_FAULTS[opts.topology];
  const kinds = opts.faultKinds ?? [...available];
  for (const k of kinds) if (!available.includes(k)) throw new Error(`fault ${k} is not available on topology ${opts.topology} (available: ${available.join(', ')})`);
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-chaos-'));
  const functionsDir = join(dir, 'functions');
  mkdirSync(functionsDir);
  for (const fn of FUNCTIONS) writeFileSync(join(functionsDir, `${fn}.ts`), functionSource(fn, opts));
  const namespace = 'chaos';
  const keys = new Keys(namespace);
  const failures: string[] = [];
  const warnings: string[] = [];
  const diagnostics: string[] = [];
  const faults: FaultRecord[] = [];

  let topology: Topology;
  try {
    topology = await startTopology(opts.topology, opts.partitions);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const common = ['--redis', topology.url, '--namespace', namespace];
  const pool = new ProcessPool(['start', ...common, '--lease-ttl', String(opts.leaseTtlMs)], (fn, key, h) => handlings.get(fn)?.add(key, h));
  // Handlings name their process by its index in the pool's history.
  const handlings = new Map<string, HandlingLog>(FUNCTIONS.map((fn) => [fn, new HandlingLog(pool.names)]));
  let admin: Redis | null = null;
  let producer: Producer | null = null;
  let chaosStarted = 0;
  let chaosMs = 0;
  let drainMs = 0;

  try {
    admin = await connectRedis(topology.url, 'chaos-admin');
    const watch = new OwnershipWatch({ redis: admin, keys, partitions: opts.partitions, pool, processes: opts.processes, leaseTtlMs: opts.leaseTtlMs });

    const injectFault = async (n: number, kind: FaultKind): Promise<FaultRecord> => {
      const start = Date.now();
      const record: FaultRecord = { n, kind, target: 'redis', detail: '', start, end: Infinity, at: (start - chaosStarted) / 1000, recoveredAfterMs: NaN };
      faults.push(record);
      try {
        if (kind === 'kill') {
          const slot = Math.floor(random() * opts.processes);
          const victim = pool.slots[slot]!;
          record.target = `proc ${slot}`;
          victim.signal('SIGKILL');
          await victim.exited;
          // Sometimes back before its leases expire, sometimes after.
          const delay = Math.round(random() * 1.5 * opts.leaseTtlMs);
          await sleep(delay);
          const next = pool.start(slot);
          await pool.awaitReady(next);
          record.detail = `SIGKILL ${victim.name}, restarted ${delay} ms later as ${next.name}`;
        } else if (kind === 'stop') {
          const slot = Math.floor(random() * opts.processes);
          const victim = pool.slots[slot]!;
          record.target = `proc ${slot}`;
          victim.signal('SIGSTOP');
          victim.paused = true;
          // Paused past its lease TTL: until the others took every partition it held, then a bit more.
          const limitMs = opts.leaseTtlMs * 5 + 10_000;
          if (!(await watch.awaitTakenFrom(victim.pid, limitMs))) warnings.push(`fault ${n}: the partitions of paused ${victim.name} were not all taken over within ${limitMs} ms`);
          await sleep(Math.round(random() * opts.leaseTtlMs * 0.5));
          victim.signal('SIGCONT');
          victim.paused = false;
          record.detail = `SIGSTOP ${victim.name} for ${Date.now() - start} ms (lease TTL ${opts.leaseTtlMs}), then SIGCONT`;
        } else {
          const fault = topology.faults[kind];
          if (fault === undefined) throw new Error(`topology ${topology.kind} has no fault ${kind}`);
          record.detail = await fault(random);
        }
        log(`fault ${n}: ${kind} ${record.target}: ${record.detail}`);
        record.end = await watch.awaitRecovered(`fault ${n} (${kind})`);
        record.recoveredAfterMs = record.end - start;
        log(`fault ${n}: recovered ${record.recoveredAfterMs} ms after it began`);
      } catch (error) {
        record.error = (error as Error).message;
        throw error;
      }
      return record;
    };

    // Setup: deploy, N processes, balanced.
    const deployed = await runCli(['deploy', '--dir', functionsDir, ...common, '--partitions', String(opts.partitions), '--json']);
    if (deployed.code !== 0) throw new Error(`fnrun deploy failed (${deployed.code}): ${deployed.stdout}${deployed.stderr}`);
    for (let slot = 0; slot < opts.processes; slot++) pool.start(slot);
    for (const p of pool.slots) await pool.awaitReady(p);
    await watch.awaitRecovered('start');
    log(`${opts.processes} processes ready and balanced; traffic starts`);

    // Chaos phase.
    producer = await Producer.connect(topology.url, namespace, opts.partitions, topology.replicated);
    chaosStarted = Date.now();
    producer.start(opts.rate, opts.keys, trafficRandom);
    const progress = setInterval(() => log(`${producer!.count} events published, ${FUNCTIONS.map((fn) => `${handlings.get(fn)!.size} handlings of ${fn}`).join(', ')}`), 10_000);
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
    } finally {
      clearInterval(progress);
    }
    await producer.stop();
    chaosMs = Date.now() - chaosStarted;
    log(`chaos phase over after ${(chaosMs / 1000).toFixed(1)} s: ${faults.length} faults, ${producer.count} events published (${Math.round(producer.count / (chaosMs / 1000))}/s); draining`);

    // Drain: every published event completed by every function.
    const drainStarted = Date.now();
    const completions = new CompletionReader(admin, keys, opts.partitions);
    let left = Infinity;
    for (;;) {
      try {
        await completions.poll();
        left = FUNCTIONS.reduce((sum, fn) => sum + completions.of(fn).missingCount(producer!.published), 0);
      } catch (error) {
        warnings.push(`drain: reading completions failed once: ${(error as Error).message}`);
      }
      if (left === 0 || Date.now() - drainStarted > opts.drainTimeoutMs) break;
      await sleep(500);
    }
    drainMs = Date.now() - drainStarted;
    if (left > 0) {
      failures.push(`drain: ${left} (function, event) completions still missing ${Math.round(drainMs / 1000)} s after the producer stopped`);
      diagnostics.push(await drainDiagnostics(admin, keys, producer.published, completions));
    } else {
      log(`drained in ${(drainMs / 1000).toFixed(1)} s`);
    }
    // The completions' own entries (`chaos.done`) are still being read and skipped by both groups for a moment.
    const pendingDeadline = Date.now() + 15_000;
    while (Date.now() < pendingDeadline && (await Promise.all(FUNCTIONS.map((fn) => pendingOf(admin!, keys, opts.partitions, GROUP_OF[fn])))).some((n) => n > 0)) await sleep(250);
    // The `seen` lines of committed events were in the pipes before their commits; let the harness read them.
    const logDeadline = Date.now() + 5000;
    while (Date.now() < logDeadline && FUNCTIONS.some((fn) => completedWithoutLog(completions.of(fn), handlings.get(fn)!) > 0)) await sleep(500);

    // Checks.
    const functions: Record<string, FunctionReport> = {};
    for (const fn of FUNCTIONS) {
      const r = checkFunction(producer.published, completions.of(fn), handlings.get(fn)!, faults);
      r.dlq = await new DeadLetterQueue(admin, keys, opts.partitions).count(fn);
      r.pendingAfterDrain = await pendingOf(admin, keys, opts.partitions, GROUP_OF[fn]);
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

    for (const p of pool.history) {
      if (p.exit !== null && !p.exitExpected) failures.push(`${p.name} exited by itself (${JSON.stringify(p.exit)}); stderr: ${p.stderr.slice(-1000)}`);
      if (p.unparsable > 0) warnings.push(`${p.name}: ${p.unparsable} "seen" lines were not valid JSON`);
    }
    // Graceful stop: README says SIGTERM exits 0.
    for (const p of pool.slots) if (p.paused) { p.signal('SIGCONT'); p.paused = false; }
    await Promise.all(pool.slots.map(async (p) => {
      p.signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([p.exited, new Promise((r) => { timer = setTimeout(r, 40_000); })]);
      clearTimeout(timer);
    }));
    for (const p of pool.slots) if (p.exit?.code !== 0) warnings.push(`${p.name}: SIGTERM ended it with ${JSON.stringify(p.exit)}, expected exit code 0`);

    const report: ChaosReport = {
      ok: failures.length === 0,
      failures,
      warnings,
      seed: opts.seed,
      topology: topology.kind,
      options: {
        seconds: opts.seconds, minFaults: opts.minFaults, rate: opts.rate, keys: opts.keys, processes: opts.processes, partitions: opts.partitions,
        leaseTtlMs: opts.leaseTtlMs, handlerMs: opts.handlerMs, concurrency: 'concurrency' in MANIFEST_DEFAULTS ? opts.concurrency : null, faultKinds: kinds,
      },
      startedAt: new Date(runStarted).toISOString(),
      chaosMs,
      drainMs,
      totalMs: Date.now() - runStarted,
      faults,
      producer: {
        published: producer.count, eventsPerSec: producer.count / (chaosMs / 1000), batches: producer.batches, attempts: producer.attempts,
        failedAttempts: Object.fromEntries(producer.failures), dedupeHits: producer.dedupeHits, publishOrderViolations, ...waitCheck,
      },
      functions,
      processes: pool.history.map((p) => ({ name: p.name, startedAt: new Date(p.startedAt).toISOString(), exit: p.exit === null ? 'running' : p.exit.signal ?? `code ${p.exit.code}`, problemLines: p.problemCount, problems: Object.fromEntries(p.problemKinds), problemExamples: Object.fromEntries(p.problemExamples), member: p.member })),
      diagnostics,
    };
    if (!report.ok) report.diagnostics.push(processDiagnostics(pool.history));
    return report;
  } finally {
    await pool.killAll();
    if (producer) await producer.stop().catch(() => {});
    admin?.disconnect();
    await topology.stop();
    if (opts.keep) opts.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

async function pendingOf(redis: Redis, keys: Keys, partitions: number, group: string): Promise<number> {
  let total = 0;
  for (let p = 0; p < partitions; p++) {
    const summary = (await redis.xpending(keys.partition(p).events, group)) as [number, ...unknown[]];
    total += Number(summary[0]);
  }
  return total;
}
