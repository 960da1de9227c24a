/** Live: invocations as they happen, newest first; filter by function, key and outcome; pause. */
import { useState } from 'preact/hooks';
import { clock, duration, pretty } from '../format.ts';
import { functionNames, useLive } from '../live.ts';
import { ErrorView } from '../parts/error-view.tsx';
import { Outcome } from '../parts/outcome.tsx';
import { FunctionSelect } from '../parts/select.tsx';
import type { FeedRecord } from '../types.ts';

const SHOWN = 300;
const OUTCOMES = [['', 'All outcomes'], ['ok', 'ok'], ['failed', 'failed (any)'], ['retry', 'retry'], ['dead-lettered', 'dead-lettered'], ['dropped', 'dropped']] as const;

export function LivePage() {
  const live = useLive();
  const [fn, setFn] = useState('');
  const [key, setKey] = useState('');
  const [outcome, setOutcome] = useState('');
  const [paused, setPaused] = useState<{ records: FeedRecord[]; received: number } | null>(null);
  const records = paused?.records ?? live.records;
  const keep = (r: FeedRecord) => (fn === '' || r.function === fn) && (key === '' || r.key === key)
    && (outcome === '' || (outcome === 'failed' ? r.status !== 'ok' : r.status === outcome));
  const shown: FeedRecord[] = [];
  for (let i = records.length - 1; i >= 0 && shown.length < SHOWN; i--) if (keep(records[i]!)) shown.push(records[i]!);
  const missed = paused === null ? 0 : live.received - paused.received;

  return (
    <section aria-labelledby="live-title">
      <h2 id="live-title" class="visually-hidden">Live invocations</h2>
      <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
        <FunctionSelect id="live-fn" value={fn} names={functionNames(live)} onChange={setFn} />
        <label class="field" for="live-key"><span>Key</span>
          <input id="live-key" type="search" value={key} placeholder="any key" onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field" for="live-outcome"><span>Outcome</span>
          <select id="live-outcome" value={outcome} onChange={(e) => setOutcome((e.target as HTMLSelectElement).value)}>
            {OUTCOMES.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
          </select>
        </label>
        <div class="toolbar-end">
          <span class="muted small" role="status">{paused ? `paused · ${missed} new` : `${shown.length} shown`}</span>
          <button type="button" aria-pressed={paused !== null} onClick={() => setPaused(paused ? null : { records: live.records, received: live.received })}>
            {paused ? 'Resume' : 'Pause'}
          </button>
        </div>
      </form>
      {shown.length === 0 ? <p class="empty">{records.length === 0 ? 'Waiting for invocations… send an event (Send event page, or fnrun emit).' : 'No invocation matches the filters.'}</p> : (
        <ol class="feed" aria-label="Invocations, newest first">
          {shown.map((r) => <Invocation key={`${r.source}/${r.partition}/${r.eventId}/${r.function}/${r.attempt}/${r.time}`} r={r} />)}
        </ol>
      )}
    </section>
  );
}

function Invocation({ r }: { r: FeedRecord }) {
  return (
    <li class={`feed-row status-${r.status}`}>
      <details>
        <summary>
          <span class="mono muted">{clock(r.time)}</span>
          <span class="fn">{r.function}</span>
          <span class="mono">{r.type ?? '(malformed)'}</span>
          <span class="mono key" title="key">{r.key ?? '—'}</span>
          <span class="mono num">{duration(r.durationMs)}</span>
          <span><Outcome r={r} /></span>
          <span class="muted small">{r.logs?.length ? `${r.logs.length} log${r.logs.length > 1 ? 's' : ''}` : ''}{r.fetches?.length ? ` · ${r.fetches.length} fetch` : ''}</span>
        </summary>
        <div class="feed-detail">
          <p class="muted small mono">event {r.partition}/{r.eventId} · version {r.version} · attempt {r.attempt} · {r.source}</p>
          {r.error ? <ErrorView error={r.error} /> : null}
          {r.logs?.length ? (
            <ol class="logs" aria-label="Logs">
              {r.logs.map((l, i) => <li key={i} class={`log log-${l.level}`}><span class="mono muted">{clock(l.time)}</span> <span class="level">{l.level}</span> <span class="mono">{l.msg}</span></li>)}
              {r.logsDropped ? <li class="muted small">… {r.logsDropped} more not sent to the UI</li> : null}
            </ol>
          ) : null}
          {r.fetches?.length ? <Fetches fetches={r.fetches} /> : null}
        </div>
      </details>
    </li>
  );
}

/** Outbound requests, shown field by field when they have the usual ones, as JSON otherwise. */
function Fetches({ fetches }: { fetches: readonly unknown[] }) {
  return (
    <ol class="fetches" aria-label="Fetches">
      {fetches.map((f, i) => {
        const x = f as { method?: unknown; url?: unknown; status?: unknown; durationMs?: unknown; error?: unknown };
        return typeof x?.url === 'string'
          ? <li key={i} class="mono">{String(x.method ?? 'GET')} {x.url} → {x.status === undefined ? String(x.error ?? '?') : String(x.status)}{typeof x.durationMs === 'number' ? ` · ${duration(x.durationMs)}` : ''}</li>
          : <li key={i}><pre>{pretty(f)}</pre></li>;
      })}
    </ol>
  );
}
