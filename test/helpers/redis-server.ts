/**
 * A private redis-server per test file: unix socket in a temp dir, no TCP, killed at the end.
 * Tests never share state and never touch the service on 6379.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { answersPing } from '../../runtime/redis/redis.ts';
import { waitFor } from './wait-for.ts';

export interface TestRedis {
  /** unix:// URL of the server. */
  url: string;
  socketPath: string;
  dir: string;
  /** A fresh client; closed by stop(). */
  client(): Redis;
  /** Stops the server (SIGTERM, or SIGKILL when `hard`), keeping its data dir. */
  kill(hard?: boolean): Promise<void>;
  /** Starts the server again on the same socket and data dir. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-redis-'));
  const socketPath = join(dir, 'redis.sock');
  const clients: Redis[] = [];
  let proc: ChildProcess | null = null;

  const launch = async () => {
    const args = [
      '--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '700', '--dir', dir,
      '--save', '', '--appendonly', opts.appendonly ? 'yes' : 'no', '--appendfsync', 'always',
      '--daemonize', 'no', '--loglevel', 'warning', '--logfile', join(dir, 'redis.log'),
    ];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    proc = child;
    let exited = false;
    child.once('exit', () => { exited = true; });
    await waitFor(async () => {
      if (exited) throw new Error(`redis-server exited early; see ${join(dir, 'redis.log')}`);
      return existsSync(socketPath) && answersPing({ path: socketPath });
    }, { timeoutMs: 10_000, message: 'redis-server did not start' });
  };

  const kill = async (hard = false) => {
    const child = proc;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
    proc = null;
  };

  await launch();
  return {
    url: `unix://${socketPath}`,
    socketPath,
    dir,
    client() {
      const c = new Redis({ path: socketPath, maxRetriesPerRequest: null });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    kill,
    restart: launch,
    async stop() {
      for (const c of clients) c.disconnect();
      await kill(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
