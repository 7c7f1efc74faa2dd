// What a feed shows (SPEC 5): the window, how long cancelled sessions linger, and the privacy level.
import type { SessionKind } from "./sessions.js";

export type Privacy = "minimal" | "initials" | "full";
export type SubscriberKind = "google" | "microsoft" | "apple" | "other";

export const DEFAULT_PAST_DAYS = 30;
export const DEFAULT_FUTURE_DAYS = 180;
/** SPEC 5: a cancelled session stays as STATUS:CANCELLED for 7 days so calendars remove it, then leaves. */
export const CANCELLED_LINGER_MS = 7 * 24 * 3600_000;
const DAY_MS = 24 * 3600_000;

export type FeedWindow = { from: Date; to: Date };

export function feedWindow(now: Date, pastDays: number, futureDays: number): FeedWindow {
  return { from: new Date(now.getTime() - pastDays * DAY_MS), to: new Date(now.getTime() + futureDays * DAY_MS) };
}

/** In the window (overlapping it), and, if cancelled, cancelled less than 7 days ago. */
export function isShownInFeed(
  s: { startAt: Date; endAt: Date; status: string; cancelledAt: Date | null },
  window: FeedWindow,
  now: Date,
): boolean {
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
 * Who fetched a feed, from the User-Agent (reference/ics-feeds.md 2.3). Only for the per-kind
 * "last fetched" display: never for gating, since every subscriber gets the same answer.
 */
export function subscriberKind(userAgent: string | undefined): SubscriberKind {
  const ua = userAgent ?? "";
  if (/Google-Calendar-Importer|Google/i.test(ua)) return "google";
  if (/Microsoft|Outlook|Exchange/i.test(ua)) return "microsoft";
  if (/dataaccessd|CalendarAgent|iCal\/|macOS.*Calendar|iOS\/.*dataaccessd/i.test(ua)) return "apple";
  return "other";
}
