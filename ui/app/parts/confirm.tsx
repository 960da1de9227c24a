/**
 * A confirmation in a modal `<dialog>` (focus moves into it, Esc cancels): `ask()` resolves true
 * when the user confirms.
 */
import type { JSX } from 'preact';
import { useRef, useState } from 'preact/hooks';

interface Question { title: string; body: string; confirm: string }

export function useConfirm(): [JSX.Element, (q: Question) => Promise<boolean>] {
  const dialog = useRef<HTMLDialogElement>(null);
  const [question, setQuestion] = useState<Question | null>(null);
  const answer = useRef<((yes: boolean) => void) | null>(null);
  const close = (yes: boolean) => {
    dialog.current?.close();
    answer.current?.(yes);
    answer.current = null;
  };
  const ask = (q: Question) => new Promise<boolean>((resolve) => {
    answer.current = resolve;
    setQuestion(q);
    queueMicrotask(() => dialog.current?.showModal());
  });
  const element = (
    <dialog ref={dialog} class="confirm" aria-labelledby="confirm-title" onCancel={() => close(false)}>
      <h2 id="confirm-title">{question?.title}</h2>
      <p>{question?.body}</p>
      <div class="actions">
        <button type="button" onClick={() => close(false)} autofocus>Cancel</button>
        <button type="button" class="danger" onClick={() => close(true)}>{question?.confirm}</button>
      </div>
    </dialog>
  );
  return [element, ask];
}
