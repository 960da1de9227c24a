/**
 * `fnrun dev`: runs ./functions with hot reload, on an embedded Redis when none is given.
 */
import path from 'node:path';
import { ConfigError, FnrunError } from '../../runtime/errors.ts';
import { DevSession } from '../../runtime/drivers/dev-session.ts';
import { embeddedDataDir, redisAnswers, startEmbeddedRedis, type EmbeddedRedis } from '../embedded-redis.ts';
import { pino } from 'pino';
import type { Logger } from '../../runtime/logger.ts';
import { Runtime } from '../../runtime/runtime.ts';
import { formatInvocation, formatLog } from '../invocation-line.ts';
import type { HttpEndpoint } from '../../runtime/ops/http-server.ts';
import { RuntimeMetrics } from '../../runtime/ops/metrics.ts';
import { HTTP_HELP, HTTP_OPTIONS, httpPort, serveOps } from '../ops-endpoint.ts';
import { RETENTION_HELP, RETENTION_OPTIONS, retentionPolicy, withRetention } from '../retention-options.ts';
import { COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';
import { forceExitAfter, untilShutdownSignal } from '../shutdown.ts';
import { DEV_UI_HELP, DEV_UI_OPTIONS, LiveSurface } from '../live-surface.ts';

export const HELP = `Usage: fnrun dev [--dir ./functions] [--redis URL|embedded] [--log pretty|json]

Runs every function in --dir and reloads one when you save it. A build error or a bad manifest
is printed and the previous version keeps running. Prints one line per invocation.

Redis: --redis, else $FNRUN_REDIS_URL, else 127.0.0.1:6379 if it answers, else an embedded
redis-server (from PATH) with its data in .fnrun/ (--redis embedded forces that).

Options:
  --dir DIR          the functions folder (default: ./functions)
  --log pretty|json  output format (default: pretty)
${DEV_UI_HELP}
${HTTP_HELP}
${RETENTION_HELP}
${COMMON_HELP}`;

const OPTIONS = { dir: { type: 'string' }, log: { type: 'string' }, ...HTTP_OPTIONS, ...RETENTION_OPTIONS, ...DEV_UI_OPTIONS } as const;

/** Longest a shutdown may take before the process exits anyway (and says why). */
const SHUTDOWN_LIMIT_MS = 10_000;

export async function run(argv: string[], out: Output): Promise<number> {
  // Positionals are refused by parseCommand itself (allowPositionals: false).
  const { common, values } = parseCommand(argv, OPTIONS, false);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  const format = (values.log as string | undefined) ?? 'pretty';
  if (format !== 'pretty' && format !== 'json') throw new ConfigError(`--log must be pretty or json, got ${JSON.stringify(format)}`);
  const dir = path.resolve((values.dir as string | undefined) ?? 'functions');
  const write = (line: string) => process.stdout.write(`${line}\n`);
  const json = format === 'json';

  let embedded: EmbeddedRedis | null = null;
  let redisUrl = common.redis ?? 'redis://127.0.0.1:6379';
  const wantsEmbedded = common.redis === 'embedded' || (common.redis === null && !(await redisAnswers('127.0.0.1', 6379)));
  if (wantsEmbedded) {
    embedded = await startEmbeddedRedis(embeddedDataDir());
    redisUrl = embedded.url;
  }

  const port = httpPort(values);
  const metrics = new RuntimeMetrics();
  let endpoint: HttpEndpoint | null = null;
  let runtime: Runtime | null = null;
  let session: DevSession | null = null;
  const surface = new LiveSurface('dev', values);
  try {
    runtime = await Runtime.create({
      redis: redisUrl,
      namespace: common.namespace,
      ...(common.partitions ? { partitions: common.partitions } : {}),
      metrics,
      ...withRetention(retentionPolicy(values)),
      logger: json ? pino({ base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true })) : quietRuntimeLogger(write),
      // In JSON mode handler logs are already lines of their own (from the logger).
      onInvocation: surface.tap(json ? ({ logs: _logs, ...r }) => write(JSON.stringify({ kind: 'invocation', time: Date.now(), ...r })) : (r) => {
        // A handler's logs first, then the outcome line that closes the invocation.
        if (r.logs) for (const l of r.logs) write(formatLog(r.function, l.level, l.msg, l.time));
        write(formatInvocation(r));
      }),
    });
    await runtime.start();
    endpoint = port === null ? null : await serveOps(runtime, metrics, port, values['http-host'] as string | undefined);
    await surface.open(runtime, redisUrl, undefined);
    const uiUrl = await surface.serveDev(runtime, metrics);
    const notice = (data: object, text: string) => write(json ? JSON.stringify({ time: Date.now(), ...data }) : text);
    notice({ kind: 'started', redis: redisUrl, embedded: embedded !== null, partitions: runtime.partitions, dir, httpPort: endpoint?.port ?? null, uiUrl },
      `fnrun dev · ${dir} · Redis ${redisUrl}${embedded ? ' (embedded, data in .fnrun/redis)' : ''} · ${runtime.partitions} partitions${uiUrl ? ` · UI ${uiUrl}` : ''}${endpoint ? ` · metrics on http://127.0.0.1:${endpoint.port}/metrics` : ''} · Ctrl-C to stop`);
    session = new DevSession(runtime, dir, {
      loaded: (fn, info) => notice({ kind: 'loaded', function: fn.name, version: fn.version, reload: info.reload, ms: info.ms },
        `${info.reload ? 'reloaded' : 'loaded'} ${fn.name} (${fn.version}) · events ${fn.manifest.events.join(', ')}${info.reload ? ` · live in ${info.ms} ms` : ''}`),
      failed: (name, file, error) => notice({ kind: 'error', function: name, file, code: (error as FnrunError).code, message: error.message },
        `✖ ${name}: ${error.message}${name !== '(functions)' && runtimeHas(runtime, name) ? `\n  (the previous version of ${name} keeps running)` : ''}`),
      removed: (name) => notice({ kind: 'removed', function: name }, `removed ${name}`),
    });
    await session.start();
    await untilShutdownSignal();
    notice({ kind: 'stopping' }, 'stopping: finishing the invocations in flight…');
    forceExitAfter(SHUTDOWN_LIMIT_MS, 'dev', ' (a handler still running?)');
    return 0;
  } finally {
    await endpoint?.close();
    await session?.stop();
    await runtime?.stop();
    await surface.close();
    await embedded?.stop();
  }
}

function runtimeHas(runtime: Runtime | null, name: string): boolean {
  return runtime?.functions.some((f) => f.name === name) ?? false;
}

/** Invocation lines already say what happened; the runtime's own lines show only problems. */
function quietRuntimeLogger(write: (line: string) => void): Logger {
  const line = (level: string) => (obj: object, msg?: string) => {
    if ('eventId' in obj && !('err' in obj)) return; // handler logs and outcomes are printed per invocation
    const err = (obj as { err?: Error }).err;
    write(`${level}: ${msg ?? ''}${err ? ` — ${err.message}` : ''}`);
  };
  return { debug: () => {}, info: () => {}, warn: line('warn'), error: line('error') };
}
