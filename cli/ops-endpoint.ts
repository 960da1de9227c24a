/**
 * `--http-port` for dev and start: serves /metrics, /healthz and /readyz for a runtime.
 */
import { ConfigError, type HttpEndpoint, type HttpOptions, type Runtime, type RuntimeMetrics, startHttpServer } from '../runtime/internal.ts';

export const HTTP_OPTIONS = { 'http-port': { type: 'string' }, 'http-host': { type: 'string' } } as const;

export const HTTP_HELP = `  --http-port N      serve /metrics, /healthz and /readyz on this port (0: any free port);
                     fnrun start also serves the browser UI at /ui/ there
  --http-host HOST   interface for --http-port (default 127.0.0.1)`;

/** Parses --http-port; null when not given. */
export function httpPort(values: Record<string, unknown>): number | null {
  const raw = values['http-port'] as string | undefined;
  if (raw === undefined) return null;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--http-port must be a port number, got ${JSON.stringify(raw)}`);
  return port;
}

export function serveOps(runtime: Runtime, metrics: RuntimeMetrics, port: number, host: string | undefined, routes?: HttpOptions['routes']): Promise<HttpEndpoint> {
  // The runtime could do this itself where it attaches its metrics source (runtime.ts).
  metrics.observe(runtime);
  return startHttpServer({ port, ...(host ? { host } : {}), metrics, notReady: () => runtime.notReady(), ...(routes ? { routes } : {}) });
}
