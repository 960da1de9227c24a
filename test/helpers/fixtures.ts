import { fileURLToPath } from 'node:url';

/** Absolute path of a fixture functions folder. */
export function fixtureFunctions(name: string): string {
  return fileURLToPath(new URL(`../fixtures/functions/${name}`, import.meta.url));
}
