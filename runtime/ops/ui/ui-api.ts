/**
 * The UI's JSON API (paths below `<base>api/`). Every route is a thin call into what the CLI uses
 * too: the dead-letter queue, the publisher, the state store, the status.
 *
 * GET  functions · status · dead-letters[?fn=&limit=] · dead-letters/:fn/:id · state/:fn?key=
 * POST events · dead-letters/:fn/:id/replay · dead-letters/:fn/replay-all · dead-letters/:fn/purge
 *      · state/:fn/set · state/:fn/delete
 */
import type { DeadLetterQueue } from '../../dead-letters/dead-letters.ts';
import { FnrunError } from '../../errors.ts';
import type { Publisher } from '../../events/publisher.ts';
import type { StateStore } from '../../state/state-store.ts';
import type { UiHub } from './ui-hub.ts';

export interface ApiContext {
  hub: UiHub;
  dlq: DeadLetterQueue;
  publisher: Publisher;
  state: StateStore;
}

export interface ApiRequest {
  params: string[];
  query: URLSearchParams;
  body: Record<string, unknown>;
}

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  run(ctx: ApiContext, req: ApiRequest): Promise<unknown>;
}

const SEGMENT = '([^/]+)';
const route = (method: Route['method'], path: string, run: Route['run']): Route =>
  ({ method, pattern: new RegExp(`^${path.replace(/:[a-z]+/g, SEGMENT)}$`), run });

const ROUTES: Route[] = [
  route('GET', 'functions', async ({ hub }) => hub.functions()),
  route('GET', 'status', async ({ hub }) => ({ ...hub.status, history: hub.history.samples() })),
  route('GET', 'dead-letters', async ({ dlq }, { query }) => {
    const fn = query.get('fn') || undefined;
    return dlq.list(fn, { limit: boundedInt(query.get('limit'), 200, 1000) });
  }),
  route('GET', 'dead-letters/:fn/:id', async ({ dlq }, { params: [fn, id] }) => dlq.show(fn!, id!)),
  route('POST', 'dead-letters/:fn/replay-all', async ({ dlq }, { params: [fn] }) => ({ replayed: await dlq.replayAll(fn!) })),
  route('POST', 'dead-letters/:fn/purge', async ({ dlq }, { params: [fn], body }) => ({ purged: await dlq.purge(fn!, optionalString(body, 'id')) })),
  route('POST', 'dead-letters/:fn/:id/replay', async ({ dlq }, { params: [fn, id] }) => {
    const eventId = await dlq.replay(fn!, id!);
    return { eventId, partition: Number(id!.split(':')[0]) };
  }),
  route('POST', 'events', async ({ publisher }, { body }) => {
    const type = requiredString(body, 'type');
    const key = optionalString(body, 'key') ?? null;
    const dedupeId = optionalString(body, 'dedupeId');
    return publisher.publish(type, key === '' ? null : key, body.data ?? null, dedupeId ? { dedupeId } : {});
  }),
  route('GET', 'state/:fn', async ({ state }, { params: [fn], query }) => {
    const key = query.get('key');
    if (key === null || key === '') throw badRequest('give the event key whose state to show (?key=…)');
    return { function: fn, key, entries: await state.get(fn!, key) };
  }),
  route('POST', 'state/:fn/set', async ({ state }, { params: [fn], body }) => {
    const key = requiredString(body, 'key');
    await state.set(fn!, key, requiredString(body, 'name'), body.value);
    return { function: fn, key, entries: await state.get(fn!, key) };
  }),
  route('POST', 'state/:fn/delete', async ({ state }, { params: [fn], body }) => {
    const key = requiredString(body, 'key');
    const removed = await state.delete(fn!, key, optionalString(body, 'name'));
    return { function: fn, key, removed, entries: await state.get(fn!, key) };
  }),
];

/** The route for `method` and `path` (relative to `api/`), with its decoded parameters; null when none. */
export function findRoute(method: string, path: string): { route: Route; params: string[] } | 'method' | null {
  let methodMismatch = false;
  for (const r of ROUTES) {
    const m = r.pattern.exec(path);
    if (m === null) continue;
    if (r.method !== method) {
      methodMismatch = true;
      continue;
    }
    return { route: r, params: m.slice(1).map((p) => decodeURIComponent(p)) };
  }
  return methodMismatch ? 'method' : null;
}

function requiredString(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value === '') throw badRequest(`"${name}" is required (a non-empty string)`);
  return value;
}

function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest(`"${name}" must be a string`);
  return value;
}

function boundedInt(text: string | null, fallback: number, max: number): number {
  const n = text === null ? fallback : Number(text);
  return Number.isInteger(n) && n > 0 ? Math.min(n, max) : fallback;
}

function badRequest(message: string): FnrunError {
  return new FnrunError('ERR_BAD_REQUEST', message);
}
