/**
 * Group commit for a write-ahead log that is synced by the caller, not at each commit: commits are numbered, an fsync
 * covers every commit numbered before it began, and whoever needs commit n durable waits for the first fsync that
 * covers n. At most one fsync runs at a time; the commits made while it runs share the next one.
 *
 * An fsync that fails is final: after a failed fsync the kernel may have dropped the dirty pages and a later fsync can
 * succeed without them (PostgreSQL's "fsyncgate", 2018), so every waiter and every later caller is refused and the
 * process must restart and recover from what is on disk.
 */
export interface WalSyncerOptions {
  sync(): Promise<void>;
  /** After each fsync, once its waiters are released (a checkpoint). */
  afterSync?(): Promise<void> | undefined;
  /** A deferred commit is synced within this time if no durable commit syncs it first. */
  deferredWithinMs: number;
}

interface Waiter {
  seq: number;
  resolve(): void;
  reject(error: Error): void;
}

/** Resolves the waiters whose `seq` is at most `upTo`; returns the others. */
export function releaseUpTo<W extends { seq: number; resolve(): void }>(waiters: readonly W[], upTo: number): W[] {
  const left: W[] = [];
  for (const waiter of waiters) {
    if (waiter.seq <= upTo) waiter.resolve();
    else left.push(waiter);
  }
  return left;
}

export class WalSyncer {
  readonly #options: WalSyncerOptions;
  #committedSeq = 0;
  /** The newest commit someone needs durable: a reader that may have seen it waits for it too. */
  #durableSeq = 0;
  #syncedSeq = 0;
  #waiters: Waiter[] = [];
  #syncing = false;
  #deferredTimer: ReturnType<typeof setTimeout> | undefined;
  #failed: Error | undefined;

  constructor(options: WalSyncerOptions) {
    this.#options = options;
  }

  /** Numbers a commit that changed rows. A deferred one (durable false) is synced within deferredWithinMs. */
  committed(durable: boolean): number {
    const seq = ++this.#committedSeq;
    if (durable) this.#durableSeq = seq;
    else this.#scheduleDeferred();
    return seq;
  }

  /** What a read must wait for: the newest durable commit it could have seen. */
  neededByReaders(): number {
    return this.#durableSeq;
  }

  /** Resolves once commit `seq` is durable; starts an fsync if none is running. */
  durable(seq: number): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#syncedSeq >= seq) return Promise.resolve();
    const waiting = this.#wait(seq);
    this.#kick();
    return waiting;
  }

  /** Resolves once every commit so far is durable, deferred ones included, without hurrying them. */
  whenAllDurable(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#syncedSeq >= this.#committedSeq) return Promise.resolve();
    const waiting = this.#wait(this.#committedSeq);
    this.#scheduleDeferred();
    return waiting;
  }

  /** Resolves once every commit so far is durable, syncing now (at close). */
  syncAll(): Promise<void> {
    return this.durable(this.#committedSeq);
  }

  /** Stops the deferred timer (at close, after syncAll). */
  stop(): void {
    if (this.#deferredTimer) clearTimeout(this.#deferredTimer);
    this.#deferredTimer = undefined;
  }

  #wait(seq: number): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#waiters.push({ seq, resolve, reject }));
  }

  #scheduleDeferred(): void {
    if (this.#deferredTimer) return;
    this.#deferredTimer = setTimeout(() => {
      this.#deferredTimer = undefined;
      this.#kick();
    }, this.#options.deferredWithinMs);
    this.#deferredTimer.unref?.();
  }

  #kick(): void {
    if (this.#syncing || this.#failed) return;
    const target = this.#committedSeq;
    if (target <= this.#syncedSeq) return;
    this.#syncing = true;
    this.#options.sync().then(
      () => {
        this.#syncing = false;
        this.#syncedSeq = target;
        this.#waiters = releaseUpTo(this.#waiters, target);
        // A checkpoint that fails (another process reading, say) leaves a longer WAL, not a lost commit: tried again later.
        this.#options.afterSync?.()?.catch(() => undefined);
        if (this.#waiters.length > 0) this.#kick();
      },
      (error: unknown) => {
        this.#syncing = false;
        this.#fail(error);
      },
    );
  }

  #fail(error: unknown): void {
    this.#failed = new Error(`the store's write-ahead log could not be made durable: ${String(error)}`, {
      cause: error,
    });
    for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#failed);
  }
}
