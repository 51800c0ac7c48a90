/** Source of the current time, injected so tests control it. */
export interface Clock {
  /** Milliseconds since the epoch (wall clock: timestamps are compared with producers' clocks). */
  now(): number;
}

/** The system wall clock. */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });
