import type { Clock } from "../../src/domain/clock.js";

export type TestClock = Clock & { set(iso: string | Date): void; advance(ms: number): void };

export function fixedClock(start: string | Date = "2026-11-26T12:00:00Z"): TestClock {
  let now = new Date(start).getTime();
  return {
    now: () => new Date(now),
    set: (iso) => {
      now = new Date(iso).getTime();
    },
    advance: (ms) => {
      now += ms;
    },
  };
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
