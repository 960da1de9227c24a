/** Partitions: owners and lengths, per-function lag and pending, and charts of the last minutes. */
import { MODE } from '../api.ts';
import { count, duration, rate } from '../format.ts';
import { useLive } from '../live.ts';
import { Chart, type Series } from '../parts/chart.tsx';
import type { StatusSample } from '../types.ts';

export function PartitionsPage() {
  const live = useLive();
  const status = live.status;
  if (status === null) return <p class="empty">{live.statusError ? `Status unavailable: ${live.statusError}` : 'Reading the status…'}</p>;
  const names = status.functions.map((f) => f.name);
  const times = live.history.map((s) => s.time);
  const series = (pick: (f: StatusSample['functions'][string] | undefined) => number | null): Series[] =>
    names.map((n) => ({ label: n, values: live.history.map((s) => pick(s.functions[n])) }));
  const leased = status.partitions.some((p) => p.owner !== null);
  const throughput = [...series((f) => f?.eventsPerSecond ?? null), { label: 'published', values: live.history.map((s) => s.publishedPerSecond) }];
  return (
    <>
      {live.statusError ? <p class="notice" role="alert">Status is stale: {live.statusError}</p> : null}
      <p class="summary">
        <span><strong>{status.partitionCount}</strong> partitions</span>
        <span><strong>{status.members.length}</strong> {status.members.length === 1 ? 'process' : 'processes'}</span>
        <span><strong>{rate(live.history.at(-1)?.publishedPerSecond)}</strong> events/s published</span>
      </p>
      <div class="charts">
        <Chart title="Lag (events not yet read)" times={times} series={series((f) => f?.lag ?? null)} unit="" />
        <Chart title="Throughput (events read per second)" times={times} series={throughput} unit="/s" />
      </div>
      <h2>Functions</h2>
      <table class="grid">
        <thead><tr><th scope="col">Function</th><th scope="col">Consumer group</th><th scope="col" class="num">Lag</th><th scope="col" class="num">Pending</th><th scope="col" class="num">Oldest pending</th><th scope="col" class="num">Read / s</th><th scope="col" class="num">Retrying</th><th scope="col" class="num">DLQ</th></tr></thead>
        <tbody>
          {status.functions.map((f) => (
            <tr key={f.name}>
              <th scope="row">{f.name}{f.deployed || MODE === 'dev' ? null : <span class="muted small"> (not deployed)</span>}</th>
              <td class="mono">{f.group ?? '?'}</td>
              <td class="num mono">{f.lagEstimated ? '≤' : ''}{count(f.lag)}</td>
              <td class="num mono">{count(f.pending)}</td>
              <td class="num mono">{f.oldestPending ? duration(f.oldestPending.ageMs) : '—'}</td>
              <td class="num mono">{rate(f.eventsPerSecond)}</td>
              <td class="num mono">{count(f.retriesInFlight)}</td>
              <td class="num mono">{count(f.deadLetters)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Partitions{leased ? null : <span class="muted small"> · no leases (fnrun dev works on every partition itself)</span>}</h2>
      <table class="grid compact">
        <thead><tr><th scope="col" class="num">#</th>{leased ? <><th scope="col">Owner</th><th scope="col" class="num">Epoch</th></> : null}<th scope="col" class="num">Length</th><th scope="col" class="num">In / s</th><th scope="col">Last entry</th></tr></thead>
        <tbody>
          {status.partitions.map((p) => (
            <tr key={p.partition}>
              <td class="num mono">{p.partition}</td>
              {leased ? <><td class="mono">{p.owner ?? <span class="muted">nobody</span>}</td><td class="num mono">{p.epoch ?? '—'}</td></> : null}
              <td class="num mono">{count(p.length)}</td>
              <td class="num mono">{rate(p.publishedPerSecond)}</td>
              <td class="mono muted">{p.lastId ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {status.members.length > 0 ? (
        <>
          <h2>Processes</h2>
          <ul class="plain">{status.members.map((m) => <li key={m.id} class="mono">{m.id} <span class="muted">· heartbeat {duration(m.heartbeatAgeMs)} ago</span></li>)}</ul>
        </>
      ) : null}
    </>
  );
}
