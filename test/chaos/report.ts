/**
 * The chaos report: what was injected, what each function did, and the verdict; and how it prints.
 */
import type { FaultKind, TopologyKind } from './options.ts';

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
  /** Committed events without a `seen` line (see harness.ts: expected 0). */
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
  options: {
    seconds: number; minFaults: number; rate: number; keys: number; processes: number; partitions: number; leaseTtlMs: number;
    handlerMs: number; concurrency: number | null; faultKinds: FaultKind[];
  };
  startedAt: string;
  chaosMs: number;
  drainMs: number;
  totalMs: number;
  faults: FaultRecord[];
  producer: {
    published: number; batches: number; attempts: number; failedAttempts: Record<string, number>; dedupeHits: number; publishOrderViolations: number;
    /** Published events per second of the chaos phase (the rate held through the faults). */
    eventsPerSec: number;
    /** Events whose publish the Publisher's WAIT confirmed across a reconnect (the harness retried them). */
    waitAcrossReconnect: number;
    /** Of those, events whose confirmed entry was gone (the retry appended it again): lost, had the harness trusted that WAIT. */
    waitAcrossReconnectLost: number;
  };
  functions: Record<string, FunctionReport>;
  processes: { name: string; startedAt: string; exit: string; problemLines: number; problems: Record<string, number>; problemExamples: Record<string, string>; member: string | null }[];
  diagnostics: string[];
}

export const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);
export function formatReport(r: ChaosReport): string {
  const out: string[] = [];
  out.push(`=== fnrun chaos report: ${r.ok ? 'PASS' : 'FAIL'} ===`);
  const concurrency = r.options.concurrency === null ? 'no concurrency field in this manifest' : `concurrency ${r.options.concurrency}`;
  out.push(`seed ${r.seed} (rerun: FNRUN_CHAOS_SEED=${r.seed}), topology ${r.topology}, ${r.options.processes} processes, ${r.options.partitions} partitions, lease TTL ${r.options.leaseTtlMs} ms, ${r.options.rate} events/s over ${r.options.keys} keys, handlers ${r.options.handlerMs} ms, ${concurrency}`);
  out.push(`chaos phase ${(r.chaosMs / 1000).toFixed(1)} s, drain ${(r.drainMs / 1000).toFixed(1)} s, total ${(r.totalMs / 1000).toFixed(1)} s; started ${r.startedAt}`);
  out.push(`faults (${r.faults.length}):`);
  for (const f of r.faults) {
    out.push(`  #${f.n} t+${f.at.toFixed(1)}s ${iso(f.start)} ${f.kind.padEnd(13)} ${f.target.padEnd(7)} recovered after ${Number.isFinite(f.recoveredAfterMs) ? `${f.recoveredAfterMs} ms` : '-'}: ${f.detail}${f.error ? ` ERROR ${f.error}` : ''}`);
  }
  const failed = Object.entries(r.producer.failedAttempts).map(([k, v]) => `${v}× ${k}`).join('; ');
  out.push(`producer: ${r.producer.published} events published (${Math.round(r.producer.eventsPerSec)}/s over the chaos phase) in ${r.producer.batches} batches, ${r.producer.attempts} attempts${failed ? ` (failed: ${failed})` : ''}, ${r.producer.dedupeHits} dedupe hits on retries, ${r.producer.publishOrderViolations} publish-order violations; ${r.topology === 'single' ? 'acknowledged' : 'replication (WAIT) confirmed'} across a reconnect and published again: ${r.producer.waitAcrossReconnect} events, ${r.producer.waitAcrossReconnectLost} of them gone afterwards`);
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
