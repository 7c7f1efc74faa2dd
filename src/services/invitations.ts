import { eq } from "drizzle-orm";
import { providers } from "../db/schema.js";
import { renderInvitation } from "../ics/invite.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { loadSession, sessionLink } from "./sessions.js";
import { loadLinkById } from "./telehealth-links.js";

/**
 * A single-event invitation for the client's confirmation and reminder messages: the link and
 * the provider's instructions. It names the provider, never the client.
 */
export async function sessionInvitation(deps: ServiceDeps, principal: Principal, sessionId: string): Promise<string> {
  const s = await loadSession(deps.db, principal, sessionId);
  const [provider] = await deps.db.select().from(providers).where(eq(providers.id, s.providerId));
  // The session's own link and the instructions of the attested link it was booked with.
  const link = await loadLinkById(deps.db, s.telehealthLinkId);
  const url = sessionLink(s);
  return renderInvitation({
    uid: s.uid,
    sequence: s.sequence,
    start: s.startAt,
    end: s.endAt,
    stamp: s.updatedAt,
    title: `${s.kind === "virtual" ? "Telehealth session" : "Session"} with ${provider!.name}`,
    ...(url ? { url, googleMeet: url.startsWith("https://meet.google.com/") } : {}),
    ...(url && link?.instructions ? { instructions: link.instructions } : {}),
    modality: s.modality,
    organizer: { name: provider!.name },
    status: s.status === "cancelled" ? "CANCELLED" : "CONFIRMED",
  });
}
