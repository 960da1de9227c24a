/** The human form of `fnrun status`: a header line and three tables. */
import type { PendingEntry, Status } from '../runtime/internal.ts';
import { formatTable } from './table.ts';

/** Formats a status snapshot for a terminal. */
export function formatStatus(s: Status): string {
  const rates = s.rateWindowMs === null ? 'rates need --watch' : `rates over the last ${duration(s.rateWindowMs)}`;
  const header = `namespace ${s.namespace}: ${s.partitionCount} partitions, ${s.members.length} fnrun start process(es), ${rates} — ${new Date(s.time).toISOString()}`;

  const partitions = formatTable(
    ['PARTITION', 'OWNER', 'EPOCH', 'LENGTH', 'FIRST ID', 'LAST ID', 'IN/S'],
    s.partitions.map((p) => [String(p.partition), p.owner ?? '-', p.epoch === null ? '-' : String(p.epoch), String(p.length), p.firstId ?? '-', p.lastId ?? '-', rate(p.publishedPerSecond)]),
  );

  const row = (name: string, version: string, group: string, g: { lag: number | null; lagEstimated: boolean; pending: number; oldestPending: PendingEntry | null; eventsPerSecond: number | null }, retries: string, dlq: string) => [
    name, version, group, g.lag === null ? '-' : `${g.lagEstimated ? '≤' : ''}${g.lag}`, String(g.pending), oldest(g.oldestPending), retries, dlq, rate(g.eventsPerSecond),
  ];
  const fnRows = s.functions.map((f) => row(
    f.name, f.deployed ? f.version! : `${f.committedVersions.join(',') || '-'}*`, f.group ?? '?', f, String(f.retriesInFlight), String(f.deadLetters),
  ));
  // Groups no known function uses (a removed function's cursor, a `fnrun dev` group) still hold events.
  for (const g of s.groups) if (g.functions.length === 0) fnRows.push(row('-', '-', g.name, g, '-', '-'));
  const functions = fnRows.length === 0
    ? 'no functions (deploy with fnrun deploy, or run fnrun dev)'
    : formatTable(['FUNCTION', 'VERSION', 'GROUP', 'LAG', 'PENDING', 'OLDEST PENDING', 'RETRYING', 'DLQ', 'EV/S'], fnRows);

  const stuck = s.functions.flatMap((f) => f.stuck.map((e) => ({ fn: f.name, ...e }))).sort((a, b) => b.ageMs - a.ageMs);
  const stuckTable = stuck.length === 0
    ? 'no stuck events'
    : formatTable(
      ['FUNCTION', 'PARTITION', 'KEY', 'TYPE', 'ID', 'AGE', 'ATTEMPTS', 'LAST FAILURE'],
      stuck.map((e) => [e.fn, String(e.partition), e.key ?? '-', e.type ?? '-', e.id, duration(e.ageMs), String(e.attempts), e.lastFailureAt > 0 ? `${duration(Math.max(0, s.time - e.lastFailureAt))} ago` : '-']),
    );

  const notes = [
    'LAG: entries not yet read (≤: an upper bound, Redis could not count it); PENDING: read, not yet settled.',
    ...(s.functions.some((f) => !f.deployed) ? ['*: not deployed, seen on the streams only (fnrun dev, or removed); VERSION is what last committed.'] : []),
    ...(s.functions.some((f) => f.group === null) ? ['?: runs in a shared group that cannot be told without the registry.'] : []),
  ];
  return [header, '', partitions, '', functions, '', 'STUCK EVENTS (oldest first)', stuckTable, '', ...notes].join('\n');
}

function oldest(p: PendingEntry | null): string {
  return p === null ? '-' : `${duration(p.ageMs)} (p${p.partition})`;
}

function rate(perSecond: number | null): string {
  return perSecond === null ? '-' : perSecond.toFixed(1);
}

/** 850ms, 4.2s, 3m07s, 2h05m, 3d04h. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}
