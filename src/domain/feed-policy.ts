// What a feed shows (docs/rules.md, "Feeds"): the window, how long cancelled sessions linger, and the privacy level.
import type { Privacy, SessionKind } from "./value-lists.js";

export type SubscriberKind = "google" | "microsoft" | "apple" | "other";

export const DEFAULT_PAST_DAYS = 30;
export const DEFAULT_FUTURE_DAYS = 180;
/** A cancelled session stays as STATUS:CANCELLED for 7 days so calendars remove it, then leaves. */
export const CANCELLED_LINGER_MS = 7 * 24 * 3600_000;
const DAY_MS = 24 * 3600_000;

export type FeedWindow = { from: Date; to: Date };

export function feedWindow(now: Date, pastDays: number, futureDays: number): FeedWindow {
  return { from: new Date(now.getTime() - pastDays * DAY_MS), to: new Date(now.getTime() + futureDays * DAY_MS) };
}

/** In the window (overlapping it), and, if cancelled, cancelled less than 7 days ago. */
export function isShownInFeed(s: { startAt: Date; endAt: Date; status: string; cancelledAt: Date | null }, window: FeedWindow, now: Date): boolean {
  if (s.endAt <= window.from || s.startAt >= window.to) return false;
  if (s.status === "cancelled") return !!s.cancelledAt && now.getTime() - s.cancelledAt.getTime() < CANCELLED_LINGER_MS;
  return true;
}

/** Initials of a display name: "Jane van Doe" -> "J.V.D."; letters only, at most three. */
export function initialsOf(displayName: string): string {
  const letters = displayName
    .split(/[\s\-.]+/u)
    .map((part) => /\p{L}/u.exec(part)?.[0])
    .filter((c): c is string => !!c)
    .slice(0, 3);
  return letters.length ? letters.map((c) => c.toLocaleUpperCase("en-US") + ".").join("") : "";
}

/** SUMMARY by privacy level: `minimal` (the default) names no client at all. */
export function feedSummary(privacy: Privacy, kind: SessionKind, clientName: string): string {
  const what = kind === "virtual" ? "Telehealth session" : "In-person session";
  if (privacy === "minimal") return what;
  const who = privacy === "initials" ? initialsOf(clientName) : clientName.trim();
  return who ? `${what}: ${who}` : what;
}

/**
 * Who fetched a feed, from the User-Agent (Google's fetcher sends "Google-Calendar-Importer"; Apple's and Microsoft's
 * strings are as reported in public issue trackers). Only for the per-kind
 * "last fetched" display: never for gating, since every subscriber gets the same answer.
 */
export function subscriberKind(userAgent: string | undefined): SubscriberKind {
  const ua = userAgent ?? "";
  if (/Google-Calendar-Importer|Google/i.test(ua)) return "google";
  if (/Microsoft|Outlook|Exchange/i.test(ua)) return "microsoft";
  if (/dataaccessd|CalendarAgent|iCal\/|macOS.*Calendar|iOS\/.*dataaccessd/i.test(ua)) return "apple";
  return "other";
}

/** What the size budget left out of a feed, and how the provider can fit everything back in. */
export type FeedBudget = {
  bytes: number;
  maxBytes: number;
  events: number;
  omittedPast: number;
  omittedUpcoming: number;
  /** Present when something upcoming was left out: in words, and as settings to change. */
  advice?: { message: string; futureDays?: number; includeLink?: false };
};

/**
 * The budget's report (docs/rules.md, "Feeds"). The past goes first, so an upcoming session is left
 * out only when the past is already empty; then the nearest upcoming ones are kept and the answer
 * names a window that would fit (the days before the first one left out) and, when links are on,
 * turning them off (the link and instructions are most of an event's size).
 */
export function feedBudgetReport(input: {
  bytes: number;
  maxBytes: number;
  events: number;
  omittedPast: number;
  omittedUpcoming: number;
  firstOmittedUpcomingStart: Date | null;
  now: Date;
  futureDays: number;
  includeLink: boolean;
}): FeedBudget {
  const base = {
    bytes: input.bytes,
    maxBytes: input.maxBytes,
    events: input.events,
    omittedPast: input.omittedPast,
    omittedUpcoming: input.omittedUpcoming,
  };
  if (input.omittedUpcoming === 0 || input.firstOmittedUpcomingStart === null) return base;
  const days = Math.floor((input.firstOmittedUpcomingStart.getTime() - input.now.getTime()) / DAY_MS);
  const futureDays = Math.max(1, Math.min(input.futureDays - 1, days));
  const n = input.omittedUpcoming;
  const fixes = [`show ${futureDays} days ahead instead of ${input.futureDays}`];
  if (input.includeLink) fixes.push("leave the video link out of this feed");
  return {
    ...base,
    advice: {
      message:
        `This feed is over the ${Math.round(input.maxBytes / 1000)} kB calendar apps accept, so ${n} upcoming session${n === 1 ? " is" : "s are"} ` +
        `not in it (the furthest ahead; past sessions were left out first). To fit everything: ${fixes.join(", or ")}.`,
      futureDays,
      ...(input.includeLink ? { includeLink: false as const } : {}),
    },
  };
}
