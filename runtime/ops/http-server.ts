/**
 * The operations endpoint of `fnrun dev` and `fnrun start`: `/metrics` (Prometheus), `/healthz`
 * (the process is alive and its event loop turns) and `/readyz` (it can do its job: Redis answers
 * and the runtime is running).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http } from '../node-http.ts';
import type { RuntimeMetrics } from './metrics.ts';

export interface HttpEndpoint {
  port: number;
  close(): Promise<void>;
}

export interface HttpOptions {
  port: number;
  /** Interface to listen on. @defaultValue `'127.0.0.1'`; use `'0.0.0.0'` inside containers */
  host?: string;
  metrics: RuntimeMetrics;
  /** Why the process is not ready, or null when it is. */
  notReady: () => Promise<string | null>;
  /** More routes, tried first (the browser UI): returns true when it handled the request. */
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/** Starts the endpoint; `port` 0 picks a free one (see the returned `port`). */
export async function startHttpServer(opts: HttpOptions): Promise<HttpEndpoint> {
  const server: Server = http.createServer((req, res) => {
    if (opts.routes?.(req, res)) return;
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return reply(405, 'method not allowed\n');
    if (path === '/healthz') return reply(200, 'ok\n');
    if (path === '/readyz') {
      void opts.notReady().then(
        (reason) => (reason === null ? reply(200, 'ready\n') : reply(503, `not ready: ${reason}\n`)),
        (error: unknown) => reply(503, `not ready: ${(error as Error).message}\n`),
      );
      return;
    }
    if (path === '/metrics') {
      void opts.metrics.registry.metrics().then(
        (text) => reply(200, text, opts.metrics.registry.contentType),
        (error: unknown) => reply(500, `metrics failed: ${(error as Error).message}\n`),
      );
      return;
    }
    reply(404, 'not found: try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
