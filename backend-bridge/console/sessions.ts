import { randomBytes, timingSafeEqual } from "node:crypto";

export interface ConsoleSession {
  id: string;
  operator: string;
  /** Goes in every form; a POST without it (or with another session's) is refused. */
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionLimits {
  /** A session unused this long ends. */
  idleMs: number;
  /** A session ends this long after login, used or not. */
  absoluteMs: number;
}

export const defaultSessionLimits: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 12 * 60 * 60_000 };

/**
 * Console sessions, in memory: a restart of the bridge logs every operator out, which is the safe side. The id is 32
 * random bytes; the id is all a cookie carries.
 */
export class ConsoleSessions {
  readonly #sessions = new Map<string, ConsoleSession>();
  readonly #limits: SessionLimits;

  constructor(limits: SessionLimits = defaultSessionLimits) {
    this.#limits = limits;
  }

  get limits(): SessionLimits {
    return this.#limits;
  }

  create(operator: string, now: number): ConsoleSession {
    this.#forgetExpired(now);
    const session = {
      id: randomBytes(32).toString("base64url"),
      operator,
      csrfToken: randomBytes(32).toString("base64url"),
      createdAt: now,
      lastSeenAt: now,
    };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id, its idle clock restarted; undefined when unknown or expired. */
  use(id: string | undefined, now: number): ConsoleSession | undefined {
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    if (this.#expired(session, now)) {
      this.#sessions.delete(id);
      return undefined;
    }
    session.lastSeenAt = now;
    return session;
  }

  end(id: string): void {
    this.#sessions.delete(id);
  }

  #expired(session: ConsoleSession, now: number): boolean {
    return now - session.lastSeenAt >= this.#limits.idleMs || now - session.createdAt >= this.#limits.absoluteMs;
  }

  #forgetExpired(now: number): void {
    for (const [id, session] of this.#sessions) if (this.#expired(session, now)) this.#sessions.delete(id);
  }
}

/** Constant-time comparison of a submitted CSRF token with the session's. */
export function csrfTokenMatches(session: ConsoleSession, submitted: string | undefined): boolean {
  const expected = Buffer.from(session.csrfToken);
  const actual = Buffer.from(submitted ?? "");
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
