/**
 * What `fnrun dev` and `fnrun start` show of themselves beyond logs: the invocation feed (for
 * `fnrun tail` and the UI's Live page) and the browser UI. dev serves the UI on its own port
 * (default {@link DEFAULT_UI_PORT}); start serves it at `/ui/` of `--http-port`.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, connectRedis, FeedPublisher, type HttpEndpoint, type InvocationRecord, type Redis, type Runtime, type RuntimeMetrics, startHttpServer, UiService } from '../runtime/internal.ts';

/** `fnrun dev`'s UI port; when it is taken, the next free one of the following {@link PORT_TRIES} is used. */
export const DEFAULT_UI_PORT = 7400;
const PORT_TRIES = 10;
const MIN_TOKEN_CHARS = 16;

export const DEV_UI_OPTIONS = { 'ui-port': { type: 'string' }, 'no-ui': { type: 'boolean' } } as const;
export const START_UI_OPTIONS = { 'ui-token': { type: 'string' }, 'no-ui': { type: 'boolean' } } as const;

export const DEV_UI_HELP = `  --ui-port N        serve the browser UI on http://127.0.0.1:N (default: $FNRUN_UI_PORT, else
                     ${DEFAULT_UI_PORT} or the next free port after it; 0: any free port)
  --no-ui            no browser UI`;
export const START_UI_HELP = `  --ui-token TOKEN   with --http-port: the UI at /ui/ allows changes (replay, purge, send an
                     event, state) to requests carrying this token; without it (or
                     $FNRUN_UI_TOKEN) the UI is read-only. At least ${MIN_TOKEN_CHARS} characters.
  --no-ui            do not serve the UI at /ui/`;

export class LiveSurface {
  readonly #mode: 'dev' | 'start';
  readonly #values: Record<string, unknown>;
  #redis: Redis | null = null;
  #feed: FeedPublisher | null = null;
  #ui: UiService | null = null;
  #server: HttpEndpoint | null = null;

  constructor(mode: 'dev' | 'start', values: Record<string, unknown>) {
    this.#mode = mode;
    this.#values = values;
    if (mode === 'start' && this.#startToken() !== null && values['http-port'] === undefined) {
      throw new ConfigError('--ui-token needs --http-port: the UI is served at /ui/ of the operations endpoint');
    }
  }

  /** The runtime's `onInvocation`: `print` (dev's lines), then the feed and the UI. */
  tap(print?: (r: InvocationRecord) => void): (r: InvocationRecord) => void {
    return (r) => {
      print?.(r);
      this.#feed?.record(r);
      this.#ui?.record(r);
    };
  }

  /** Starts the feed, and the UI unless `--no-ui` (start: only with `--http-port`). */
  async open(runtime: Runtime, redisUrl: string, httpHost: string | undefined): Promise<void> {
    const source = runtime.memberId ?? `dev:${hostname()}:${process.pid}`;
    this.#redis = await connectRedis(redisUrl, 'fnrun-feed-publisher');
    this.#feed = new FeedPublisher(this.#redis, runtime.keys, source);
    this.#feed.start();
    if (this.#values['no-ui'] === true || (this.#mode === 'start' && this.#values['http-port'] === undefined)) return;
    const token = this.#mode === 'dev' ? randomBytes(24).toString('base64url') : this.#startToken();
    const host = this.#mode === 'dev' ? '127.0.0.1' : httpHost ?? '127.0.0.1';
    this.#ui = await UiService.start({ mode: this.#mode, redisUrl, runtime, base: this.#mode === 'dev' ? '/' : '/ui/', host, token, source });
  }

  /** start: the routes to mount on the operations endpoint. */
  get routes(): UiService['handle'] | undefined {
    return this.#ui?.handle;
  }

  /** dev: serves the UI on its port; returns its URL (null with `--no-ui`). */
  async serveDev(runtime: Runtime, metrics: RuntimeMetrics): Promise<string | null> {
    if (this.#ui === null) return null;
    const raw = (this.#values['ui-port'] as string | undefined) ?? (process.env.FNRUN_UI_PORT || undefined);
    const port = raw === undefined ? DEFAULT_UI_PORT : Number(raw);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--ui-port must be a port number, got ${JSON.stringify(raw)}`);
    const tries = raw === undefined ? PORT_TRIES : 1;
    for (let i = 0; i < tries; i++) {
      try {
        this.#server = await startHttpServer({ port: port + i, host: '127.0.0.1', metrics, notReady: () => runtime.notReady(), routes: this.#ui.handle });
        return `http://127.0.0.1:${this.#server.port}/`;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      }
    }
    throw new ConfigError(raw === undefined
      ? `the UI ports ${port}–${port + PORT_TRIES - 1} are all in use; pass --ui-port N (0: any free port) or --no-ui`
      : `UI port ${port} (--ui-port or FNRUN_UI_PORT) is in use; pick another (0: any free port) or pass --no-ui`);
  }

  /** Stops the UI and the feed. Idempotent. */
  async close(): Promise<void> {
    await this.#server?.close();
    this.#server = null;
    await this.#ui?.close();
    this.#ui = null;
    await this.#feed?.stop();
    this.#feed = null;
    if (this.#redis !== null && this.#redis.status !== 'end') await this.#redis.quit().catch(() => this.#redis?.disconnect());
    this.#redis = null;
  }

  #startToken(): string | null {
    const token = (this.#values['ui-token'] as string | undefined) || process.env.FNRUN_UI_TOKEN || null;
    if (token !== null && token.length < MIN_TOKEN_CHARS) {
      throw new ConfigError(`the UI token (--ui-token or FNRUN_UI_TOKEN) must be at least ${MIN_TOKEN_CHARS} characters; make one with: openssl rand -hex 16`);
    }
    return token;
  }
}
