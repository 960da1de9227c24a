/**
 * The walls between runtime/'s folders, checked over every import (`npm test` runs this):
 *
 * - policy/ is pure: it imports only ../types.ts, ../errors.ts and its own files;
 * - only redis/ imports ioredis, and only redis/ spells a key (a `:{p…}` or `{fn:…}` literal);
 * - only sandbox/child/ loads isolated-vm; sandbox/host/ never imports child/ or isolate/;
 *   sandbox/isolate/ (code that runs inside V8 isolates) imports only its own files;
 *   nothing in sandbox/ imports redis/;
 * - runtime/ never imports cli/; cli/ reaches runtime/ only through runtime/index.ts (the public API)
 *   or runtime/internal.ts (the one internal entry);
 * - no cycle between runtime/'s folders (the root's runtime.ts and index.ts count as "(wiring)",
 *   internal.ts, above them, as "(cli entry)",
 *   its other files as "(vocabulary)").
 *
 * Usage: node scripts/check-walls.ts [ROOT]   (ROOT: the repository, default this one)
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One broken wall: where, and which rule. */
export interface Violation {
  file: string;
  rule: string;
  detail: string;
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const KEY_LITERAL_RE = /[`'"][^`'"\n]*(?::\{p[^`'"\n]*\}|\{fn:)[^`'"\n]*[`'"]/;

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Imports of a source file: bare package names, or paths relative to the repository root. */
function importsOf(file: string, root: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2]!;
    out.push(spec.startsWith('.') ? path.relative(root, path.resolve(path.dirname(file), spec)) : spec);
  }
  return out;
}

/** Comments may mention key layouts; only code counts. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** The root's files that wire everything (the rest of the root is vocabulary every folder may use). */
const WIRING = new Set(['runtime/runtime.ts', 'runtime/index.ts']);
/** What cli/ may import of runtime/: the public API and the one internal entry. */
const CLI_ENTRIES = new Set(['runtime/index.ts', 'runtime/internal.ts']);

/**
 * The runtime/ folder a repository-relative path is in: `sandbox/host` etc.; for the root's files,
 * `(wiring)` (runtime.ts, index.ts: above everything) or `(vocabulary)` (types, errors, config, …).
 */
function folderOf(rel: string): string | null {
  if (!rel.startsWith('runtime/')) return null;
  const parts = rel.split('/').slice(1, -1);
  if (parts.length === 0) return rel === 'runtime/internal.ts' ? '(cli entry)' : WIRING.has(rel) ? '(wiring)' : '(vocabulary)';
  return parts[0] === 'sandbox' && parts.length > 1 ? `sandbox/${parts[1]}` : parts[0]!;
}

/** Checks every wall; returns what breaks them (nothing when all hold). */
export function checkWalls(root: string): Violation[] {
  const violations: Violation[] = [];
  const add = (file: string, rule: string, detail: string) => violations.push({ file, rule, detail });
  const graph = new Map<string, Set<string>>();
  for (const abs of walk(path.join(root, 'runtime'))) {
    const file = path.relative(root, abs);
    const from = folderOf(file)!;
    const top = from.split('/')[0]!;
    for (const imp of importsOf(abs, root)) {
      const to = imp.startsWith('runtime/') ? folderOf(imp) : null;
      if (imp.startsWith('cli/')) add(file, 'runtime never imports cli', imp);
      if ((imp === 'ioredis' || imp.startsWith('ioredis/')) && from !== 'redis') add(file, 'only redis/ imports ioredis', imp);
      if (imp === 'isolated-vm' && from !== 'sandbox/child') add(file, 'only sandbox/child loads isolated-vm', imp);
      if (from === 'policy' && !(to === 'policy' || imp === 'runtime/types.ts' || imp === 'runtime/errors.ts')) add(file, 'policy/ imports only types.ts, errors.ts and policy/', imp);
      if (from === 'sandbox/host' && (to === 'sandbox/child' || to === 'sandbox/isolate')) add(file, 'sandbox/host never imports sandbox/child or sandbox/isolate', imp);
      if (from === 'sandbox/isolate' && to !== 'sandbox/isolate') add(file, 'sandbox/isolate imports only its own files', imp);
      if (top === 'sandbox' && to === 'redis') add(file, 'nothing in sandbox/ imports redis/', imp);
      if (to !== null && to.split('/')[0] !== top) {
        let edges = graph.get(top);
        if (edges === undefined) graph.set(top, (edges = new Set()));
        edges.add(to.split('/')[0]!);
      }
    }
    if (from !== 'redis' && KEY_LITERAL_RE.test(withoutComments(readFileSync(abs, 'utf8')))) add(file, 'only redis/ spells keys (keys.ts)', 'a string with ":{p…}" or "{fn:"');
  }
  const cliDir = path.join(root, 'cli');
  for (const abs of existsSync(cliDir) ? walk(cliDir) : []) {
    const file = path.relative(root, abs);
    for (const imp of importsOf(abs, root)) {
      if (imp.startsWith('runtime/') && !CLI_ENTRIES.has(imp)) add(file, 'cli/ imports runtime/ only through index.ts or internal.ts', imp);
    }
  }
  for (const cycle of cyclesOf(graph)) add('runtime/', 'no cycle between runtime folders', cycle.join(' -> '));
  return violations;
}

/** Every elementary cycle's first occurrence, found by DFS (the graph has a dozen nodes). */
function cyclesOf(graph: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const seen = new Set<string>();
  const visit = (node: string, trail: string[]) => {
    const at = trail.indexOf(node);
    if (at >= 0) {
      const cycle = [...trail.slice(at), node];
      const key = [...cycle.slice(0, -1)].sort().join(',');
      if (!seen.has(key)) {
        seen.add(key);
        found.push(cycle);
      }
      return;
    }
    for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
  };
  for (const node of graph.keys()) visit(node, []);
  return found;
}

if (import.meta.main) {
  const root = path.resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)));
  const violations = checkWalls(root);
  for (const v of violations) process.stderr.write(`walls: ${v.file}: ${v.rule} (${v.detail})\n`);
  if (violations.length > 0) {
    process.stderr.write(`walls: ${violations.length} violation(s); see scripts/check-walls.ts for the rules\n`);
    process.exit(1);
  }
}
