export const NOTICE_TONES = ["success", "warning"] as const;
export type NoticeTone = (typeof NOTICE_TONES)[number];

/** The one-time message after a form: green only for a success, amber for anything short of one. */
export function Notice({ text, tone = "success" }: { text: string; tone?: NoticeTone | undefined }) {
  return (
    <p class={`card ${tone === "warning" ? "warning" : "notice"}`} role="status" data-tone={tone}>
      {text}
    </p>
  );
}
