/**
 * Bounds a wait of a technician command (broker answer, hardware step) on the wall clock: rejects with
 * Error(message) after `ms`, and clears its timer either way so the command can exit as soon as it is done.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
