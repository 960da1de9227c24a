/**
 * `fnrun dev`: runs ./functions with hot reload, on an embedded Redis when none is given.
 */
import path from 'node:path';
import { ConfigError, DevSession, FnrunError, type HttpEndpoint, redactRedisUrl, Runtime, RuntimeMetrics } from '../../runtime/internal.ts';
import { embeddedDataDir, startEmbeddedRedis, type EmbeddedRedis } from '../embedded-redis.ts';
import { pino } from 'pino';
import { formatInvocation, formatLog } from '../invocation-line.ts';
import { colorEnabled, palette } from '../color.ts';
import { watchPresence } from '../dev-presence.ts';
import { devLogFormat, quietRuntimeLogger } from '../dev-output.ts';
import { escapeControlLines, jsonLine } from '../escape.ts';
import { escapedStdout } from '../log-destination.ts';
import { noFunctionsHint, requireFunctionsDir } from '../functions-dir.ts';
import { HTTP_HELP, HTTP_OPTIONS, httpPort, serveOps } from '../ops-endpoint.ts';
import { RETENTION_HELP, RETENTION_OPTIONS, retentionPolicy, withRetention } from '../retention-options.ts';
import { ENV_HELP, ENV_OPTIONS, envPolicy } from '../env-options.ts';
import { COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';
import { forceExitAfter, untilShutdownSignal } from '../shutdown.ts';
import { DevTypecheck } from '../dev-typecheck.ts';
import { DEV_UI_HELP, DEV_UI_OPTIONS, LiveSurface } from '../live-surface.ts';

export const HELP = `Usage: fnrun dev [--dir ./functions] [--redis URL] [--log pretty|json]

Runs every function in --dir and reloads one when you save it. A build error or a bad manifest
is printed and the previous version keeps running. Prints one line per invocation.

Redis: --redis, else $FNRUN_REDIS_URL, else this project's own embedded redis-server (from PATH,
data in .fnrun/redis/): a shared Redis is used only when you name it. The first line says which
Redis and namespace are in use; fnrun emit, dlq and status run in this folder find the embedded one.

Options:
  --dir DIR          the functions folder (default: ./functions)
  --log pretty|json  output format (default: pretty); --json is --log json
${DEV_UI_HELP}
${HTTP_HELP}
${RETENTION_HELP}
${ENV_HELP}
${COMMON_HELP}`;

const OPTIONS = { dir: { type: 'string' }, log: { type: 'string' }, ...HTTP_OPTIONS, ...RETENTION_OPTIONS, ...ENV_OPTIONS, ...DEV_UI_OPTIONS } as const;

/** Longest a shutdown may take before the process exits anyway (and says why). */
const SHUTDOWN_LIMIT_MS = 10_000;

export async function run(argv: string[], out: Output): Promise<number> {
  // Positionals are refused by parseCommand itself (allowPositionals: false).
  const { common, values } = parseCommand(argv, OPTIONS, false);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  const format = devLogFormat(values.log as string | undefined, common.json);
  const dir = path.resolve((values.dir as string | undefined) ?? 'functions');
  requireFunctionsDir(dir);
  // Before anything starts: a bad --env-file or --allow-env is a one-line error.
  const operatorEnv = envPolicy(values);
  const write = (line: string) => process.stdout.write(`${line}\n`);
  const json = format === 'json';
  const paint = palette(!json && colorEnabled(process.stdout, common.noColor));

  let embedded: EmbeddedRedis | null = null;
  let redisUrl = common.redis ?? '';
  if (common.redis === null || common.redis === 'embedded') {
    embedded = await startEmbeddedRedis(embeddedDataDir());
    redisUrl = embedded.url;
  }

  const port = httpPort(values);
  const metrics = new RuntimeMetrics();
  let endpoint: HttpEndpoint | null = null;
  let runtime: Runtime | null = null;
  let session: DevSession | null = null;
  let presence: { stop(): Promise<void> } | null = null;
  let typecheck: DevTypecheck | null = null;
  const surface = new LiveSurface('dev', values);
  // Armed before start-up: a Ctrl-C while functions load (after the first "loaded" line) waits
  // for start-up to finish, then drains, instead of killing the process on the spot.
  const shutdown = untilShutdownSignal();
  try {
    runtime = await Runtime.create({
      redis: redisUrl,
      namespace: common.namespace,
      ...(common.partitions ? { partitions: common.partitions } : {}),
      metrics,
      ...withRetention(retentionPolicy(values)),
      ...operatorEnv,
      logger: json ? pino({ base: { pid: process.pid } }, escapedStdout()) : quietRuntimeLogger(write, paint),
      // In JSON mode handler logs are already lines of their own (from the logger).
      onInvocation: surface.tap(json ? ({ logs: _logs, ...r }) => write(jsonLine({ kind: 'invocation', time: Date.now(), ...r })) : (r) => {
        // A handler's logs first, then the outcome line that closes the invocation.
        if (r.logs) for (const l of r.logs) write(formatLog(r.function, l.level, l.msg, l.time, paint));
        write(formatInvocation(r, paint));
      }),
    });
    await runtime.start();
    endpoint = port === null ? null : await serveOps(runtime, metrics, port, values['http-host'] as string | undefined);
    await surface.open(runtime, redisUrl, undefined);
    const uiUrl = await surface.serveDev(runtime, metrics);
    const notice = (data: object, text: string, tone?: 'red' | 'yellow') => write(json ? jsonLine({ time: Date.now(), ...data }) : (tone ? paint[tone] : String)(escapeControlLines(text)));
    const shownUrl = redactRedisUrl(redisUrl);
    notice({ kind: 'started', redis: shownUrl, embedded: embedded !== null, namespace: common.namespace, partitions: runtime.partitions, dir, httpPort: endpoint?.port ?? null, uiUrl },
      `fnrun dev · ${dir} · Redis ${shownUrl}${embedded ? ' (embedded, data in .fnrun/redis)' : ''} · namespace ${common.namespace} · ${runtime.partitions} partitions${uiUrl ? ` · UI ${uiUrl}` : ''}${endpoint ? ` · metrics on http://127.0.0.1:${endpoint.port}/metrics` : ''} · Ctrl-C to stop`);
    if (embedded?.tookOver) {
      const message = 'the embedded Redis an earlier fnrun dev left running (it was killed) was stopped and started again; its data is kept';
      notice({ kind: 'warning', message }, `note: ${message}`, 'yellow');
    }
    presence = await watchPresence(redisUrl, runtime.keys, (message) => notice({ kind: 'warning', message }, `warning: ${message}`, 'yellow'));
    typecheck = new DevTypecheck(dir, notice);
    session = new DevSession(runtime, dir, typecheck.watch({
      loaded: (fn, info) => notice({ kind: 'loaded', function: fn.name, version: fn.version, reload: info.reload, ms: info.ms, unchanged: info.unchanged === true },
        info.unchanged
          ? `${fn.name} builds again; its running version ${fn.version} is unchanged`
          : `${info.reload ? 'reloaded' : 'loaded'} ${fn.name} (${fn.version}) · events ${fn.manifest.events.join(', ')}${info.reload ? ` · live in ${info.ms} ms` : ''}`),
      failed: (name, file, error) => notice({ kind: 'error', function: name, file, code: (error as FnrunError).code, message: error.message },
        `✖ ${name}: ${error.message}${name !== '(functions)' && runtimeHas(runtime, name) ? `\n  (the previous version of ${name} keeps running)` : ''}`, 'red'),
      removed: (name) => notice({ kind: 'removed', function: name }, `removed ${name}`),
      empty: () => notice({ kind: 'empty', dir, message: noFunctionsHint(dir) }, noFunctionsHint(dir), 'yellow'),
    }));
    await session.start();
    await shutdown;
    notice({ kind: 'stopping' }, 'stopping: finishing the invocations in flight…');
    forceExitAfter(SHUTDOWN_LIMIT_MS, 'dev', ' (a handler still running?)');
    return 0;
  } finally {
    await presence?.stop();
    await endpoint?.close();
    await session?.stop();
    await typecheck?.stop();
    await runtime?.stop();
    await surface.close();
    await embedded?.stop();
  }
}

function runtimeHas(runtime: Runtime | null, name: string): boolean {
  return runtime?.functions.some((f) => f.name === name) ?? false;
}
