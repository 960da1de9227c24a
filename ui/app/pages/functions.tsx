/** Functions: what runs, how it is configured, whether it is healthy, and how busy it is. */
import { useState } from 'preact/hooks';
import { count, dateTime, duration } from '../format.ts';
import { useLive } from '../live.ts';
import { ErrorView } from '../parts/error-view.tsx';
import { Health } from '../parts/outcome.tsx';
import { Sparkline } from '../parts/sparkline.tsx';
import type { FunctionRow } from '../types.ts';

export function FunctionsPage() {
  const live = useLive();
  const [open, setOpen] = useState<string | null>(null);
  if (live.functions.length === 0) {
    return <p class="empty">{live.connected ? 'No functions are running. Add a file to the functions folder (fnrun dev) or deploy one (fnrun deploy).' : 'Connecting…'}</p>;
  }
  return (
    <table class="grid functions">
      <thead>
        <tr>
          <th scope="col">Function</th><th scope="col">Version</th><th scope="col">Events</th><th scope="col">Group</th>
          <th scope="col">Ordering</th><th scope="col">Concurrency</th><th scope="col">Health</th>
          <th scope="col" class="num">Invocations / s</th><th scope="col" class="num">Lag</th><th scope="col" class="num">DLQ</th>
        </tr>
      </thead>
      {live.functions.map((f) => <Row key={f.name} f={f} open={open === f.name} toggle={() => setOpen(open === f.name ? null : f.name)} />)}
    </table>
  );
}

function Row({ f, open, toggle }: { f: FunctionRow; open: boolean; toggle: () => void }) {
  const perSecond = f.invocations?.perSecond ?? [];
  const lastMinute = perSecond.reduce((a, b) => a + b, 0);
  const current = perSecond.slice(-5).reduce((a, b) => a + b, 0) / 5;
  return (
    <tbody class={open ? 'open' : ''}>
      <tr>
        <th scope="row">
          <button type="button" class="disclosure" aria-expanded={open} aria-controls={`fn-${f.name}`} onClick={toggle}><span class="tri" aria-hidden="true">{open ? '▾' : '▸'}</span>{f.name}</button>
          <div class="muted small mono">{f.file}</div>
        </th>
        <td class="mono">{f.version}</td>
        <td>{f.events.map((e) => <code key={e} class="chip">{e}</code>)}</td>
        <td>{f.group ? <span>{f.group.name} <span class="muted">· {f.group.mode}{f.group.mode === 'sequential' ? ` #${f.group.order}` : ''}</span></span> : <span class="muted">own</span>}</td>
        <td>{f.ordering ?? <span class="muted" title="not reported by this runtime">—</span>}</td>
        <td>{f.concurrency ?? <span class="muted" title="not reported by this runtime">—</span>}</td>
        <td><Health health={f.health} />{f.retrying ? <span class="muted small"> {f.retrying} retrying</span> : null}</td>
        <td class="num spark-cell">
          <Sparkline values={perSecond} label={`${lastMinute} invocations in the last minute`} />
          <span class="mono">{current.toFixed(1)}</span>
        </td>
        <td class="num mono">{count(f.lag)}</td>
        <td class="num mono">{f.deadLetters ? <a href={`#/dead-letters?fn=${encodeURIComponent(f.name)}`}>{count(f.deadLetters)}</a> : count(f.deadLetters)}</td>
      </tr>
      {open ? (
        <tr class="detail" id={`fn-${f.name}`}>
          <td colSpan={10}>
            <dl class="facts">
              <dt>Retries</dt><dd>{f.retry.attempts} attempts, {f.retry.backoff} backoff {duration(f.retry.initialDelayMs)} → {duration(f.retry.maxDelayMs)}</dd>
              <dt>Limits</dt><dd>{duration(f.timeoutMs)} per invocation, {f.memoryMb} MB per isolate</dd>
              <dt>Dead letters</dt><dd>{f.deadLetter ? 'kept after the last attempt' : 'off (failed events are dropped)'}</dd>
              <dt>Seen</dt><dd>{f.invocations ? `${count(f.invocations.total)} invocations, ${count(f.invocations.failures)} failed, last at ${dateTime(f.invocations.lastAt ?? NaN)}` : 'no invocations since the UI started watching'}</dd>
            </dl>
            {f.invocations?.lastError ? (
              <section>
                <h3>Last error <span class="muted small">{dateTime(f.invocations.lastError.time)} · event {f.invocations.lastError.partition}/{f.invocations.lastError.eventId} · key {f.invocations.lastError.key ?? '—'} · attempt {f.invocations.lastError.attempt}</span></h3>
                <ErrorView error={f.invocations.lastError.error} />
              </section>
            ) : <p class="muted">No error seen.</p>}
          </td>
        </tr>
      ) : null}
    </tbody>
  );
}
