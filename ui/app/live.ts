/**
 * The one live connection of a tab (`api/live`, server-sent events) and what it brought: the
 * invocations seen, the latest status and its history, the Functions rows. Components read it
 * with {@link useLive}; EventSource reconnects by itself.
 */
import { useEffect, useState } from 'preact/hooks';
import { BASE } from './api.ts';
import type { FeedRecord, FunctionRow, Hello, Status, StatusSample } from './types.ts';

export interface LiveState {
  connected: boolean;
  hello: Hello | null;
  /** Oldest first; at most {@link MAX_RECORDS}. */
  records: FeedRecord[];
  /** Grows with every record ever received (for "N new while paused"). */
  received: number;
  status: Status | null;
  statusError: string | null;
  history: StatusSample[];
  functions: FunctionRow[];
}

const MAX_RECORDS = 2000;
const MAX_SAMPLES = 300;

let state: LiveState = { connected: false, hello: null, records: [], received: 0, status: null, statusError: null, history: [], functions: [] };
const listeners = new Set<() => void>();

function update(patch: Partial<LiveState>): void {
  state = { ...state, ...patch };
  for (const l of listeners) l();
}

function addRecords(records: FeedRecord[]): void {
  // Batches of several processes interleave: keep the list in time order.
  const all = state.records.concat(records).sort((a, b) => a.time - b.time);
  update({ records: all.length > MAX_RECORDS ? all.slice(-MAX_RECORDS) : all, received: state.received + records.length });
}

let source: EventSource | null = null;

/** Opens the stream (once per tab). */
export function connectLive(): void {
  if (source !== null) return;
  source = new EventSource(`${BASE}api/live`);
  const on = <T>(event: string, handle: (data: T) => void) =>
    source!.addEventListener(event, (e) => handle(JSON.parse((e as MessageEvent<string>).data) as T));
  source.onopen = () => update({ connected: true });
  source.onerror = () => update({ connected: false });
  on<Hello>('hello', (hello) => update({ hello, connected: true }));
  on<{ recent: FeedRecord[]; history: StatusSample[]; status: Status | null; statusError: string | null; functions: FunctionRow[] }>('snapshot', (s) => {
    // After a reconnect the server's recent records overlap what we have: keep ours, add the newer.
    const last = state.records.at(-1)?.time ?? 0;
    addRecords(s.recent.filter((r) => r.time > last));
    update({ history: s.history, status: s.status, statusError: s.statusError, functions: s.functions });
  });
  on<FeedRecord[]>('invocations', addRecords);
  on<{ status: Status | null; statusError: string | null; sample: StatusSample | null; functions: FunctionRow[] }>('tick', (t) => {
    const history = t.sample === null ? state.history : state.history.concat(t.sample).slice(-MAX_SAMPLES);
    update({ status: t.status, statusError: t.statusError, history, functions: t.functions });
  });
}

/** The live state; re-renders the component on every change. */
export function useLive(): LiveState {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((v) => v + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return state;
}

/** The record of one event's invocation by `fn`, newest first (a replay or a sent event's outcome). */
export function outcomeOf(records: readonly FeedRecord[], match: { partition: number; eventId: string; fn?: string }): FeedRecord[] {
  return records.filter((r) => r.partition === match.partition && r.eventId === match.eventId && (match.fn === undefined || r.function === match.fn)).reverse();
}

/** Every function name the UI knows: running ones, and any seen in the feed or the status. */
export function functionNames(s: LiveState): string[] {
  const names = new Set(s.functions.map((f) => f.name));
  for (const f of s.status?.functions ?? []) names.add(f.name);
  for (const r of s.records) names.add(r.function);
  return [...names].sort();
}
