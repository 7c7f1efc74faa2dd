/** Time comes in from outside so rules and tests can fix it. */
export type Clock = { now(): Date };

export const systemClock: Clock = { now: () => new Date() };
