// Untrusted work shares the event loop with every request: it runs in slices of a few milliseconds,
// pausing with setImmediate between them (Node.js event loop guide: "Don't block the event loop").

/** Lets timers, I/O and other requests run before the next slice. */
export const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Longest stretch of work before yielding, well under the ~100 ms a request may wait on us. */
export const SLICE_MS = 15;

/**
 * Drives a generator that yields between units of work, pausing every SLICE_MS; gives up (and
 * drops the generator) once `budgetMs` of wall time has passed.
 */
export async function runInSlices<T>(steps: Generator<void, T, void>, budgetMs: number): Promise<{ ok: true; value: T } | { ok: false }> {
  const started = performance.now();
  let sliceStart = started;
  for (;;) {
    const step = steps.next();
    if (step.done) return { ok: true, value: step.value };
    const now = performance.now();
    if (now - started > budgetMs) {
      steps.return(undefined as T);
      return { ok: false };
    }
    if (now - sliceStart >= SLICE_MS) {
      await yieldToLoop();
      sliceStart = performance.now();
    }
  }
}
