/**
 * The browser UI of `fnrun dev` (at `/` of its own port) and `fnrun start` (at `/ui/` of the
 * operations endpoint): a request handler to mount on an HTTP server, plus, in dev, the hook that
 * hands it this process's invocations. See README "Browser UI".
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DeadLetterQueue } from '../../dead-letters/dead-letters.ts';
import { FnrunError } from '../../errors.ts';
import { Publisher } from '../../events/publisher.ts';
import type { FunctionHandle, InvocationRecord } from '../../loading/function-handle.ts';
import { RateWindow } from '../../policy/rate-window.ts';
import type { Keys } from '../../redis/keys.ts';
import { connectRedis, type Redis } from '../../redis/redis.ts';
import { StateStore } from '../../state/state-store.ts';
import { toFeedRecord } from '../feed/feed-record.ts';
import { subscribeFeed } from '../feed/feed-subscriber.ts';
import { getStatus } from '../status.ts';
import { findRoute, type ApiContext } from './ui-api.ts';
import { ICON_SVG, pageHtml, SECURITY_HEADERS, uiAssets } from './ui-assets.ts';
import { loopbackHosts, refusal, type RequestKind } from './ui-guard.ts';
import { UiHub } from './ui-hub.ts';

/** What the UI reads of the runtime it serves (a {@link Runtime} is one). */
export interface UiRuntime {
  readonly keys: Keys;
  readonly partitions: number;
  readonly functions: readonly FunctionHandle[];
}

export interface UiOptions {
  /** `dev`: this process's invocations feed the Live page, and the page carries the token. `start`: the feed of every process does. */
  mode: 'dev' | 'start';
  redisUrl: string;
  runtime: UiRuntime;
  /** Path the UI is served under, with a trailing slash: `/` or `/ui/`. */
  base: string;
  /** Interface the server listens on: a loopback one makes the Host header checked. */
  host: string;
  /** What mutations need; null makes the UI read-only. */
  token: string | null;
  /** How an operator gets a token, for the read-only refusal. @defaultValue a hint naming --ui-token */
  readOnlyHint?: string;
  /** Who runs the invocations shown in dev (the feed's `source`). */
  source?: string;
}

const MAX_BODY_BYTES = 2 * 1024 * 1024;

export class UiService {
  readonly #opts: UiOptions;
  readonly #redis: Redis;
  readonly #hub: UiHub;
  readonly #api: ApiContext;

  private constructor(opts: UiOptions, redis: Redis, publisher: Publisher) {
    this.#opts = opts;
    this.#redis = redis;
    const { keys, partitions } = opts.runtime;
    const rates = new RateWindow(10_000);
    this.#hub = new UiHub({
      hello: { mode: opts.mode, namespace: keys.namespace, readOnly: opts.token === null },
      functions: () => opts.runtime.functions,
      status: () => getStatus(redis, keys, { rates }),
      ...(opts.mode === 'start' ? { follow: (add) => subscribeFeed(opts.redisUrl, keys, (m) => add(m.records)) } : {}),
    });
    this.#api = { hub: this.#hub, dlq: new DeadLetterQueue(redis, keys, partitions), publisher, state: new StateStore(redis, keys, partitions) };
  }

  static async start(opts: UiOptions): Promise<UiService> {
    const redis = await connectRedis(opts.redisUrl, 'fnrun-ui');
    try {
      const publisher = await Publisher.connect({ redis, namespace: opts.runtime.keys.namespace, partitions: opts.runtime.partitions });
      return new UiService(opts, redis, publisher);
    } catch (error) {
      redis.disconnect();
      throw error;
    }
  }

  /** The `onInvocation` hook for dev mode (start mode reads the feed instead). */
  readonly record = (r: InvocationRecord): void => {
    if (this.#opts.mode === 'dev') this.#hub.add([toFeedRecord(r, Date.now(), this.#opts.source ?? 'dev')]);
  };

  /** Serves `req` when its path is under the UI's base; returns false (and does nothing) otherwise. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://ui.invalid');
    const base = this.#opts.base;
    if (url.pathname === base.slice(0, -1) && base !== '/') {
      res.writeHead(308, { ...SECURITY_HEADERS, location: base }).end();
      return true;
    }
    if (!url.pathname.startsWith(base)) return false;
    const rel = url.pathname.slice(base.length);
    const kind: RequestKind = rel === '' ? 'page' : req.method === 'POST' ? 'mutation' : 'read';
    const refused = refusal(req, kind, {
      allowedHosts: loopbackHosts(this.#opts.host, req.socket.localPort ?? 0),
      token: this.#opts.token,
      readOnlyHint: this.#opts.readOnlyHint ?? 'restart fnrun start with --ui-token (or FNRUN_UI_TOKEN) to allow changes',
    });
    if (refused !== null) {
      json(res, 403, { error: refused });
      return true;
    }
    void this.#serve(req, res, rel, url.searchParams).catch((error: unknown) => {
      if (!res.headersSent) json(res, statusOf(error), { error: (error as Error).message });
      else res.destroy();
    });
    return true;
  };

  /** Ends the live streams and closes the UI's connections. Idempotent. */
  async close(): Promise<void> {
    await this.#hub.close();
    await this.#api.publisher.close();
    if (this.#redis.status !== 'end') await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  async #serve(req: IncomingMessage, res: ServerResponse, rel: string, query: URLSearchParams): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'POST') return json(res, 405, { error: 'method not allowed' });
    if (rel === '') {
      const { etag } = await uiAssets();
      const token = this.#opts.mode === 'dev' ? this.#opts.token : null;
      return send(res, 200, 'text/html; charset=utf-8', pageHtml({ base: this.#opts.base, mode: this.#opts.mode, namespace: this.#opts.runtime.keys.namespace, token, etag }));
    }
    if (rel === 'assets/app.js') return send(res, 200, 'text/javascript; charset=utf-8', (await uiAssets()).js, true);
    if (rel === 'assets/app.css') return send(res, 200, 'text/css; charset=utf-8', (await uiAssets()).css, true);
    if (rel === 'assets/icon.svg') return send(res, 200, 'image/svg+xml', ICON_SVG, true);
    if (rel === 'api/live') return this.#hub.connect(req, res);
    if (!rel.startsWith('api/')) return json(res, 404, { error: `not found: ${rel}` });
    const found = findRoute(req.method, rel.slice('api/'.length));
    if (found === 'method') return json(res, 405, { error: `${req.method} is not allowed on ${rel}` });
    if (found === null) return json(res, 404, { error: `no such API route: ${rel}` });
    const body = req.method === 'POST' ? await readJson(req) : {};
    json(res, 200, await found.route.run(this.#api, { params: found.params, query, body }));
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, cacheable = false): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': cacheable ? 'max-age=3600' : 'no-store' });
  res.end(body);
}

function json(res: ServerResponse, status: number, data: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(data));
}

function statusOf(error: unknown): number {
  if (!(error instanceof FnrunError)) return 500;
  if (error.code === 'ERR_NOT_FOUND') return 404;
  if (error.userError) return 400;
  return error.expected ? 503 : 500;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new FnrunError('ERR_BAD_REQUEST', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new FnrunError('ERR_BAD_REQUEST', `request body is not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FnrunError('ERR_BAD_REQUEST', 'request body must be a JSON object');
  return value as Record<string, unknown>;
}
