/** Send event: type, key and JSON data, checked as you type; what handled it; recent sends to send again. */
import { useState } from 'preact/hooks';
import { compileEventMatcher, isEventType } from '../../../runtime/policy/event-matcher.ts';
import { NAMESPACE, post } from '../api.ts';
import { clock, duration } from '../format.ts';
import { outcomeOf, useLive } from '../live.ts';
import { Outcome } from '../parts/outcome.tsx';
import type { PublishResult } from '../types.ts';

interface Sent { type: string; key: string; data: string; time: number; result?: PublishResult }

const RECENT_KEY = `fnrun-ui-recent-sends:${NAMESPACE}`;
const MAX_RECENT = 15;

function loadRecent(): Sent[] {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]') as Sent[];
    return Array.isArray(list) ? list.filter((s) => typeof s.type === 'string' && typeof s.data === 'string') : [];
  } catch {
    return []; // unreadable history: start a new one
  }
}

function jsonProblem(text: string): string | null {
  try {
    JSON.parse(text);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

export function SendPage({ canChange }: { canChange: boolean }) {
  const live = useLive();
  const [type, setType] = useState('');
  const [key, setKey] = useState('');
  const [data, setData] = useState('{}');
  const [recent, setRecent] = useState<Sent[]>(loadRecent);
  const [last, setLast] = useState<Sent | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const typeProblem = type === '' ? 'required' : isEventType(type) ? null : 'dotted names of letters, digits, "_" and "-", e.g. post.created';
  const dataProblem = jsonProblem(data);
  const subscribers = typeProblem === null ? live.functions.filter((f) => compileEventMatcher(f.events)(type)).map((f) => f.name) : [];
  const suggestions = [...new Set(live.functions.flatMap((f) => f.events).filter((e) => !e.includes('*')))].sort();

  const send = async (s: { type: string; key: string; data: string }) => {
    setBusy(true);
    setError(null);
    try {
      const result = await post<PublishResult>('events', { type: s.type, key: s.key === '' ? null : s.key, data: JSON.parse(s.data) });
      const sent: Sent = { ...s, time: Date.now(), result };
      setLast(sent);
      const next = [sent, ...recent.filter((r) => !(r.type === s.type && r.key === s.key && r.data === s.data))].slice(0, MAX_RECENT);
      setRecent(next);
      localStorage.setItem(RECENT_KEY, JSON.stringify(next));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const invalid = typeProblem !== null || dataProblem !== null;
  const handled = last?.result ? outcomeOf(live.records, { partition: last.result.partition, eventId: last.result.id }) : [];

  return (
    <div class="columns">
      <form class="card send" aria-labelledby="send-title" onSubmit={(e) => { e.preventDefault(); if (!invalid) void send({ type, key, data }); }}>
        <h2 id="send-title">Send an event</h2>
        <label class="field" for="send-type"><span>Type</span>
          <input id="send-type" list="send-types" value={type} required autocomplete="off" spellcheck={false} placeholder="post.created"
            aria-invalid={type !== '' && typeProblem !== null} aria-describedby="send-type-help" onInput={(e) => setType((e.target as HTMLInputElement).value)} />
        </label>
        <datalist id="send-types">{suggestions.map((s) => <option key={s} value={s} />)}</datalist>
        <p id="send-type-help" class={`help ${type !== '' && typeProblem ? 'bad' : ''}`}>
          {type !== '' && typeProblem ? typeProblem : subscribers.length > 0 ? `Handled by ${subscribers.join(', ')}` : typeProblem === null ? 'No running function subscribes to this type.' : 'The event type, e.g. post.created.'}
        </p>
        <label class="field" for="send-key"><span>Key</span>
          <input id="send-key" value={key} autocomplete="off" spellcheck={false} placeholder="thread-42" aria-describedby="send-key-help" onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
        </label>
        <p id="send-key-help" class="help">Optional. Events of one key go to one partition and are handled in order.</p>
        <label class="field" for="send-data"><span>Data (JSON)</span>
          <textarea id="send-data" rows={8} spellcheck={false} value={data} aria-invalid={dataProblem !== null} aria-describedby="send-data-help"
            onInput={(e) => setData((e.target as HTMLTextAreaElement).value)} />
        </label>
        <p id="send-data-help" class={`help ${dataProblem ? 'bad' : ''}`}>{dataProblem ? `Not JSON: ${dataProblem}` : 'Valid JSON.'}</p>
        <div class="actions">
          <button type="submit" class="primary" disabled={!canChange || invalid || busy} title={canChange ? undefined : 'read-only: changes need the UI token'}>{busy ? 'Sending…' : 'Send'}</button>
        </div>
        {error ? <p class="notice bad" role="alert">{error}</p> : null}
        {last?.result ? (
          <div class="notice" role="status">
            <p>Sent <span class="mono">{last.type}</span>{last.key ? <> · key <span class="mono">{last.key}</span></> : null} as event <span class="mono">{last.result.partition}/{last.result.id}</span>{last.result.duplicate ? ' (a duplicate: nothing appended)' : ''}.</p>
            {handled.length === 0 ? <p class="muted small">Waiting for invocations…</p> : (
              <ul class="plain">{handled.map((r) => <li key={`${r.function}/${r.attempt}`}>{r.function} <Outcome r={r} /> <span class="muted small">{duration(r.durationMs)}</span></li>)}</ul>
            )}
          </div>
        ) : null}
      </form>
      <section class="card" aria-labelledby="recent-title">
        <h2 id="recent-title">Recent sends</h2>
        {recent.length === 0 ? <p class="muted">Events you send appear here, to send again.</p> : (
          <ul class="plain recent">
            {recent.map((s, i) => (
              <li key={i}>
                <div class="recent-head">
                  <span class="clip"><span class="mono">{s.type}</span>{s.key ? <span class="mono muted"> · {s.key}</span> : null} <span class="muted small">{clock(s.time).slice(0, 8)}</span></span>
                  <span class="row-actions">
                    <button type="button" class="small" disabled={!canChange || busy} onClick={() => void send(s)}>Send again</button>
                    <button type="button" class="small" onClick={() => { setType(s.type); setKey(s.key); setData(s.data); document.getElementById('send-type')?.focus(); }}>Edit</button>
                  </span>
                </div>
                <code class="clip block">{s.data}</code>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
