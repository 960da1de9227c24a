/** A handler error with its stack (already mapped to the TypeScript source by the runtime). */
import type { SerializedError } from '../../../runtime/types.ts';

export function ErrorView({ error }: { error: Pick<SerializedError, 'name' | 'message' | 'stack'> & { kind?: string } }) {
  // The stack's first line repeats "Name: message"; show the frames only.
  const frames = error.stack.split('\n').filter((l, i) => i > 0 || !l.startsWith(error.name)).join('\n').trim();
  return (
    <div class="error">
      <p class="error-head"><strong>{error.name}</strong>: {error.message}{error.kind && error.kind !== 'handler' ? <span class="muted"> ({error.kind})</span> : null}</p>
      {frames ? <pre class="stack">{frames}</pre> : null}
    </div>
  );
}
