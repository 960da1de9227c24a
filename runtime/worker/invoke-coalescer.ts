/**
 * Merges the sandbox calls of one function version that wait behind each other into one call.
 *
 * The sandbox runs one batch per isolate at a time, and each call costs a round trip through the
 * sandbox process during which the isolate idles; with many partitions the calls of a function
 * queue up. Sending everything that queued during a call as one batch keeps per-call costs per
 * batch, not per partition. Each partition's part keeps its order, and parts of different
 * partitions have no order between them. The sandbox stops a batch at its first error, so the parts
 * after a failing one come back `skipped` and their workers simply send them again; retries
 * (`mergeable: false`) therefore always go alone, never holding up others behind a known failure.
 */
import type { SandboxHost } from '../sandbox/host/host.ts';
import type { InvocationResult } from '../types.ts';

interface Part {
  json: string;
  count: number;
  resolve: (results: InvocationResult[]) => void;
  reject: (error: Error) => void;
}

export class InvokeCoalescer {
  private readonly sandbox: SandboxHost;
  private readonly waiting = new Map<string, Part[]>();
  private readonly busy = new Set<string>();

  constructor(sandbox: SandboxHost) {
    this.sandbox = sandbox;
  }

  /** Runs a batch (a JSON array text of `count` items), merged with others waiting for `id`. */
  invoke(id: string, json: string, count: number, mergeable: boolean): Promise<InvocationResult[]> {
    if (!mergeable) return this.sandbox.invoke(id, json, count);
    return new Promise((resolve, reject) => {
      const parts = this.waiting.get(id);
      if (parts) parts.push({ json, count, resolve, reject });
      else this.waiting.set(id, [{ json, count, resolve, reject }]);
      if (!this.busy.has(id)) void this.drain(id);
    });
  }

  private async drain(id: string): Promise<void> {
    this.busy.add(id);
    try {
      for (let parts = this.take(id); parts !== null; parts = this.take(id)) {
        if (parts.length === 1) {
          const part = parts[0]!;
          await this.sandbox.invoke(id, part.json, part.count).then(part.resolve, part.reject);
          continue;
        }
        let total = 0;
        // Each part is "[…]": join their insides.
        const json = `[${parts.map((p) => { total += p.count; return p.json.slice(1, -1); }).join(',')}]`;
        try {
          const results = await this.sandbox.invoke(id, json, total);
          let at = 0;
          for (const part of parts) {
            part.resolve(results.slice(at, at + part.count));
            at += part.count;
          }
        } catch (error) {
          for (const part of parts) part.reject(error as Error);
        }
      }
    } finally {
      this.busy.delete(id);
    }
  }

  private take(id: string): Part[] | null {
    const parts = this.waiting.get(id);
    if (!parts || parts.length === 0) return null;
    this.waiting.delete(id);
    return parts;
  }
}
