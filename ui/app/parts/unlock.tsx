/** Start mode: asks once per tab for the operator's UI token (a password field in a modal dialog). */
import { useRef } from 'preact/hooks';
import { setToken } from '../api.ts';

export function UnlockButton({ onUnlock }: { onUnlock: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <button type="button" class="small" onClick={() => dialog.current?.showModal()}>Unlock changes</button>
      <dialog ref={dialog} class="confirm" aria-labelledby="unlock-title">
        <form method="dialog" onSubmit={(e) => {
          e.preventDefault();
          const value = input.current?.value.trim() ?? '';
          if (value === '') return;
          setToken(value);
          dialog.current?.close();
          onUnlock();
        }}>
          <h2 id="unlock-title">Unlock changes</h2>
          <p>Enter the token this fnrun start was given (--ui-token or FNRUN_UI_TOKEN). It is kept for this tab only.</p>
          <label class="field" for="unlock-token"><span>UI token</span><input id="unlock-token" ref={input} type="password" autocomplete="off" required /></label>
          <div class="actions">
            <button type="button" onClick={() => dialog.current?.close()}>Cancel</button>
            <button type="submit" class="primary">Unlock</button>
          </div>
        </form>
      </dialog>
    </>
  );
}
