import type { Child } from "hono/jsx";

export type SummaryItem = { field: string; text: string };

/**
 * After a refused post: a box that takes focus when the page loads (see SCRIPT in assets.ts) and
 * links to each marked field, whose own error message sits next to it (WCAG 3.3.1, 3.3.3).
 */
export function ErrorSummary({ heading, items, children }: { heading: string; items: SummaryItem[]; children?: Child }) {
  return (
    <section class="card problem" role="alert" aria-labelledby="error-summary-title" tabindex={-1} data-error-summary="">
      <h2 id="error-summary-title">{heading}</h2>
      {children}
      {items.length > 0 && (
        <ul class="plain">
          {items.map((i) => (
            <li>
              <a href={`#${i.field}`}>{i.text}</a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
