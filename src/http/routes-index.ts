type RouteEntry = { method: string; path: string };

const cache = new WeakMap<RouteEntry[], { pattern: RegExp; method: string }[]>();

function compile(routes: RouteEntry[]) {
  let compiled = cache.get(routes);
  if (!compiled) {
    compiled = routes
      .filter((r) => r.method !== "ALL" && !r.path.includes("*"))
      .map((r) => ({
        method: r.method,
        pattern: new RegExp("^" + r.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z0-9_]+(\{[^}]*\})?/g, "[^/]+") + "$"),
      }));
    cache.set(routes, compiled);
  }
  return compiled;
}

/** The methods some route answers on this path; used to tell 405 from 404. */
export function allowedMethods(routes: RouteEntry[], path: string): string[] {
  const methods = new Set<string>();
  for (const r of compile(routes)) if (r.pattern.test(path)) methods.add(r.method);
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods];
}
