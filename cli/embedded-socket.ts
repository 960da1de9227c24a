/**
 * Where the embedded Redis listens, so that only the user running `fnrun dev` can reach it or pose
 * as it: a unix socket in a private folder (mode 0700, owned by that user). Its data folder
 * `.fnrun/redis/` is that folder when the socket path fits the unix limit; a deep project gets a
 * fresh `mkdtemp` folder under the temp dir instead, whose socket path is recorded in the data
 * folder, so `fnrun emit` and `fnrun dlq` find it. A predictable path in the shared temp dir (what
 * fnrun used before) let another local user start a server there first and receive the events.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../runtime/internal.ts';

/** Unix socket paths are limited to 107 bytes on Linux and 103 on macOS; leave some room. */
const MAX_SOCKET_PATH_BYTES = 100;
/** In the data folder: the socket path, when the socket lives in a temp folder. */
const RECORD_FILE = 'socket-path';
const TEMP_PREFIX = 'fnrun-redis-';

/** The socket of one data folder; `temporary` when it lives in a folder of its own to remove on stop. */
export interface EmbeddedSocket {
  path: string;
  temporary: boolean;
}

function statOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

const uid = (): number | undefined => process.getuid?.();

function notOurs(st: Stats): boolean {
  const me = uid();
  return me !== undefined && st.uid !== me;
}

/**
 * Makes `dir` (and its parents) exist and be private: a real folder (not a symlink), owned by
 * this user, mode 0700 (a folder of ours with a looser mode, as older fnrun versions made it, is
 * tightened). @throws ConfigError when it belongs to another user or is not a folder
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(path.dirname(dir), { recursive: true });
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const st = lstatSync(dir);
  checkPrivateDir(dir, st);
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

function checkPrivateDir(dir: string, st: Stats): void {
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new ConfigError(`${dir} must be a folder of yours for the embedded Redis, but it is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; remove it, or pass --redis URL`);
  }
  if (notOurs(st)) {
    throw new ConfigError(`${dir} belongs to another user (uid ${st.uid}), so its embedded Redis could be theirs; fnrun uses only folders and sockets of yours (uid ${uid()}): remove it, or pass --redis URL`);
  }
}

/** A folder that must already be private: ours, not a symlink, mode 0700. */
function checkExistingPrivateDir(dir: string, st: Stats): void {
  checkPrivateDir(dir, st);
  if ((st.mode & 0o077) !== 0) throw new ConfigError(`${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); remove it, or pass --redis URL`);
}

/**
 * The socket `path` is usable: absent, or a socket of ours. @throws ConfigError for anything else
 * (another user's socket, a file, a symlink)
 */
export function checkSocket(socketPath: string): 'absent' | 'present' {
  const st = statOrNull(socketPath);
  if (st === null) return 'absent';
  if (!st.isSocket()) throw new ConfigError(`${socketPath} should be the embedded Redis socket but is not a socket; remove it, or pass --redis URL`);
  if (notOurs(st)) throw new ConfigError(`the socket ${socketPath} belongs to another user (uid ${st.uid}); fnrun talks only to an embedded Redis of yours (uid ${uid()}): remove it, or pass --redis URL`);
  return 'present';
}

function localSocket(dataDir: string): string | null {
  const local = path.join(dataDir, 'redis.sock');
  return Buffer.byteLength(local) < MAX_SOCKET_PATH_BYTES ? local : null;
}

/** The recorded temp socket of `dataDir`, if it names one in a private folder of ours. */
function recordedSocket(dataDir: string): string | null {
  let recorded: string;
  try {
    recorded = readFileSync(path.join(dataDir, RECORD_FILE), 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const dir = path.dirname(recorded);
  if (!path.isAbsolute(recorded) || !path.basename(dir).startsWith(TEMP_PREFIX)) return null;
  const st = statOrNull(dir);
  if (st === null) return null;
  checkExistingPrivateDir(dir, st);
  return recorded;
}

/**
 * Picks the socket for a Redis about to start on `dataDir` (made private first): in `dataDir`
 * when the path fits, else the recorded temp one if its folder is still there, else a new one.
 */
export function prepareSocket(dataDir: string): EmbeddedSocket {
  ensurePrivateDir(dataDir);
  const local = localSocket(dataDir);
  if (local !== null) return { path: local, temporary: false };
  const recorded = recordedSocket(dataDir);
  if (recorded !== null) return { path: recorded, temporary: true };
  // mkdtemp makes the folder 0700 with an unpredictable name: nobody else can be there first.
  const dir = mkdtempSync(path.join(tmpdir(), TEMP_PREFIX));
  const socketPath = path.join(dir, 'redis.sock');
  writeFileSync(path.join(dataDir, RECORD_FILE), `${socketPath}\n`, { mode: 0o600 });
  return { path: socketPath, temporary: true };
}

/** Removes a temporary socket's folder and its record (after the server stopped). */
export function releaseSocket(dataDir: string, socket: EmbeddedSocket): void {
  if (!socket.temporary) return;
  rmSync(path.dirname(socket.path), { recursive: true, force: true });
  rmSync(path.join(dataDir, RECORD_FILE), { force: true });
}

/**
 * The socket a running embedded Redis of `dataDir` would listen on, or null when there is none to
 * look at. Checks what it finds: the folders and the socket must be this user's.
 * @throws ConfigError when they belong to another user (or are not what they should be)
 */
export function findSocket(dataDir: string): string | null {
  const st = statOrNull(dataDir);
  if (st === null) return null;
  checkPrivateDir(dataDir, st);
  const socketPath = localSocket(dataDir) ?? recordedSocket(dataDir);
  if (socketPath === null) return null;
  return checkSocket(socketPath) === 'present' ? socketPath : null;
}
