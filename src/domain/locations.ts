// Where a client was at a given time (docs/rules.md, "Client locations"). Pure.

export type TimedLocation = {
  id: string;
  country: string;
  state: string | null;
  label: string | null;
  validFrom: Date;
  validTo: Date | null;
  archivedAt: Date | null;
};

/**
 * The location that held at `at`: among those whose range covers it (from <= at, and before `to`
 * when one is set), the one that began last. An open-ended location therefore holds until the next
 * one begins, and a bounded one (a trip) covers only its dates, after which the one before it holds
 * again. An archived location no longer counts (the provider removed it); confirmations that used it
 * keep their own copy of the place.
 */
export function locationAt<L extends TimedLocation>(locations: readonly L[], at: Date): L | null {
  let best: L | null = null;
  for (const l of locations) {
    if (l.archivedAt !== null) continue;
    if (l.validFrom.getTime() > at.getTime()) continue;
    if (l.validTo !== null && l.validTo.getTime() <= at.getTime()) continue;
    if (best === null || l.validFrom.getTime() > best.validFrom.getTime() || (l.validFrom.getTime() === best.validFrom.getTime() && l.id > best.id)) {
      best = l;
    }
  }
  return best;
}

const norm = (s: string | null | undefined) => (s ?? "").trim().toLocaleLowerCase("en-US");

/** Same place and label: typing it again at confirmation reuses it instead of adding a copy. */
export function sameLocation(
  a: { country: string; state: string | null; label: string | null },
  b: { country: string; state: string | null; label?: string | null },
): boolean {
  return norm(a.country) === norm(b.country) && norm(a.state) === norm(b.state) && norm(a.label) === norm(b.label);
}
