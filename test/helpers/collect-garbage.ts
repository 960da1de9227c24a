/**
 * A full garbage collection from inside a test, for tests that check what a structure no longer
 * holds (with WeakRef): no --expose-gc flag on the test command needed.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Collects twice, with a macrotask between: a WeakRef dereferenced in the current job keeps its
 * target until that job ends, so one collection may not clear it.
 */
export async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}
