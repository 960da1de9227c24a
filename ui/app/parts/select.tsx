/** A labelled select of function names (with "all" first). */
export function FunctionSelect({ id, value, names, onChange, allLabel = 'All functions' }: {
  id: string; value: string; names: readonly string[]; onChange: (v: string) => void; allLabel?: string | null;
}) {
  return (
    <label class="field" for={id}>
      <span>Function</span>
      <select id={id} value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {allLabel === null ? null : <option value="">{allLabel}</option>}
        {names.map((n) => <option key={n} value={n}>{n}</option>)}
      </select>
    </label>
  );
}
