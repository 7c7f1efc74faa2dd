// An in-memory, HTTP-served model of the Microsoft Graph v1.0 surface the ingestion adapter uses: events of
// one user, calendarView delta (maxpagesize, $skiptoken/$deltatoken links, @removed, 410 after token
// eviction), GET event, subscriptions with the validationToken handshake, change and lifecycle
// notifications; and the write surface write-back uses: calendars of the user (create, get, delete) and
// their events (create with transactionId, list with $filter/$expand on singleValueExtendedProperties,
// get, update and delete guarded by If-Match). Sources (microsoftgraph/microsoft-graph-docs-contrib):
// concepts/delta-query-events.md, concepts/delta-query-overview.md, api-reference/v1.0/api/event-delta.md,
// concepts/change-notifications-delivery-webhooks.md, concepts/change-notifications-lifecycle-events.md,
// api-reference/v1.0/api/user-post-calendars.md, calendar-delete.md, calendar-post-events.md,
// event-update.md, event-delete.md, singlevaluelegacyextendedproperty-get.md, resources/event.md.
import { randomBytes, randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { type Context, Hono } from "hono";

export type FakeGraphEventInput = {
  id?: string;
  /** Default: the user's default calendar. */
  calendarId?: string;
  /** iCalUId as Graph reports it; default an Outlook-made GOID. importedICalUId(uid) gives an imported invitation's. */
  iCalUId?: string;
  subject?: string;
  /** UTC instants (ISO 8601). */
  start: string;
  end: string;
  isAllDay?: boolean;
  isCancelled?: boolean;
  showAs?: "free" | "tentative" | "busy" | "oof" | "workingElsewhere" | "unknown";
  body?: { contentType: "html" | "text"; content: string };
  location?: string;
  onlineMeetingJoinUrl?: string;
};
export type Deliver = (url: string, init: RequestInit) => Promise<Response>;
export type LifecycleEvent = "missed" | "subscriptionRemoved" | "reauthorizationRequired";
export type FailureMatch = "any" | "page2" | "delta" | "subscriptions" | "write";
export type LoggedRequest = { method: string; path: string; query: Record<string, string>; prefer: string | null; authorized: boolean };
export type Delivery = { kind: "change" | "lifecycle"; url: string; body: unknown; attempt: number; status: number | "error" };
export type Validation = { url: string; token: string; ok: boolean; failure?: string };

type Stored = {
  id: string;
  calendarId: string;
  seq: number;
  deleted: boolean;
  type: "singleInstance" | "seriesMaster" | "occurrence" | "exception";
  seriesMasterId?: string;
  originalStartMs?: number;
  startMs: number;
  endMs: number;
  isAllDay: boolean;
  isCancelled: boolean;
  showAs: string;
  iCalUId: string;
  subject: string;
  body: { contentType: "html" | "text"; content: string };
  location?: string;
  joinUrl?: string;
  created: number;
  modified: number;
  changeKey: string;
  /** resources/event.md: set by the client at creation, immutable, returned only when set. */
  transactionId?: string;
  /** singleValueExtendedProperties by id ("String {guid} Name x"). */
  props: Map<string, string>;
  attendees: unknown[];
};
type Subscription = {
  id: string;
  resource: string;
  changeTypes: Set<string>;
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  clientState?: string;
  expirationMs: number;
};
type Failure = { match: FailureMatch; status: number; code: string; message?: string; retryAfterSeconds?: number };

const PREFIX = "/v1.0";
// Subscription lifetime table: Outlook event subscriptions live at most 4,230 minutes.
const MAX_SUBSCRIPTION_MS = 4230 * 60_000;
// Observed (microsoftgraph/nodejs-webhooks-sample #158; splunk/azure-functions-splunk #26).
const NOT_200 = {
  code: "ValidationError",
  message: "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
};
const GOID_PREFIX = "040000008200E00074C5B7101A82E008"; // [MS-OXOCAL] PidLidGlobalObjectId class id

export class FakeMicrosoftGraph {
  accessToken: string;
  autoNotify: boolean;
  readonly userId = randomUUID();
  readonly tenantId = randomUUID();
  readonly requests: LoggedRequest[] = [];
  readonly deliveries: Delivery[] = [];
  readonly validations: Validation[] = [];
  readonly app = new Hono();
  private readonly events = new Map<string, Stored>();
  private readonly subs = new Map<string, Subscription>();
  private readonly failures: Failure[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly deliver: Deliver;
  private readonly now: () => Date;
  private readonly retryDelaysMs: number[];
  private readonly deliveryTimeoutMs: number;
  private readonly validationTimeoutMs: number;
  private readonly allowInsecureUrls: boolean;
  private seq = 0;
  private epoch = 1;
  private server?: Server;
  /** Successful writes through the API (calendars and events: POST, PATCH, DELETE). */
  writes = 0;
  /** When each event was last written through the API (performance.now()), for the write-back bench. */
  readonly lastWriteAt = new Map<string, number>();
  /** When set, the next API write is committed and then its connection is cut before any answer. */
  private cutNextWrite = false;

  /** Checks bearer tokens instead of `accessToken` (e.g. against tokens a fake OAuth server issued). */
  private readonly tokenCheck?: (token: string) => boolean;
  /** The user's default calendar (it holds the events); `addCalendar` adds empty ones for the list. */
  readonly defaultCalendarId = `AAMk${randomUUID().replace(/-/g, "")}`;
  private readonly calendarList: { id: string; name: string; isDefaultCalendar: boolean }[] = [];

  constructor(opts: {
    accessToken: string;
    tokenCheck?: (token: string) => boolean;
    deliver?: Deliver;
    autoNotify?: boolean;
    now?: () => Date;
    /** Delays between delivery attempts after a non-2xx or error; default [10, 40] (Graph: "up to 4 hours"). */
    retryDelaysMs?: number[];
    /** Graph wants 2xx within 3 s (delivery-webhooks.md); slower counts as a failed attempt. */
    deliveryTimeoutMs?: number;
    /** The validation handshake must answer within 10 s (notificationurl-validation). */
    validationTimeoutMs?: number;
    /** Graph requires https notification URLs; tests delivering to a local http server may lift that. */
    allowInsecureUrls?: boolean;
  }) {
    this.accessToken = opts.accessToken;
    if (opts.tokenCheck) this.tokenCheck = opts.tokenCheck;
    this.calendarList.push({ id: this.defaultCalendarId, name: "Calendar", isDefaultCalendar: true });
    this.deliver = opts.deliver ?? ((url, init) => fetch(url, init));
    this.autoNotify = opts.autoNotify ?? true;
    this.now = opts.now ?? (() => new Date());
    this.retryDelaysMs = opts.retryDelaysMs ?? [10, 40];
    this.deliveryTimeoutMs = opts.deliveryTimeoutMs ?? 3000;
    this.validationTimeoutMs = opts.validationTimeoutMs ?? 10_000;
    this.allowInsecureUrls = opts.allowInsecureUrls ?? false;
    this.routes();
  }

  async start(): Promise<{ baseUrl: string }> {
    const port = await new Promise<number>((resolve) => {
      this.server = serve({ fetch: this.app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info.port)) as Server;
    });
    return { baseUrl: `http://127.0.0.1:${port}${PREFIX}` };
  }

  async stop(): Promise<void> {
    await this.idle();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  // --- Test-side control API -----------------------------------------------------------------------------

  /** Another (empty) calendar in GET /me/calendars. */
  addCalendar(name: string): string {
    const id = `AAMk${randomUUID().replace(/-/g, "")}`;
    this.calendarList.push({ id, name, isDefaultCalendar: false });
    return id;
  }

  /** Deletes a calendar and its events, as the owner would in Outlook (no notification for the events). */
  removeCalendar(calendarId: string): void {
    const i = this.calendarList.findIndex((c) => c.id === calendarId && !c.isDefaultCalendar);
    if (i < 0) throw new Error(`fake: no calendar ${calendarId}`);
    for (const [id, sub] of this.subs) if (this.calendarOfResource(sub.resource) === calendarId) this.subs.delete(id);
    this.calendarList.splice(i, 1);
    for (const e of this.events.values()) if (e.calendarId === calendarId) e.deleted = true;
  }

  hasCalendar(calendarId: string): boolean {
    return this.calendarList.some((c) => c.id === calendarId);
  }

  /** The live events of a calendar as the API renders them, with their extended properties. */
  liveEvents(calendarId: string): Record<string, unknown>[] {
    return [...this.events.values()]
      .filter((e) => e.calendarId === calendarId && !e.deleted && e.type !== "occurrence")
      .map((e) => this.render(e, "all"));
  }

  /** When the event created with this transactionId was last written through the API. */
  lastWriteOf(transactionId: string): number | undefined {
    const ev = [...this.events.values()].find((e) => e.transactionId === transactionId && !e.deleted);
    return ev ? this.lastWriteAt.get(ev.id) : undefined;
  }

  /** The next API write is stored, then the connection closes without an answer (a crash after the write). */
  cutAfterNextWrite(): void {
    this.cutNextWrite = true;
  }

  insertEvent(input: FakeGraphEventInput): Record<string, unknown> {
    const id = input.id ?? graphId();
    if (this.events.has(id)) throw new Error(`fake: event ${id} exists`);
    const ev = this.newEvent(id, "singleInstance", input, input.iCalUId ?? goid(0));
    this.events.set(id, ev);
    this.commit([ev], "created", ev);
    return this.render(ev);
  }

  /** Patching an occurrence turns it into an exception (event resource `type`). */
  patchEvent(id: string, patch: Partial<FakeGraphEventInput>): Record<string, unknown> {
    const ev = this.live(id);
    if (patch.start) ev.startMs = Date.parse(patch.start);
    if (patch.end) ev.endMs = Date.parse(patch.end);
    if (patch.subject !== undefined) ev.subject = patch.subject;
    if (patch.isAllDay !== undefined) ev.isAllDay = patch.isAllDay;
    if (patch.isCancelled !== undefined) ev.isCancelled = patch.isCancelled;
    if (patch.showAs !== undefined) ev.showAs = patch.showAs;
    if (patch.body !== undefined) ev.body = { ...patch.body };
    if (patch.location !== undefined) ev.location = patch.location;
    if (patch.onlineMeetingJoinUrl !== undefined) ev.joinUrl = patch.onlineMeetingJoinUrl;
    if (ev.type === "occurrence") ev.type = "exception";
    this.commit([ev], "updated", ev);
    return this.render(ev);
  }

  /** Graph deletes outright: the event disappears, and only delta's @removed or a notification tells. */
  deleteEvent(id: string): void {
    const ev = this.live(id);
    const gone = [ev, ...[...this.events.values()].filter((e) => e.seriesMasterId === id && !e.deleted)];
    for (const e of gone) e.deleted = true;
    this.commit(gone, "deleted", ev);
  }

  /** A series master plus its occurrences (calendarView shows occurrences, not the master). */
  addRecurringSeries(input: FakeGraphEventInput & { count: number; intervalDays?: number }): { seriesId: string; occurrenceIds: string[] } {
    const id = input.id ?? graphId();
    const master = this.newEvent(id, "seriesMaster", input, goid(0));
    const step = (input.intervalDays ?? 7) * 86_400_000; // UTC series: no DST to honour
    const occurrences: Stored[] = [];
    for (let i = 0; i < input.count; i += 1) {
      const startMs = master.startMs + i * step;
      const occ = this.newEvent(graphId(), "occurrence", { ...input, start: iso(startMs), end: iso(master.endMs + i * step) }, master.iCalUId);
      // event resource: iCalUId "is different for each occurrence"; in the GlobalObjectId the instance
      // date sits in bytes 16-19 ([MS-OXOCAL] PidLidGlobalObjectId: year, month, day).
      occ.iCalUId = goidFor(master.iCalUId, startMs);
      occ.seriesMasterId = id;
      occ.originalStartMs = startMs;
      occurrences.push(occ);
    }
    for (const e of [master, ...occurrences]) this.events.set(e.id, e);
    this.commit([master, ...occurrences], "created", master);
    return { seriesId: id, occurrenceIds: occurrences.map((o) => o.id) };
  }

  /** Deleting one occurrence: it leaves the view; the master is what subscriptions hear about. */
  cancelOccurrence(seriesId: string, originalStart: string): string {
    const at = Date.parse(originalStart);
    const occ = [...this.events.values()].find((e) => e.seriesMasterId === seriesId && e.originalStartMs === at && !e.deleted);
    if (!occ) throw new Error(`fake: no occurrence of ${seriesId} at ${originalStart}`);
    occ.deleted = true;
    this.commit([occ], "updated", this.live(seriesId));
    return occ.id;
  }

  /** Evicts every delta/skip token (delta-query-overview.md "Token duration"): next use answers 410. */
  invalidateDeltaTokens(): void {
    this.epoch += 1;
  }

  /** The next matching request fails with a Graph error body (after the bearer check). */
  failNext(f: { match: FailureMatch; status: number; code: string; message?: string; retryAfterSeconds?: number }): void {
    this.failures.push(f);
  }

  get subscriptions(): { id: string; resource: string; expirationDateTime: string; clientState?: string }[] {
    return this.liveSubs().map((s) => ({ id: s.id, resource: s.resource, expirationDateTime: iso(s.expirationMs), clientState: s.clientState }));
  }

  /** POSTs a lifecycle notification to each live subscription's lifecycleNotificationUrl (or one's). */
  async sendLifecycle(kind: LifecycleEvent, subscriptionId?: string): Promise<void> {
    for (const s of this.liveSubs()) {
      if (subscriptionId !== undefined && s.id !== subscriptionId) continue;
      // lifecycle-events.md: subscriptions without a lifecycleNotificationUrl get none.
      if (s.lifecycleNotificationUrl === undefined) continue;
      const item: Record<string, unknown> = {
        subscriptionId: s.id,
        subscriptionExpirationDateTime: graphInstant(s.expirationMs),
        tenantId: this.tenantId,
        clientState: s.clientState ?? null,
        lifecycleEvent: kind,
      };
      this.post("lifecycle", s.lifecycleNotificationUrl, { value: [item] });
      if (kind === "subscriptionRemoved") this.subs.delete(s.id);
    }
    await this.idle();
  }

  // --- HTTP surface ---------------------------------------------------------------------------------------

  private routes(): void {
    const app = this.app;
    app.use("*", async (c, next) => {
      const url = new URL(c.req.url);
      const header = c.req.header("authorization") ?? "";
      const authorized = this.tokenCheck ? header.startsWith("Bearer ") && this.tokenCheck(header.slice(7)) : header === `Bearer ${this.accessToken}`;
      this.requests.push({
        method: c.req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        prefer: c.req.header("prefer") ?? null,
        authorized,
      });
      if (!authorized) return c.json(graphError("InvalidAuthenticationToken", "Access token validation failure."), 401);
      const failure = this.takeFailure(c.req.method, url);
      if (failure) {
        if (failure.retryAfterSeconds !== undefined) c.header("retry-after", String(failure.retryAfterSeconds));
        return c.json(graphError(failure.code, failure.message ?? failure.code), failure.status as 400);
      }
      return next();
    });
    const notFound = (c: Context) => c.json(graphError("ErrorItemNotFound", "The specified object was not found in the store."), 404);
    for (const user of ["me", "users/:user"]) {
      // event-delta.md: /me/calendarView/delta is the user's default calendar.
      app.get(`${PREFIX}/${user}/calendarView/delta`, (c) => this.delta(c, this.defaultCalendarId));
      app.get(`${PREFIX}/${user}/events/:id`, (c) => this.getEvent(c, null));
      // One calendar by id (calendar-get.md).
      app.get(`${PREFIX}/${user}/calendars/:calendarId/calendarView/delta`, (c) =>
        this.hasCalendar(c.req.param("calendarId") ?? "") ? this.delta(c, c.req.param("calendarId")!) : notFound(c),
      );
      app.get(`${PREFIX}/${user}/calendars/:calendarId/events/:id`, (c) =>
        this.hasCalendar(c.req.param("calendarId") ?? "") ? this.getEvent(c, c.req.param("calendarId")!) : notFound(c),
      );
    }
    // user-list-calendars.md: GET /me/calendars (with $filter=name eq '...', the only filter modelled).
    app.get(`${PREFIX}/me/calendars`, (c) => {
      const filter = paramCi(new URL(c.req.url).searchParams, "$filter");
      let list = this.calendarList;
      if (filter !== undefined) {
        const m = /^name eq '((?:[^']|'')*)'$/.exec(filter.trim());
        if (!m) return c.json(graphError("ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes."), 400);
        list = list.filter((x) => x.name === m[1]!.replace(/''/g, "'"));
      }
      return c.json({
        "@odata.context": `${new URL(c.req.url).origin}${PREFIX}/$metadata#me/calendars`,
        value: list.map((x) => this.renderCalendar(x)),
      });
    });
    app.post(`${PREFIX}/me/calendars`, (c) => this.write(c, () => this.createCalendarApi(c)));
    app.get(`${PREFIX}/me/calendars/:calendarId`, (c) => {
      const cal = this.calendarList.find((x) => x.id === c.req.param("calendarId"));
      return cal ? c.json(this.renderCalendar(cal)) : notFound(c);
    });
    app.delete(`${PREFIX}/me/calendars/:calendarId`, (c) => this.write(c, () => this.deleteCalendarApi(c)));
    app.post(`${PREFIX}/me/calendars/:calendarId/events`, (c) => this.write(c, () => this.createEventApi(c)));
    app.get(`${PREFIX}/me/calendars/:calendarId/events`, (c) => this.listEventsApi(c));
    app.patch(`${PREFIX}/me/calendars/:calendarId/events/:id`, (c) => this.write(c, () => this.updateEventApi(c)));
    app.delete(`${PREFIX}/me/calendars/:calendarId/events/:id`, (c) => this.write(c, () => this.deleteEventApi(c)));
    app.post(`${PREFIX}/subscriptions`, (c) => this.createSubscription(c));
    app.patch(`${PREFIX}/subscriptions/:id`, (c) => this.renewSubscription(c));
    app.delete(`${PREFIX}/subscriptions/:id`, (c) => {
      if (!this.subs.delete(c.req.param("id") ?? "")) return c.json(graphError("ResourceNotFound", "The object was not found."), 404);
      return c.body(null, 204);
    });
    app.notFound((c) => c.json(graphError("BadRequest", "Resource not found for the segment."), 404));
  }

  private takeFailure(method: string, url: URL): Failure | undefined {
    const isDelta = url.pathname.endsWith("/calendarView/delta");
    const isWrite = method !== "GET" && !url.pathname.includes("/subscriptions");
    const i = this.failures.findIndex(
      (f) =>
        f.match === "any" ||
        (f.match === "write" && isWrite) ||
        (f.match === "delta" && isDelta) ||
        (f.match === "page2" && isDelta && url.searchParams.has("$skiptoken")) ||
        (f.match === "subscriptions" && url.pathname.includes("/subscriptions")),
    );
    return i < 0 ? undefined : this.failures.splice(i, 1)[0];
  }

  private userOk(c: Context): boolean {
    const user = c.req.param("user");
    return user === undefined || user === this.userId;
  }

  private delta(c: Context, calendarId: string): Response {
    if (!this.userOk(c)) return c.json(graphError("ErrorInvalidUser", "The requested user is invalid."), 404);
    const url = new URL(c.req.url);
    const q = url.searchParams;
    let state: { start: number; end: number; since: number | null; upto: number; after: string };
    const skip = q.get("$skiptoken");
    const delta = q.get("$deltatoken");
    if (skip !== null || delta !== null) {
      const t = decodeToken((skip ?? delta)!);
      if (!t || t.e !== this.epoch) {
        // Observed body (microsoft-graph-docs #2350); delta-query-overview.md: 410 with a fresh-start Location.
        c.header("location", `${url.origin}${url.pathname}?$deltatoken=`);
        return c.json(graphError("SyncStateNotFound", "The sync state generation is not found."), 410);
      }
      state =
        skip !== null
          ? { start: t.start as number, end: t.end as number, since: t.since as number | null, upto: t.upto as number, after: t.after as string }
          : { start: t.start as number, end: t.end as number, since: t.s as number, upto: this.seq, after: "" };
    } else {
      // Query parameter names are case-insensitive (the docs' own sample writes startdatetime).
      const start = Date.parse(paramCi(q, "startDateTime") ?? "");
      const end = Date.parse(paramCi(q, "endDateTime") ?? "");
      if (Number.isNaN(start) || Number.isNaN(end)) {
        const message = "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.";
        return c.json(graphError("ErrorInvalidParameter", message), 400);
      }
      state = { start, end, since: null, upto: this.seq, after: "" };
    }
    const prefer = c.req.header("prefer") ?? "";
    const maxPage = Number(/odata\.maxpagesize=(\d+)/i.exec(prefer)?.[1] ?? 100);
    const applied = [`odata.maxpagesize=${maxPage}`];
    if (/outlook\.timezone="UTC"/i.test(prefer)) applied.push('outlook.timezone="UTC"');
    c.header("preference-applied", applied.join(", "));

    const inWindow = (e: Stored) => e.startMs < state.end && e.endMs > state.start;
    const changed = [...this.events.values()]
      .filter((e) => e.calendarId === calendarId)
      .filter((e) => e.type !== "seriesMaster" && e.seq <= state.upto && (state.since === null || e.seq > state.since))
      .filter((e) => state.since !== null || (!e.deleted && inWindow(e))) // initial round: what exists now
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .filter((e) => e.id > state.after);
    const page = changed.slice(0, Math.max(1, maxPage));
    const base = `${url.origin}${url.pathname}`;
    const body: Record<string, unknown> = { "@odata.context": `${url.origin}${PREFIX}/$metadata#Collection(event)` };
    if (changed.length > page.length) {
      const t = { ...state, after: page.at(-1)!.id, e: this.epoch };
      body["@odata.nextLink"] = `${base}?$skiptoken=${encodeToken(t)}`;
    } else {
      body["@odata.deltaLink"] = `${base}?$deltatoken=${encodeToken({ start: state.start, end: state.end, s: state.upto, e: this.epoch })}`;
    }
    // event-delta.md: within a calendarView round, deletions AND changes outside the window arrive as
    // @removed with reason "deleted".
    body.value = page.map((e) =>
      e.deleted || !inWindow(e) ? { "@odata.type": "#microsoft.graph.event", id: e.id, "@removed": { reason: "deleted" } } : this.render(e),
    );
    return c.json(body);
  }

  private getEvent(c: Context, calendarId: string | null): Response {
    const ev = this.events.get(c.req.param("id") ?? "");
    if (!this.userOk(c) || !ev || ev.deleted || (calendarId !== null && ev.calendarId !== calendarId))
      return c.json(graphError("ErrorItemNotFound", "The specified object was not found in the store."), 404);
    const expand = parseExpand(paramCi(new URL(c.req.url).searchParams, "$expand"));
    if (expand === "bad") return c.json(graphError("BadRequest", "Invalid $expand."), 400);
    return c.json({
      "@odata.context": `${new URL(c.req.url).origin}${PREFIX}/$metadata#users('${this.userId}')/events/$entity`,
      ...this.render(ev, expand),
    });
  }

  private async createSubscription(c: Context): Promise<Response> {
    const b = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    const bad = (message: string) => c.json(graphError("InvalidRequest", message), 400);
    if (!b) return bad("Invalid JSON body.");
    const changeTypes = typeof b.changeType === "string" ? b.changeType.split(",").map((s) => s.trim()) : [];
    if (changeTypes.length === 0 || changeTypes.some((t) => !["created", "updated", "deleted"].includes(t))) return bad("Invalid changeType.");
    const resource = typeof b.resource === "string" ? b.resource.replace(/^\//, "") : "";
    if (this.calendarOfResource(resource) === null) return bad("Invalid resource.");
    if (typeof b.notificationUrl !== "string" || !this.urlAllowed(b.notificationUrl)) return bad("The notification endpoint must be an https URL.");
    const lifecycleUrl = b.lifecycleNotificationUrl;
    if (lifecycleUrl !== undefined && (typeof lifecycleUrl !== "string" || !this.urlAllowed(lifecycleUrl))) {
      return bad("The lifecycle notification endpoint must be an https URL.");
    }
    if (b.clientState !== undefined && (typeof b.clientState !== "string" || b.clientState.length > 255)) {
      return bad("clientState is limited to 255 characters.");
    }
    const exp = this.checkExpiration(b.expirationDateTime);
    if (typeof exp === "string") return bad(exp);

    // notificationurl-validation: both endpoints are validated before the subscription exists.
    for (const target of [b.notificationUrl, lifecycleUrl]) {
      if (typeof target !== "string") continue;
      const failure = await this.validate(target);
      if (failure) return c.json(graphError(failure.code, failure.message), 400);
    }
    const sub: Subscription = {
      id: randomUUID(),
      resource,
      changeTypes: new Set(changeTypes),
      notificationUrl: b.notificationUrl,
      expirationMs: exp,
    };
    if (typeof lifecycleUrl === "string") sub.lifecycleNotificationUrl = lifecycleUrl;
    if (typeof b.clientState === "string") sub.clientState = b.clientState;
    this.subs.set(sub.id, sub);
    return c.json({ "@odata.context": `${new URL(c.req.url).origin}${PREFIX}/$metadata#subscriptions/$entity`, ...this.renderSub(sub) }, 201);
  }

  private async renewSubscription(c: Context): Promise<Response> {
    const sub = this.subs.get(c.req.param("id") ?? "");
    if (!sub) return c.json(graphError("ResourceNotFound", "The object was not found."), 404);
    const b = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    const exp = this.checkExpiration(b?.expirationDateTime);
    if (typeof exp === "string") return c.json(graphError("InvalidRequest", exp), 400);
    sub.expirationMs = exp;
    return c.json(this.renderSub(sub));
  }

  // --- Write API -------------------------------------------------------------------------------------------

  /** Counts a successful write; `cutAfterNextWrite` drops the connection after the change is stored. */
  private async write(c: Context, op: () => Promise<Response> | Response): Promise<Response> {
    const res = await op();
    if (res.status < 300 && !this.unchangedAnswers.has(res)) {
      this.writes += 1;
      const eventId =
        c.req.param("id") ??
        (
          (await res
            .clone()
            .json()
            .catch(() => null)) as { id?: string } | null
        )?.id;
      if (eventId && c.req.path.includes("/events")) this.lastWriteAt.set(eventId, performance.now());
      if (this.cutNextWrite) {
        this.cutNextWrite = false;
        const incoming = (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming;
        incoming?.socket?.destroy();
      }
    }
    return res;
  }

  private readonly unchangedAnswers = new WeakSet<Response>();

  /** user-post-calendars.md: 201 with the calendar; a name already taken is 409 ErrorFolderExists. */
  private async createCalendarApi(c: Context): Promise<Response> {
    const b = (await c.req.json().catch(() => null)) as { name?: unknown } | null;
    if (!b || typeof b.name !== "string" || b.name.trim() === "")
      return c.json(graphError("ErrorInvalidRequest", "The calendar name is required."), 400);
    const name = b.name;
    // Observed (alcionai/corso #3318): a second calendar of the same name is refused.
    if (this.calendarList.some((x) => x.name.toLowerCase() === name.toLowerCase()))
      return c.json(graphError("ErrorFolderExists", "A folder with the specified name already exists."), 409);
    const id = this.addCalendar(name);
    return c.json(
      {
        "@odata.context": `${new URL(c.req.url).origin}${PREFIX}/$metadata#users('${this.userId}')/calendars/$entity`,
        ...this.renderCalendar(this.calendarList.find((x) => x.id === id)!),
      },
      201,
    );
  }

  /** calendar-delete.md: 204; the default calendar cannot be deleted. */
  private deleteCalendarApi(c: Context): Response {
    const cal = this.calendarList.find((x) => x.id === c.req.param("calendarId"));
    if (!cal) return c.json(graphError("ErrorItemNotFound", "The specified object was not found in the store."), 404);
    if (cal.isDefaultCalendar) return c.json(graphError("ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted."), 400);
    this.removeCalendar(cal.id);
    return c.body(null, 204);
  }

  /**
   * calendar-post-events.md: 201 with the event. resources/event.md transactionId: a client retry of
   * the same create gets the event made the first time (modelled among the mailbox's live events).
   */
  private async createEventApi(c: Context): Promise<Response> {
    const calendarId = c.req.param("calendarId") ?? "";
    if (!this.hasCalendar(calendarId)) return c.json(graphError("ErrorItemNotFound", "The specified object was not found in the store."), 404);
    const b = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    const parsed = b ? parseEventWrite(b, true) : "Invalid JSON body.";
    if (typeof parsed === "string") return c.json(graphError("ErrorInvalidRequest", parsed), 400);
    const ctx = {
      "@odata.context": `${new URL(c.req.url).origin}${PREFIX}/$metadata#users('${this.userId}')/calendars('${calendarId}')/events/$entity`,
    };
    if (parsed.transactionId !== undefined) {
      const existing = [...this.events.values()].find((e) => e.transactionId === parsed.transactionId && !e.deleted);
      if (existing) {
        const res = c.json({ ...ctx, ...this.render(existing) }, 201);
        this.unchangedAnswers.add(res);
        return res;
      }
    }
    if (parsed.startMs === undefined || parsed.endMs === undefined)
      return c.json(graphError("ErrorInvalidRequest", "start and end are required."), 400);
    const ev = this.newEvent(graphId(), "singleInstance", { calendarId, start: iso(parsed.startMs), end: iso(parsed.endMs) }, goid(0));
    applyEventWrite(ev, parsed);
    this.events.set(ev.id, ev);
    this.commit([ev], "created", ev);
    return c.json({ ...ctx, ...this.render(ev) }, 201);
  }

  /** RFC 9110 13.1.1 If-Match against the event's @odata.etag; Graph answers 412 ErrorIrresolvableConflict. */
  private preconditionFails(c: Context, ev: Stored): Response | null {
    const ifMatch = c.req.header("if-match");
    if (ifMatch === undefined || ifMatch === "*" || ifMatch === `W/"${ev.changeKey}"`) return null;
    // Observed (msgraph-sdk-dotnet #1201): PreconditionFailed with this code and message.
    const message =
      "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.";
    return c.json(graphError("ErrorIrresolvableConflict", message), 412);
  }

  private eventIn(c: Context): Stored | null {
    const ev = this.events.get(c.req.param("id") ?? "");
    return ev && !ev.deleted && ev.calendarId === c.req.param("calendarId") ? ev : null;
  }

  /** event-update.md: PATCH with the changed properties; 200 with the event. */
  private async updateEventApi(c: Context): Promise<Response> {
    const ev = this.eventIn(c);
    if (!ev) return c.json(graphError("ErrorItemNotFound", "The specified object was not found in the store."), 404);
    const failed = this.preconditionFails(c, ev);
    if (failed) return failed;
    const b = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    const parsed = b ? parseEventWrite(b, false) : "Invalid JSON body.";
    if (typeof parsed === "string") return c.json(graphError("ErrorInvalidRequest", parsed), 400);
    // resources/event.md: transactionId cannot be changed after creation.
    if (parsed.transactionId !== undefined && parsed.transactionId !== ev.transactionId)
      return c.json(graphError("ErrorInvalidPropertyUpdate", "transactionId cannot be changed."), 400);
    applyEventWrite(ev, parsed);
    if (ev.endMs < ev.startMs) return c.json(graphError("ErrorInvalidRequest", "The end is before the start."), 400);
    this.commit([ev], "updated", ev);
    return c.json(this.render(ev));
  }

  /** event-delete.md: 204. */
  private deleteEventApi(c: Context): Response {
    const ev = this.eventIn(c);
    if (!ev) return c.json(graphError("ErrorItemNotFound", "The specified object was not found in the store."), 404);
    const failed = this.preconditionFails(c, ev);
    if (failed) return failed;
    this.deleteEvent(ev.id);
    return c.body(null, 204);
  }

  /**
   * calendar-list-events.md: single instances and series masters, $top (default 10) and $skip paging
   * through @odata.nextLink; the $filter and $expand forms of singlevaluelegacyextendedproperty-get.md.
   * Filtered results do not carry the property unless it is also expanded.
   */
  private listEventsApi(c: Context): Response {
    const calendarId = c.req.param("calendarId") ?? "";
    if (!this.hasCalendar(calendarId)) return c.json(graphError("ErrorItemNotFound", "The specified object was not found in the store."), 404);
    const url = new URL(c.req.url);
    const q = url.searchParams;
    const expand = parseExpand(paramCi(q, "$expand"));
    const filterText = paramCi(q, "$filter");
    const filter = filterText === undefined ? null : parsePropertyFilter(filterText);
    if (expand === "bad" || filter === "bad")
      return c.json(graphError("ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes."), 400);
    const top = Math.min(1000, Math.max(1, Number(paramCi(q, "$top") ?? 10) || 10));
    const skip = Math.max(0, Number(paramCi(q, "$skip") ?? 0) || 0);
    const all = [...this.events.values()]
      .filter((e) => e.calendarId === calendarId && !e.deleted && e.type !== "occurrence" && e.type !== "exception")
      .filter((e) => !filter || e.props.get(filter.id)?.toLowerCase() === filter.value.toLowerCase())
      .sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : 1));
    const page = all.slice(skip, skip + top);
    const body: Record<string, unknown> = {
      "@odata.context": `${url.origin}${PREFIX}/$metadata#users('${this.userId}')/calendars('${calendarId}')/events`,
      value: page.map((e) => this.render(e, expand)),
    };
    if (skip + top < all.length) {
      const next = new URL(url);
      next.searchParams.set("$skip", String(skip + top));
      body["@odata.nextLink"] = next.href;
    }
    return c.json(body);
  }

  private renderCalendar(x: { id: string; name: string; isDefaultCalendar: boolean }): Record<string, unknown> {
    return {
      ...x,
      color: "auto",
      changeKey: Buffer.from(x.id).toString("base64").slice(0, 16),
      canEdit: true,
      canShare: true,
      canViewPrivateItems: true,
      owner: { name: "Therapist", address: "therapist@example.com" },
    };
  }

  /** The calendar a subscription resource names: me/events is the default one; null when unknown. */
  private calendarOfResource(resource: string): string | null {
    const m = new RegExp(`^(?:me|users/${this.userId})(?:/calendars/([^/]+))?/events$`, "i").exec(resource.replace(/^\//, ""));
    if (!m) return null;
    const id = m[1] === undefined ? this.defaultCalendarId : decodeURIComponent(m[1]);
    return this.hasCalendar(id) ? id : null;
  }

  // --- Internals ------------------------------------------------------------------------------------------

  private urlAllowed(u: string): boolean {
    return /^https:\/\//i.test(u) || (this.allowInsecureUrls && /^http:\/\//i.test(u));
  }

  private checkExpiration(v: unknown): number | string {
    const ms = typeof v === "string" ? Date.parse(v) : NaN;
    const nowMs = this.now().getTime();
    if (Number.isNaN(ms) || ms <= nowMs) return "Subscription expiration must be in the future.";
    if (ms > nowMs + MAX_SUBSCRIPTION_MS) return "Subscription expiration can only be 4230 minutes in the future.";
    return ms;
  }

  /** POST {url}?validationToken=...; must get 200 text/plain with the decoded token within the timeout. */
  private async validate(target: string): Promise<{ code: string; message: string } | null> {
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
    const url = `${target}${target.includes("?") ? "&" : "?"}validationToken=${encodeURIComponent(token)}`;
    const record = (ok: boolean, failure?: string) => this.validations.push({ url: target, token, ok, ...(failure ? { failure } : {}) });
    let res: Response;
    let text: string;
    try {
      // The deadline covers the whole answer, even from a `deliver` that ignores the signal (app.request).
      [res, text] = await withTimeout(this.validationTimeoutMs, async (signal) => {
        const r = await this.deliver(url, { method: "POST", headers: { "content-type": "text/plain; charset=utf-8" }, signal });
        return [r, await r.text()] as const;
      });
    } catch (err) {
      const timedOut = err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError");
      record(false, timedOut ? "timeout" : "error");
      // Observed (microsoftgraph/nodejs-webhooks-sample #350).
      return timedOut ? { code: "InvalidRequest", message: "Subscription validation request timed out." } : NOT_200;
    }
    if (res.status !== 200) {
      record(false, `status ${res.status}`);
      return NOT_200;
    }
    if (!/^text\/plain\b/i.test(res.headers.get("content-type") ?? "")) {
      record(false, "content-type");
      return { code: "ValidationError", message: "Subscription validation request failed. Response content type must be text/plain." };
    }
    if (text !== token) {
      record(false, "mismatch");
      // Observed (microsoftgraph/java-spring-webhooks-sample #82).
      return {
        code: "ValidationError",
        message: "Subscription validation request failed. Response must exactly match validationToken query parameter.",
      };
    }
    record(true);
    return null;
  }

  private live(id: string): Stored {
    const ev = this.events.get(id);
    if (!ev || ev.deleted) throw new Error(`fake: no event ${id}`);
    return ev;
  }

  private newEvent(id: string, type: Stored["type"], input: FakeGraphEventInput, iCalUId: string): Stored {
    const nowMs = this.now().getTime();
    const ev: Stored = {
      id,
      calendarId: input.calendarId ?? this.defaultCalendarId,
      props: new Map(),
      attendees: [],
      seq: 0,
      deleted: false,
      type,
      startMs: Date.parse(input.start),
      endMs: Date.parse(input.end),
      isAllDay: input.isAllDay ?? false,
      isCancelled: input.isCancelled ?? false,
      showAs: input.showAs ?? "busy",
      iCalUId,
      subject: input.subject ?? "",
      body: input.body ? { ...input.body } : { contentType: "html", content: "" },
      created: nowMs,
      modified: nowMs,
      changeKey: "",
    };
    if (input.location !== undefined) ev.location = input.location;
    if (input.onlineMeetingJoinUrl !== undefined) ev.joinUrl = input.onlineMeetingJoinUrl;
    return ev;
  }

  private commit(changed: Stored[], changeType: "created" | "updated" | "deleted", subject: Stored): void {
    this.seq += 1;
    const nowMs = this.now().getTime();
    for (const e of changed) {
      e.seq = this.seq;
      e.modified = nowMs;
      e.changeKey = randomBytes(12).toString("base64");
    }
    if (!this.autoNotify) return;
    for (const s of this.liveSubs()) {
      if (!s.changeTypes.has(changeType) || this.calendarOfResource(s.resource) !== subject.calendarId) continue;
      // delivery-webhooks.md: the changeNotificationCollection body (the id, never the event data).
      const path = `Users/${this.userId}/Events/${subject.id}`;
      const resourceData: Record<string, unknown> = { "@odata.type": "#Microsoft.Graph.Event", "@odata.id": path, id: subject.id };
      if (changeType !== "deleted") resourceData["@odata.etag"] = `W/"${subject.changeKey}"`;
      const item: Record<string, unknown> = {
        subscriptionId: s.id,
        subscriptionExpirationDateTime: graphInstant(s.expirationMs),
        changeType,
        resource: path,
        resourceData,
        clientState: s.clientState ?? null,
        tenantId: this.tenantId,
      };
      this.post("change", s.notificationUrl, { value: [item] });
    }
  }

  private liveSubs(): Subscription[] {
    const nowMs = this.now().getTime();
    return [...this.subs.values()].filter((s) => s.expirationMs > nowMs);
  }

  private post(kind: Delivery["kind"], url: string, body: unknown): void {
    const p = (async () => {
      await new Promise((r) => setTimeout(r, 0));
      for (let attempt = 0; ; attempt += 1) {
        let status: number | "error";
        try {
          status = await withTimeout(this.deliveryTimeoutMs, async (signal) => {
            const res = await this.deliver(url, {
              method: "POST",
              headers: { "content-type": "application/json; charset=utf-8" },
              body: JSON.stringify(body),
              signal,
            });
            await res.body?.cancel();
            return res.status;
          });
        } catch {
          status = "error";
        }
        this.deliveries.push({ kind, url, body, attempt, status });
        if ((typeof status === "number" && status >= 200 && status < 300) || attempt >= this.retryDelaysMs.length) return;
        await new Promise((r) => setTimeout(r, this.retryDelaysMs[attempt]));
      }
    })();
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private renderSub(s: Subscription): Record<string, unknown> {
    return {
      id: s.id,
      resource: s.resource,
      applicationId: "00000000-0000-0000-0000-000000000000",
      changeType: [...s.changeTypes].join(","),
      clientState: s.clientState ?? null,
      notificationUrl: s.notificationUrl,
      lifecycleNotificationUrl: s.lifecycleNotificationUrl ?? null,
      expirationDateTime: graphInstant(s.expirationMs),
      creatorId: this.userId,
      latestSupportedTlsVersion: "v1_2",
      includeResourceData: false,
    };
  }

  /** The event resource with Prefer outlook.timezone="UTC" (and UTC by default, event-delta.md). */
  private render(e: Stored, expand?: Expand): Record<string, unknown> {
    const out: Record<string, unknown> = {
      "@odata.type": "#microsoft.graph.event",
      "@odata.etag": `W/"${e.changeKey}"`,
      id: e.id,
      createdDateTime: graphInstant(e.created),
      lastModifiedDateTime: graphInstant(e.modified),
      changeKey: e.changeKey,
      iCalUId: e.iCalUId,
      subject: e.subject,
      bodyPreview: e.body.content.replace(/<[^>]*>/g, "").slice(0, 255),
      body: { ...e.body },
      start: { dateTime: graphLocal(e.startMs), timeZone: "UTC" },
      end: { dateTime: graphLocal(e.endMs), timeZone: "UTC" },
      isAllDay: e.isAllDay,
      isCancelled: e.isCancelled,
      showAs: e.showAs,
      type: e.type,
      seriesMasterId: e.seriesMasterId ?? null,
      originalStartTimeZone: "UTC",
      originalEndTimeZone: "UTC",
      location: { displayName: e.location ?? "", locationType: "default" },
      locations: e.location ? [{ displayName: e.location, locationType: "default" }] : [],
      isOnlineMeeting: e.joinUrl !== undefined,
      onlineMeeting: e.joinUrl !== undefined ? { joinUrl: e.joinUrl } : null,
      attendees: e.attendees,
    };
    if (e.transactionId !== undefined) out.transactionId = e.transactionId;
    if (expand) {
      out.singleValueExtendedProperties = [...e.props]
        .filter(([id]) => expand === "all" || expand.includes(id))
        .map(([id, value]) => ({ id, value }));
    }
    if (e.originalStartMs !== undefined) out.originalStart = `${iso(e.originalStartMs).slice(0, 19)}Z`;
    return out;
  }
}

// --- Helpers ----------------------------------------------------------------------------------------------

/** Which extended properties a response shows: `all` (test side) or the ids of a $expand filter. */
type Expand = "all" | string[] | undefined;
type EventWrite = {
  subject?: string;
  body?: { contentType: "html" | "text"; content: string };
  startMs?: number;
  endMs?: number;
  location?: string;
  showAs?: string;
  transactionId?: string;
  props: [string, string][];
  attendees?: unknown[];
};

// extended-properties-overview.md: "{type} {guid} Name {name}" (or "{type} {proptag}").
const PROPERTY_ID = /^String \{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\} Name \S+$/i;

/** The event properties a POST or PATCH may carry, checked the way Graph refuses them; a message when bad. */
function parseEventWrite(b: Record<string, unknown>, create: boolean): EventWrite | string {
  const out: EventWrite = { props: [] };
  if (b.subject !== undefined) {
    if (typeof b.subject !== "string") return "subject must be a string.";
    out.subject = b.subject;
  }
  if (b.body !== undefined) {
    const body = b.body as { contentType?: unknown; content?: unknown } | null;
    if (!body || (body.contentType !== "text" && body.contentType !== "html") || typeof body.content !== "string") return "Invalid body.";
    out.body = { contentType: body.contentType, content: body.content };
  }
  for (const key of ["start", "end"] as const) {
    if (b[key] === undefined) continue;
    const t = b[key] as { dateTime?: unknown; timeZone?: unknown } | null;
    if (!t || typeof t.dateTime !== "string" || typeof t.timeZone !== "string") return `${key} needs dateTime and timeZone.`;
    // dateTimeTimeZone: a zone-less local time in timeZone; only UTC is modelled here.
    if (t.timeZone !== "UTC") return `fake: timeZone ${t.timeZone} is not modelled; send UTC.`;
    const ms = Date.parse(`${t.dateTime.replace(/(\.\d{3})\d+$/, "$1").replace(/Z$/, "")}Z`);
    if (Number.isNaN(ms)) return `Cannot convert the literal '${t.dateTime}' to the expected type 'Edm.DateTimeOffset'.`;
    out[key === "start" ? "startMs" : "endMs"] = ms;
  }
  if (b.location !== undefined) {
    const l = b.location as { displayName?: unknown } | null;
    if (!l || typeof l.displayName !== "string") return "Invalid location.";
    out.location = l.displayName;
  }
  if (b.showAs !== undefined) {
    if (typeof b.showAs !== "string" || !["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"].includes(b.showAs))
      return "Invalid showAs.";
    out.showAs = b.showAs;
  }
  if (b.transactionId !== undefined) {
    if (typeof b.transactionId !== "string" || b.transactionId === "") return "Invalid transactionId.";
    out.transactionId = b.transactionId;
  }
  if (b.attendees !== undefined) {
    if (!Array.isArray(b.attendees)) return "Invalid attendees.";
    out.attendees = b.attendees;
  }
  if (b.singleValueExtendedProperties !== undefined) {
    if (!Array.isArray(b.singleValueExtendedProperties)) return "Invalid singleValueExtendedProperties.";
    for (const p of b.singleValueExtendedProperties as { id?: unknown; value?: unknown }[]) {
      if (typeof p?.id !== "string" || !PROPERTY_ID.test(p.id) || typeof p.value !== "string") return "Invalid extended property.";
      out.props.push([p.id, p.value]);
    }
  }
  if (create && out.transactionId === undefined && out.startMs === undefined) return "start and end are required.";
  return out;
}

function applyEventWrite(ev: Stored, w: EventWrite): void {
  if (w.subject !== undefined) ev.subject = w.subject;
  if (w.body !== undefined) ev.body = w.body;
  if (w.startMs !== undefined) ev.startMs = w.startMs;
  if (w.endMs !== undefined) ev.endMs = w.endMs;
  if (w.location !== undefined) ev.location = w.location;
  if (w.showAs !== undefined) ev.showAs = w.showAs;
  if (w.transactionId !== undefined) ev.transactionId = w.transactionId;
  if (w.attendees !== undefined) ev.attendees = w.attendees;
  for (const [id, value] of w.props) ev.props.set(id, value);
}

/** `singleValueExtendedProperties($filter=id eq '…' [or id eq '…'])`; "bad" for anything else. */
function parseExpand(v: string | undefined): Expand | "bad" {
  if (v === undefined) return undefined;
  const m = /^singleValueExtendedProperties\(\$filter=(.+)\)$/i.exec(v.trim());
  if (!m) return "bad";
  const ids: string[] = [];
  for (const part of m[1]!.split(/\s+or\s+/i)) {
    const id = /^id eq '([^']+)'$/.exec(part.trim());
    if (!id) return "bad";
    ids.push(id[1]!);
  }
  return ids;
}

/** `singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')`; "bad" for anything else. */
function parsePropertyFilter(v: string): { id: string; value: string } | "bad" {
  const m = /^singleValueExtendedProperties\/any\(ep:\s*ep\/id eq '([^']+)' and ep\/value eq '((?:[^']|'')*)'\)$/i.exec(v.trim());
  return m ? { id: m[1]!, value: m[2]!.replace(/''/g, "'") } : "bad";
}

/** Graph errors: {"error": {"code", "message", "innerError": {date, request-id, client-request-id}}}. */
function graphError(code: string, message: string) {
  const id = randomUUID();
  return { error: { code, message, innerError: { date: new Date().toISOString().slice(0, 19), "request-id": id, "client-request-id": id } } };
}

/** Runs `fn` with an abort signal and rejects with a TimeoutError after `ms`, whether or not `fn` listens. */
async function withTimeout<T>(ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new DOMException("The operation timed out.", "TimeoutError");
      ac.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([fn(ac.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function paramCi(q: URLSearchParams, name: string): string | undefined {
  for (const [k, v] of q) if (k.toLowerCase() === name.toLowerCase()) return v;
  return undefined;
}

function encodeToken(v: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(v)).toString("base64url");
}

function decodeToken(t: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(t, "base64url").toString("utf8"));
    return v && typeof v === "object" ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function graphId(): string {
  return `AAMkAD${randomBytes(24).toString("base64url")}=`;
}

/** A GlobalObjectId-shaped hex string; `dateMs` 0 gives the series form (instance date bytes zero). */
function goid(dateMs: number): string {
  return goidFor(`${GOID_PREFIX}00000000${randomBytes(24).toString("hex").toUpperCase()}`, dateMs);
}

/**
 * The iCalUId of an event imported from another system's invitation: [MS-OXOCAL] 2.2.1.27 keeps a UID that
 * is not a GOID inside the GlobalObjectId as "vCal-Uid" 01 00 00 00 <UID> 00, after a little-endian size;
 * Graph shows the whole GOID in hex (stackoverflow.com/questions/36985390, Glen Scales' decoding).
 */
export function importedICalUId(uid: string): string {
  const data = Buffer.concat([Buffer.from("vCal-Uid", "ascii"), Buffer.from([1, 0, 0, 0]), Buffer.from(uid, "utf8"), Buffer.from([0])]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(data.length);
  return `${GOID_PREFIX}${"00".repeat(20)}${size.toString("hex")}${data.toString("hex")}`.toUpperCase();
}

function goidFor(seriesGoid: string, dateMs: number): string {
  if (dateMs === 0) return seriesGoid;
  const d = new Date(dateMs);
  const hex = (n: number, width: number) => n.toString(16).padStart(width, "0").toUpperCase();
  const date = `${hex(d.getUTCFullYear(), 4)}${hex(d.getUTCMonth() + 1, 2)}${hex(d.getUTCDate(), 2)}`;
  return `${seriesGoid.slice(0, 32)}${date}${seriesGoid.slice(40)}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Graph's DateTimeOffset with 7 fractional digits: 2026-12-01T15:00:00.1230000Z. */
function graphInstant(ms: number): string {
  return `${iso(ms).slice(0, 23)}0000Z`;
}

/** dateTimeTimeZone.dateTime: zone-less, 7 fractional digits: 2016-12-09T20:30:00.0000000. */
function graphLocal(ms: number): string {
  return `${iso(ms).slice(0, 23)}0000`;
}
