/**
 * The Redis that `fnrun dev` starts when none is given: `redis-server` from PATH, listening on a
 * unix socket only (no port to collide with) in a private folder (see embedded-socket.ts), with
 * its AOF data under `.fnrun/redis/`, so events survive a restart of `fnrun dev`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { answersPing, FnrunError, shutdownServer } from '../runtime/internal.ts';
import { checkSocket, findSocket, prepareSocket, releaseSocket } from './embedded-socket.ts';

export interface EmbeddedRedis {
  url: string;
  dataDir: string;
  /** True when a server left running by a SIGKILLed `fnrun dev` was stopped first (its data kept). */
  tookOver: boolean;
  /** Stops the server (SIGTERM: it writes its AOF and exits). Idempotent. */
  stop(): Promise<void>;
}

const MISSING = `redis-server was not found on PATH. fnrun dev starts one when no Redis is given. Install it
(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or pass
--redis redis://host:port (or set FNRUN_REDIS_URL).`;

async function answers(socketPath: string): Promise<boolean> {
  return checkSocket(socketPath) === 'present' && answersPing({ path: socketPath });
}

/** The file naming the `fnrun dev` process that started the server (its pid). */
const ownerFile = (dataDir: string) => path.join(dataDir, 'owner.pid');

function ownerAlive(dataDir: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(ownerFile(dataDir), 'utf8').trim());
  } catch {
    return true; // no record (an older fnrun, or someone's own server): not ours to stop
  }
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * A server whose `fnrun dev` was SIGKILLed outlives it (its own process group, so that Ctrl-C
 * reaches only fnrun): shut it down (SHUTDOWN writes its AOF first) so a new one can start.
 */
async function stopOrphan(socketPath: string): Promise<void> {
  await shutdownServer({ path: socketPath });
  const deadline = Date.now() + 10_000;
  while (await answers(socketPath)) {
    if (Date.now() > deadline) throw new FnrunError('ERR_REDIS', `the embedded Redis left by an earlier fnrun dev on ${socketPath} does not stop; stop it with redis-cli -s ${socketPath} shutdown`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts redis-server with its data in `dataDir` (created if needed, private to this user).
 * @throws ConfigError when the folder or a socket already there belongs to another user
 */
export async function startEmbeddedRedis(dataDir: string): Promise<EmbeddedRedis> {
  const socket = prepareSocket(dataDir);
  const socketPath = socket.path;
  /** Set when an orphaned server was stopped, for the caller to say so. */
  let tookOver = false;
  if (await answers(socketPath)) {
    if (ownerAlive(dataDir)) {
      throw new FnrunError('ERR_CONFIG', `an embedded Redis for this project already runs on ${socketPath} (another fnrun dev?); stop it or pass --redis unix://${socketPath}`);
    }
    await stopOrphan(socketPath);
    tookOver = true;
  }
  rmSync(socketPath, { force: true });
  const args = [
    '--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '700', '--dir', dataDir,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--daemonize', 'no',
    '--logfile', path.join(dataDir, 'redis.log'), '--maxmemory-policy', 'noeviction',
  ];
  let child: ChildProcess;
  try {
    child = await new Promise<ChildProcess>((resolve, reject) => {
      // Its own process group: a Ctrl-C (SIGINT to the terminal's group) must reach only fnrun dev,
      // which drains (committing to this Redis) and then stops it.
      const c = spawn('redis-server', args, { stdio: 'ignore', detached: true });
      c.once('error', reject);
      c.once('spawn', () => resolve(c));
    });
  } catch (error) {
    releaseSocket(dataDir, socket);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FnrunError('ERR_CONFIG', MISSING);
    throw error;
  }
  const deadline = Date.now() + 10_000;
  while (!(await answers(socketPath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      releaseSocket(dataDir, socket);
      throw new FnrunError('ERR_REDIS', `the embedded redis-server did not start; see ${path.join(dataDir, 'redis.log')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  writeFileSync(ownerFile(dataDir), `${process.pid}\n`, { mode: 0o600 });
  let stopped: Promise<void> | null = null;
  return {
    url: `unix://${socketPath}`,
    dataDir,
    tookOver,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => { clearTimeout(force); resolve(); });
        child.kill('SIGTERM');
      }).then(() => {
        rmSync(ownerFile(dataDir), { force: true });
        releaseSocket(dataDir, socket);
      });
      return stopped;
    },
  };
}

/** The data folder of the project's embedded Redis: `.fnrun/redis` under the working directory. */
export function embeddedDataDir(cwd = process.cwd()): string {
  return path.join(cwd, '.fnrun', 'redis');
}

/**
 * The URL of this project's embedded Redis if `fnrun dev` is running it, else null.
 * @throws ConfigError when its folder or socket belongs to another user
 */
export async function runningEmbeddedRedis(cwd = process.cwd()): Promise<string | null> {
  const socketPath = findSocket(embeddedDataDir(cwd));
  return socketPath !== null && (await answersPing({ path: socketPath })) ? `unix://${socketPath}` : null;
}
