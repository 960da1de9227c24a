/**
 * `fnrun start`: the production runtime. Runs the deployed functions and shares the partitions with
 * every other `fnrun start` on the same Redis and namespace.
 */
import { ConfigError, connectRedis, type HttpEndpoint, MIN_LEASE_TTL_MS, Registry, RegistryFollower, Runtime, RUNTIME_DEFAULTS, RuntimeMetrics } from '../../runtime/internal.ts';
import { pino } from 'pino';
import { HTTP_HELP, HTTP_OPTIONS, httpPort, serveOps } from '../ops-endpoint.ts';
import { RETENTION_HELP, RETENTION_OPTIONS, retentionPolicy, withRetention } from '../retention-options.ts';
import { ENV_HELP, ENV_OPTIONS, envPolicy } from '../env-options.ts';
import { COMMON_HELP, defaultRedisUrl, parseCommand } from '../options.ts';
import { nothingDeployedMessage } from '../start-notes.ts';
import { escapedStdout } from '../log-destination.ts';
import type { Output } from '../output.ts';
import { forceExitAfter, untilShutdownSignal } from '../shutdown.ts';
import { LiveSurface, START_UI_HELP, START_UI_OPTIONS } from '../live-surface.ts';

export const HELP = `Usage: fnrun start [--lease-ttl MS] [--batch-size N]

Runs the functions deployed with fnrun deploy, picks up new deploys within about a second without a
restart, and shares the namespace's partitions with every other fnrun start on the same Redis
(each process owns a balanced share; a dead process's partitions move after the lease TTL).
SIGTERM/SIGINT: finish the invocations in flight, hand the partitions over, exit 0.
Logs are JSON lines on stdout.

Options:
  --lease-ttl MS     partition lease time-to-live (default 10000, at least 500)
  --batch-size N     entries per read and per sandbox call (default 100)
${HTTP_HELP}
${START_UI_HELP}
${RETENTION_HELP}
${ENV_HELP}
${COMMON_HELP}`;

const OPTIONS = { 'lease-ttl': { type: 'string' }, 'batch-size': { type: 'string' }, ...HTTP_OPTIONS, ...RETENTION_OPTIONS, ...ENV_OPTIONS, ...START_UI_OPTIONS } as const;

/** Longest a shutdown may take before the process exits anyway (and says why). */
const SHUTDOWN_LIMIT_MS = 30_000;

export async function run(argv: string[], out: Output): Promise<number> {
  // Positionals are refused by parseCommand itself (allowPositionals: false).
  const { common, values } = parseCommand(argv, OPTIONS, false);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  const number = (name: string, fallback: number) => {
    const raw = values[name] as string | undefined;
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    return n;
  };
  const leaseTtlMs = number('lease-ttl', RUNTIME_DEFAULTS.leaseTtlMs);
  if (leaseTtlMs < MIN_LEASE_TTL_MS) throw new ConfigError(`--lease-ttl must be at least ${MIN_LEASE_TTL_MS} (ms), so that a lease is renewed three times before it expires; got ${leaseTtlMs}`);
  const batchSize = number('batch-size', 100);
  const operatorEnv = envPolicy(values);
  const redisUrl = common.redis ?? defaultRedisUrl();
  const port = httpPort(values);
  // pino, synchronous to stdout: the last lines before an exit are not lost.
  const logger = pino({ base: { pid: process.pid } }, escapedStdout());
  const metrics = new RuntimeMetrics();
  const surface = new LiveSurface('start', values);
  // Armed before start-up: a SIGTERM while the deployed functions load is a drain, not a kill.
  const shutdown = untilShutdownSignal();

  const runtime = await Runtime.create({
    redis: redisUrl,
    namespace: common.namespace,
    ...(common.partitions ? { partitions: common.partitions } : {}),
    batchSize,
    leases: { leaseTtlMs },
    logger,
    metrics,
    onInvocation: surface.tap(),
    ...withRetention(retentionPolicy(values)),
    ...operatorEnv,
  });
  const registryRedis = await connectRedis(redisUrl, 'fnrun-registry');
  const follower = new RegistryFollower(runtime, new Registry(registryRedis, runtime.keys), logger);
  let endpoint: HttpEndpoint | null = null;
  try {
    await runtime.start();
    await follower.start();
    await surface.open(runtime, redisUrl, values['http-host'] as string | undefined);
    endpoint = port === null ? null : await serveOps(runtime, metrics, port, values['http-host'] as string | undefined, surface.routes);
    logger.info({ member: runtime.memberId, httpPort: endpoint?.port ?? null, partitions: runtime.ownedPartitions, functions: runtime.functions.map((f) => `${f.name}@${f.version}`) }, 'fnrun start: ready');
    if (runtime.functions.length === 0) logger.warn({ namespace: common.namespace }, nothingDeployedMessage(common.namespace, redisUrl));
    await shutdown;
    logger.info({}, 'stopping: finishing the invocations in flight and handing the partitions over');
    forceExitAfter(SHUTDOWN_LIMIT_MS, 'start', '');
    return 0;
  } finally {
    await endpoint?.close();
    await follower.stop();
    await runtime.stop();
    await surface.close();
    registryRedis.disconnect();
  }
}
