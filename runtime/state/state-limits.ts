/** Limits of per-key state, in one place (README "Caps"). */
export const STATE_LIMITS = Object.freeze({
  /** Longest state name. @defaultValue 256 */
  maxNameChars: 256,
  /** Largest JSON text of one value. @defaultValue 64 KiB */
  maxValueBytes: 64 * 1024,
  /** Largest total JSON of one (function, key)'s state. @defaultValue 1 MiB */
  maxKeyBytes: 1024 * 1024,
  /** Most names one (function, key) may hold. @defaultValue 1000 */
  maxNames: 1000,
});
