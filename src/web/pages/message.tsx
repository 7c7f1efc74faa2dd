type Props = { heading: string; detail: string; back?: { href: string; label: string } };

/** Errors and refusals, as a page a person can act on (never internals). */
export function MessagePage({ heading, detail, back }: Props) {
  return (
    <>
      <h1>{heading}</h1>
      <div class="card problem" role="alert">
        <p>{detail}</p>
      </div>
      {back && (
        <p>
          <a href={back.href}>{back.label}</a>
        </p>
      )}
    </>
  );
}
