// Session rules (docs/rules.md, "Sessions"), pure. Instants are UTC; the provider's zone is for display only.
import type { Modality, SessionKind } from "./value-lists.js";
export const MIN_SESSION_MINUTES = 5;
export const MAX_SESSION_MINUTES = 480;

export type TimeRule =
  | { ok: true; start: Date; end: Date }
  | { ok: false; code: "end_before_start" | "duration_out_of_range" | "end_and_duration"; message: string };

/** `end` or `durationMinutes`, never both; 5 to 480 minutes; end strictly after start. */
export function resolveSessionTimes(input: { start: Date; end?: Date; durationMinutes?: number }): TimeRule {
  if (input.end && input.durationMinutes !== undefined) {
    return { ok: false, code: "end_and_duration", message: "Give either end or durationMinutes, not both." };
  }
  const end = input.end ?? new Date(input.start.getTime() + (input.durationMinutes ?? 50) * 60_000);
  const minutes = (end.getTime() - input.start.getTime()) / 60_000;
  if (minutes <= 0) return { ok: false, code: "end_before_start", message: "The session must end after it starts." };
  if (minutes < MIN_SESSION_MINUTES || minutes > MAX_SESSION_MINUTES) {
    return {
      ok: false,
      code: "duration_out_of_range",
      message: `A session lasts ${MIN_SESSION_MINUTES} to ${MAX_SESSION_MINUTES} minutes; this one is ${minutes}.`,
    };
  }
  return { ok: true, start: input.start, end };
}

export type ModalityRule =
  | { ok: true; modality: Modality }
  | { ok: false; code: "audio_only_not_allowed" | "modality_for_in_person"; message: string };

/** Audio-only is for Medicare clients, and only while the network's policy allows it (on by default). */
export function checkModality(
  kind: SessionKind,
  modality: Modality | undefined,
  client: { medicare: boolean },
  policy: { audioOnlyForMedicare: boolean },
): ModalityRule {
  if (kind === "in_person") {
    if (modality === "audio_only") return { ok: false, code: "modality_for_in_person", message: "An in-person session has no audio-only mode." };
    return { ok: true, modality: "video" };
  }
  if (modality === "audio_only" && !(client.medicare && policy.audioOnlyForMedicare)) {
    return {
      ok: false,
      code: "audio_only_not_allowed",
      message: policy.audioOnlyForMedicare
        ? "Audio-only sessions are allowed only for Medicare clients."
        : "The network does not allow audio-only sessions at the moment.",
    };
  }
  return { ok: true, modality: modality ?? "video" };
}
