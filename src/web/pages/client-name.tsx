/**
 * A client by initials, the full name one click away (a native disclosure, no script): the page may
 * be on a shared screen, so names are not shown until asked for.
 */
export function ClientName({ client }: { client: { displayName: string; initials: string } }) {
  return (
    <details class="reveal">
      <summary>Show the client's name</summary>
      <p data-client-name="">{client.displayName}</p>
    </details>
  );
}
