/**
 * Finds the functions in a functions directory: one file, or one folder with an index, per function.
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors.ts';
import { isValidName, NAME_RULE } from '../policy/function-name.ts';

/** A function found on disk: its name and the absolute path of its entry file. */
export interface DiscoveredFunction {
  name: string;
  entry: string;
}

const ENTRY_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];
const INDEX_FILES = ENTRY_EXTENSIONS.map((ext) => `index${ext}`);

/**
 * Lists the functions in `dir`, sorted by name.
 *
 * A function is either a file `<name>.ts|.mts|.js|.mjs` or a folder `<name>/` with an
 * `index.ts|.mts|.js|.mjs`. Skipped: names starting with `_` or `.` (shared helpers, dotfiles),
 * declaration files (`*.d.ts`), tests (`*.test.*`, `*.spec.*`), other extensions, `node_modules`,
 * and folders without an index (helper modules).
 *
 * A function's name becomes part of Redis keys and consumer-group names, so it must be lowercase
 * letters, digits, `-` and `_`, start with a letter or digit, and be at most 63 characters; being
 * lowercase also keeps names distinct on case-insensitive file systems.
 *
 * @throws ConfigError when `dir` is missing, a name is invalid, or two entries define one name
 */
export async function discoverFunctions(dir: string): Promise<DiscoveredFunction[]> {
  const root = path.resolve(dir);
  let entries: Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ConfigError(`functions directory not found: ${root}`);
    throw error;
  }

  const found = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.name.startsWith('_') || entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const full = path.join(root, entry.name);
    const kind = entry.isSymbolicLink() ? await kindOf(full) : entry.isDirectory() ? 'dir' : entry.isFile() ? 'file' : 'other';
    let name: string | undefined;
    let entryFile: string | undefined;
    if (kind === 'file') {
      name = functionFileName(entry.name);
      entryFile = full;
    } else if (kind === 'dir') {
      entryFile = await findIndex(full);
      if (entryFile !== undefined) name = entry.name;
    }
    if (name === undefined || entryFile === undefined) continue;
    found.set(name, [...(found.get(name) ?? []), entryFile]);
  }

  const problems: string[] = [];
  const functions: DiscoveredFunction[] = [];
  for (const [name, files] of found) {
    const shown = files.map((f) => path.relative(process.cwd(), f) || f).sort();
    if (!isValidName(name)) {
      problems.push(
        `${shown[0]}: function name "${name}" is invalid: use ${NAME_RULE} (rename it to "${suggestName(name)}"; prefix helpers with "_")`,
      );
    } else if (files.length > 1) {
      problems.push(`function "${name}" is defined twice: ${shown.join(' and ')}; keep one`);
    } else {
      functions.push({ name, entry: files[0]! });
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid functions in ${root}:\n  ${problems.sort().join('\n  ')}`);
  return functions.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The function name of a file in the functions directory, or undefined when it is not a function. */
function functionFileName(file: string): string | undefined {
  const ext = ENTRY_EXTENSIONS.find((e) => file.endsWith(e));
  if (ext === undefined) return undefined;
  const base = file.slice(0, -ext.length);
  if (base.endsWith('.d') || /\.(test|spec)$/.test(base) || base === '') return undefined;
  return base;
}

async function findIndex(dir: string): Promise<string | undefined> {
  const names = new Set(await readdir(dir));
  const index = INDEX_FILES.find((f) => names.has(f));
  return index === undefined ? undefined : path.join(dir, index);
}

async function kindOf(file: string): Promise<'file' | 'dir' | 'other'> {
  try {
    const s = await stat(file);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch {
    return 'other'; // a dangling symlink is not a function
  }
}

/** A valid name close to an invalid one: `sendEmail.v2` → `send-email-v2`. */
function suggestName(name: string): string {
  const kebab = name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, 63);
  return kebab || 'my-function';
}
