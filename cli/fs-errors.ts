/**
 * Paths the user gives (`emit --file`, `init DIR`) fail with the user's error, not a stack: a
 * missing file, a folder where a file was expected, no permission.
 */
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../runtime/internal.ts';

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  EEXIST: 'it already exists',
  ENAMETOOLONG: 'the path is too long',
  ENOSPC: 'no space left on the device',
  ELOOP: 'too many symbolic links',
};

/** `error` as a ConfigError saying what failed on `file` and why, when it is a file-system error; else `error`. */
export function fsUserError(error: unknown, doing: string, file: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const reason = code === undefined ? undefined : REASONS[code];
  if (reason === undefined) return error;
  return new ConfigError(`cannot ${doing} ${file}: ${reason} (${code})`);
}

/**
 * `mkdir -p dir`, one level at a time. Node's recursive mkdir never returns under some pseudo file
 * systems (/proc), and its errors name the deepest folder rather than the one at fault.
 */
export function makeDirectories(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (;;) {
    let stats;
    try {
      stats = statSync(at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fsUserError(error, 'use', at);
      missing.unshift(at);
      const parent = path.dirname(at);
      if (parent === at) break;
      at = parent;
      continue;
    }
    if (!stats.isDirectory()) throw new ConfigError(`cannot create ${dir}: ${at} is a file, not a folder`);
    break;
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw fsUserError(error, 'create', folder);
    }
  }
}
