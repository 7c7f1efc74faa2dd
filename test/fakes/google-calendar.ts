// An in-memory, HTTP-served model of the parts of Google Calendar API v3 the ingestion adapter uses:
// events.list (full + incremental sync, pagination, singleEvents expansion, cancelled stubs, 410 after token
// invalidation), events.watch and channels.stop, and push notifications. Sources: the sync, push and errors
// guides and the Events/Channel references (developers.google.com/calendar/api), and the
// behaviour of the vercel-labs/emulate project's Google Calendar fake.
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { type Context, Hono } from "hono";

type DateInput = { dateTime?: string; date?: string; timeZone?: string };
export type FakeGoogleEventInput = {
  id?: string;
  iCalUID?: string;
  summary?: string;
  description?: string;
  location?: string;
  start: DateInput;
  end: DateInput;
  status?: "confirmed" | "tentative" | "cancelled";
  transparency?: "opaque" | "transparent";
  hangoutLink?: string;
  conferenceData?: { entryPoints?: { entryPointType?: string; uri?: string }[] } & Record<string, unknown>;
  extendedProperties?: { private?: Record<string, string>; shared?: Record<string, string> };
};
export type FakeGoogleEventPatch = Partial<FakeGoogleEventInput>;
export type Deliver = (url: string, init: RequestInit) => Promise<Response>;
export type ResourceState = "sync" | "exists" | "not_exists";
export type FailureMatch = "any" | "page2" | "list" | "watch" | "stop" | "write";
export type LoggedRequest = { method: string; path: string; query: Record<string, string>; authorized: boolean };
export type Delivery = { channelId: string; state: ResourceState; messageNumber: number; attempt: number; status: number | "error" };

type Stored = {
  id: string;
  calendarId: string;
  kind: "single" | "master" | "instance";
  exception: boolean;
  seq: number;
  status: "confirmed" | "tentative" | "cancelled";
  startMs: number;
  endMs: number;
  allDay: boolean;
  timeZone?: string;
  recurringEventId?: string;
  originalStartMs?: number;
  recurrence?: string[];
  sequence: number;
  created: string;
  updated: string;
  iCalUID: string;
  fields: Pick<
    FakeGoogleEventInput,
    "summary" | "description" | "location" | "transparency" | "hangoutLink" | "conferenceData" | "extendedProperties"
  >;
};
type Calendar = { id: string; timeZone: string; resourceId: string; events: Map<string, Stored> };
type Channel = {
  id: string;
  calendarId: string;
  resourceId: string;
  resourceUri: string;
  address: string;
  token?: string;
  expirationMs: number;
  expirationRequested: boolean;
  messageNumber: number;
};
type Failure = { match: FailureMatch; status: number; reason: string; message?: string; retryAfterSeconds?: number };

const PREFIX = "/calendar/v3";
const SEVEN_DAYS_MS = 7 * 24 * 3600_000; // Google push guide: channels expire within 7 days
const DEFAULT_TTL_S = 604_800; // Channel request body: params.ttl "Default is 604800 seconds"
// events.list: a syncToken cannot be combined with these (Google sync guide).
const RESTRICTED_WITH_SYNC = ["iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin"];
const PUSH_OK = new Set([200, 201, 202, 204, 102]); // push guide: success codes
const PUSH_RETRY = new Set([500, 502, 503, 504]); // push guide: retried with exponential backoff

export class FakeGoogleCalendar {
  accessToken: string;
  /** When false, changes do not notify channels; use notifyAll() by hand. */
  autoNotify: boolean;
  readonly requests: LoggedRequest[] = [];
  readonly deliveries: Delivery[] = [];
  private readonly calendars = new Map<string, Calendar>();
  private readonly channelsById = new Map<string, Channel>();
  private readonly failures: Failure[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly deliver: Deliver;
  private readonly now: () => Date;
  private readonly retryDelaysMs: number[];
  private readonly deliveryTimeoutMs: number;
  private readonly allowInsecureAddresses: boolean;
  private seq = 0;
  private epoch = 1;
  /** Successful writes through the API (calendars.insert/delete, events.insert/update/patch/delete). */
  writes = 0;
  /** When each event was last written through the API (performance.now()), for the write-back bench. */
  readonly lastWriteAt = new Map<string, number>();
  /** When set, the next API write is committed and then its connection is cut before any answer. */
  private cutNextWrite = false;
  private server?: Server;
  readonly app = new Hono();

  /** Checks bearer tokens instead of `accessToken` (e.g. against tokens a fake OAuth server issued). */
  private readonly tokenCheck?: (token: string) => boolean;
  private readonly calendarMeta = new Map<string, { summary: string; primary: boolean }>();

  constructor(opts: {
    accessToken: string;
    tokenCheck?: (token: string) => boolean;
    deliver?: Deliver;
    autoNotify?: boolean;
    now?: () => Date;
    /** Delays between attempts after a 500/502/503/504 or network error; default [10, 40]. */
    retryDelaysMs?: number[];
    /** Per-attempt callback timeout; default 5 s (emulate PR #257). */
    deliveryTimeoutMs?: number;
    /** Google requires https addresses; tests delivering to a local http server may lift that. */
    allowInsecureAddresses?: boolean;
  }) {
    this.accessToken = opts.accessToken;
    if (opts.tokenCheck) this.tokenCheck = opts.tokenCheck;
    this.deliver = opts.deliver ?? ((url, init) => fetch(url, init));
    this.autoNotify = opts.autoNotify ?? true;
    this.now = opts.now ?? (() => new Date());
    this.retryDelaysMs = opts.retryDelaysMs ?? [10, 40];
    this.deliveryTimeoutMs = opts.deliveryTimeoutMs ?? 5000;
    this.allowInsecureAddresses = opts.allowInsecureAddresses ?? false;
    this.routes();
  }

  // --- Lifecycle -----------------------------------------------------------------------------------------

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

  /** Resolves when every scheduled notification (with its retries) has settled. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  // --- Test-side control API -----------------------------------------------------------------------------

  addCalendar(calendarId: string, opts: { timeZone?: string; summary?: string; primary?: boolean } = {}): void {
    if (opts.summary !== undefined || opts.primary)
      this.calendarMeta.set(calendarId, { summary: opts.summary ?? calendarId, primary: opts.primary ?? false });
    if (!this.calendars.has(calendarId)) {
      this.calendars.set(calendarId, { id: calendarId, timeZone: opts.timeZone ?? "UTC", resourceId: opaqueId(27), events: new Map() });
    }
  }

  insertEvent(calendarId: string, input: FakeGoogleEventInput): Record<string, unknown> {
    const cal = this.calendar(calendarId);
    const id = input.id ?? googleId();
    if (cal.events.has(id)) throw new Error(`fake: event ${id} exists`);
    const times = this.times(cal, input.start, input.end);
    const ts = this.now().toISOString();
    const ev: Stored = {
      id,
      calendarId,
      kind: "single",
      exception: false,
      seq: 0,
      status: input.status ?? "confirmed",
      ...times,
      sequence: 0,
      created: ts,
      updated: ts,
      iCalUID: input.iCalUID ?? `${id}@google.com`,
      fields: pickFields(input),
    };
    cal.events.set(id, ev);
    this.commit(cal, [ev]);
    return this.render(cal, ev, false);
  }

  /** Patches an event or one instance (which then becomes an exception). Time changes raise `sequence`. */
  patchEvent(calendarId: string, eventId: string, patch: FakeGoogleEventPatch): Record<string, unknown> {
    const cal = this.calendar(calendarId);
    const ev = this.event(cal, eventId);
    if (patch.start || patch.end) {
      Object.assign(ev, this.times(cal, patch.start ?? this.dateInput(cal, ev, ev.startMs), patch.end ?? this.dateInput(cal, ev, ev.endMs)));
      ev.sequence += 1;
    }
    if (patch.status) ev.status = patch.status;
    Object.assign(ev.fields, pickFields(patch));
    if (ev.kind === "instance") ev.exception = true;
    this.commit(cal, [ev]);
    return this.render(cal, ev, false);
  }

  /** Deletes an event (a series deletes its instances): it stays as a cancelled stub, as Google keeps it. */
  deleteEvent(calendarId: string, eventId: string): void {
    const cal = this.calendar(calendarId);
    const ev = this.event(cal, eventId);
    const changed = [ev, ...[...cal.events.values()].filter((e) => e.recurringEventId === ev.id && e.status !== "cancelled")];
    for (const e of changed) e.status = "cancelled";
    this.commit(cal, changed);
  }

  /** A timed series expanded like singleEvents=true: instance ids `<seriesId>_<YYYYMMDDTHHMMSSZ>`. */
  addRecurringSeries(
    calendarId: string,
    input: Omit<FakeGoogleEventInput, "start" | "end"> & {
      start: { dateTime: string; timeZone: string };
      durationMinutes: number;
      count: number;
      frequency?: "DAILY" | "WEEKLY";
    },
  ): { seriesId: string; instanceIds: string[] } {
    const cal = this.calendar(calendarId);
    const id = input.id ?? googleId();
    const freq = input.frequency ?? "WEEKLY";
    const zone = input.start.timeZone;
    const firstMs = parseDateTime(input.start.dateTime, zone);
    const firstWall = wallTime(firstMs, zone);
    const ts = this.now().toISOString();
    const base = {
      calendarId,
      seq: 0,
      status: input.status ?? "confirmed",
      allDay: false,
      timeZone: zone,
      sequence: 0,
      created: ts,
      updated: ts,
      iCalUID: input.iCalUID ?? `${id}@google.com`,
      exception: false,
    } as const;
    const durMs = input.durationMinutes * 60_000;
    const master: Stored = {
      ...base,
      id,
      kind: "master",
      startMs: firstMs,
      endMs: firstMs + durMs,
      recurrence: [`RRULE:FREQ=${freq};COUNT=${input.count}`],
      fields: pickFields(input),
    };
    const instances: Stored[] = [];
    const [y, m, d] = [+firstWall.slice(0, 4), +firstWall.slice(5, 7) - 1, +firstWall.slice(8, 10)];
    for (let i = 0; i < input.count; i += 1) {
      // Expand on the wall clock in the series' zone, so DST keeps the local hour.
      const day = new Date(Date.UTC(y, m, d + i * (freq === "DAILY" ? 1 : 7))).toISOString().slice(0, 10);
      const startMs = wallToUtcMs(`${day}${firstWall.slice(10)}`, zone);
      instances.push({
        ...base,
        id: `${id}_${basicUtc(startMs)}`,
        kind: "instance",
        startMs,
        endMs: startMs + durMs,
        recurringEventId: id,
        originalStartMs: startMs,
        fields: pickFields(input),
      });
    }
    for (const e of [master, ...instances]) cal.events.set(e.id, e);
    this.commit(cal, [master, ...instances]);
    return { seriesId: id, instanceIds: instances.map((e) => e.id) };
  }

  /** Cancels one instance by its original start (UTC ISO): a cancelled exception of a live series. */
  cancelInstance(calendarId: string, seriesId: string, originalStart: string): string {
    const cal = this.calendar(calendarId);
    const ev = this.event(cal, `${seriesId}_${basicUtc(Date.parse(originalStart))}`);
    ev.status = "cancelled";
    ev.exception = true;
    this.commit(cal, [ev]);
    return ev.id;
  }

  /** The next API write is stored, then the connection closes without an answer (a crash after the write). */
  cutAfterNextWrite(): void {
    this.cutNextWrite = true;
  }

  /** Deletes a calendar and everything in it, as the owner would in Google Calendar's settings. */
  removeCalendar(calendarId: string): void {
    this.calendars.delete(calendarId);
    this.calendarMeta.delete(calendarId);
    for (const ch of [...this.channelsById.values()]) if (ch.calendarId === calendarId) this.channelsById.delete(ch.id);
  }

  hasCalendar(calendarId: string): boolean {
    return this.calendars.has(calendarId);
  }

  /** The live (not cancelled) events of a calendar as the API renders them. */
  liveEvents(calendarId: string): Record<string, unknown>[] {
    const cal = this.calendars.get(calendarId);
    if (!cal) return [];
    return [...cal.events.values()].filter((e) => e.status !== "cancelled").map((e) => this.render(cal, e, false));
  }

  /** Every sync token issued so far answers 410 fullSyncRequired (token expiry, ACL change). */
  invalidateSyncTokens(): void {
    this.epoch += 1;
  }

  /** The next matching API request fails with a Google error body (after the bearer check). */
  failNext(f: { match: FailureMatch; status: number; reason: string; message?: string; retryAfterSeconds?: number }): void {
    this.failures.push(f);
  }

  get channels(): { id: string; resourceId: string; address: string; expiration: string; token?: string }[] {
    return this.liveChannels().map((c) => ({
      id: c.id,
      resourceId: c.resourceId,
      address: c.address,
      expiration: new Date(c.expirationMs).toISOString(),
      token: c.token,
    }));
  }

  /** Sends `state` to every live channel (of one calendar, or all); resolves when delivered. */
  async notifyAll(state: ResourceState = "exists", calendarId?: string): Promise<void> {
    for (const ch of this.liveChannels()) if (!calendarId || ch.calendarId === calendarId) this.schedule(ch, state);
    await this.idle();
  }

  // --- HTTP surface ---------------------------------------------------------------------------------------

  private routes(): void {
    const app = this.app;
    app.use("*", async (c, next) => {
      const url = new URL(c.req.url);
      const header = c.req.header("authorization") ?? "";
      const authorized = this.tokenCheck ? header.startsWith("Bearer ") && this.tokenCheck(header.slice(7)) : header === `Bearer ${this.accessToken}`;
      this.requests.push({ method: c.req.method, path: decodeURIComponent(url.pathname), query: Object.fromEntries(url.searchParams), authorized });
      if (!authorized) {
        // Errors guide, 401: authError on the Authorization header.
        c.header("www-authenticate", 'Bearer realm="https://accounts.google.com/"');
        return c.json(googleError(401, "authError", "Invalid Credentials", "global", "UNAUTHENTICATED"), 401);
      }
      const failure = this.takeFailure(c, url);
      if (failure) {
        if (failure.retryAfterSeconds !== undefined) c.header("retry-after", String(failure.retryAfterSeconds));
        const domain = failure.status === 403 || failure.status === 429 ? "usageLimits" : "global";
        return c.json(googleError(failure.status, failure.reason, failure.message ?? failure.reason, domain), failure.status as 400);
      }
      return next();
    });
    app.get(`${PREFIX}/calendars/:calendarId/events`, (c) => this.list(c));
    // calendarList.list (one page; fields per the CalendarList resource).
    app.get(`${PREFIX}/users/me/calendarList`, (c) =>
      c.json({
        kind: "calendar#calendarList",
        etag: `"l${this.seq}"`,
        nextSyncToken: encodeToken({ l: this.seq }),
        items: [...this.calendars.values()].map((cal) => {
          const meta = this.calendarMeta.get(cal.id);
          return {
            kind: "calendar#calendarListEntry",
            id: cal.id,
            summary: meta?.summary ?? cal.id,
            timeZone: cal.timeZone,
            accessRole: "owner",
            ...(meta?.primary ? { primary: true } : {}),
          };
        }),
      }),
    );
    app.post(`${PREFIX}/calendars/:calendarId/events/watch`, (c) => this.watch(c));
    // Write surface (Calendars and Events references): calendars.insert/get/delete, events.insert/get/update/patch/delete.
    app.post(`${PREFIX}/calendars`, (c) => this.write(c, () => this.insertCalendarApi(c)));
    app.get(`${PREFIX}/calendars/:calendarId`, (c) => this.getCalendarApi(c));
    app.delete(`${PREFIX}/calendars/:calendarId`, (c) => this.write(c, () => this.deleteCalendarApi(c)));
    app.post(`${PREFIX}/calendars/:calendarId/events`, (c) => this.write(c, () => this.insertEventApi(c)));
    app.get(`${PREFIX}/calendars/:calendarId/events/:eventId`, (c) => this.getEventApi(c));
    app.put(`${PREFIX}/calendars/:calendarId/events/:eventId`, (c) => this.write(c, () => this.updateEventApi(c, "put")));
    app.patch(`${PREFIX}/calendars/:calendarId/events/:eventId`, (c) => this.write(c, () => this.updateEventApi(c, "patch")));
    app.delete(`${PREFIX}/calendars/:calendarId/events/:eventId`, (c) => this.write(c, () => this.deleteEventApi(c)));
    app.post(`${PREFIX}/channels/stop`, (c) => this.stopChannel(c));
    app.notFound((c) => c.json(googleError(404, "notFound", "Not Found"), 404));
  }

  private takeFailure(c: Context, url: URL): Failure | undefined {
    const isList = c.req.method === "GET" && url.pathname.endsWith("/events");
    const isWrite = c.req.method !== "GET" && !url.pathname.endsWith("/watch") && !url.pathname.endsWith("/channels/stop");
    const i = this.failures.findIndex(
      (f) =>
        f.match === "any" ||
        (f.match === "list" && isList) ||
        (f.match === "page2" && isList && url.searchParams.has("pageToken")) ||
        (f.match === "watch" && url.pathname.endsWith("/events/watch")) ||
        (f.match === "stop" && url.pathname.endsWith("/channels/stop")) ||
        (f.match === "write" && isWrite),
    );
    return i < 0 ? undefined : this.failures.splice(i, 1)[0];
  }

  private list(c: Context): Response {
    const cal = this.calendars.get(c.req.param("calendarId") ?? "");
    if (!cal) return c.json(googleError(404, "notFound", "Not Found"), 404);
    const q = new URL(c.req.url).searchParams;
    const syncToken = q.get("syncToken");
    if (syncToken !== null && RESTRICTED_WITH_SYNC.some((p) => q.has(p))) {
      // Google sync guide: 400 "Sync token cannot be used with other request restrictions".
      return c.json(
        googleError(400, "syncTokenWithRequestRestrictions", "Sync token cannot be used with other request restrictions.", "calendar"),
        400,
      );
    }
    const maxResults = q.has("maxResults") ? Number(q.get("maxResults")) : 250; // events.list default 250
    if (!Number.isInteger(maxResults) || maxResults < 1) return c.json(googleError(400, "invalid", "Invalid value for: maxResults"), 400);
    const pageSize = Math.min(maxResults, 2500);

    let cursor: { since: number | null; upto: number; after: string };
    const pageToken = q.get("pageToken");
    if (pageToken !== null) {
      const t = decodeToken(pageToken);
      if (!t || t.c !== cal.id || typeof t.upto !== "number") return c.json(googleError(400, "invalid", "Invalid page token value."), 400);
      if (t.since !== null && t.e !== this.epoch) return c.json(fullSyncRequired(), 410);
      cursor = { since: t.since as number | null, upto: t.upto, after: String(t.after) };
    } else if (syncToken !== null) {
      const t = decodeToken(syncToken);
      if (!t || t.c !== cal.id || t.e !== this.epoch || typeof t.s !== "number") return c.json(fullSyncRequired(), 410);
      cursor = { since: t.s, upto: this.seq, after: "" };
    } else {
      cursor = { since: null, upto: this.seq, after: "" };
    }

    const singleEvents = q.get("singleEvents") === "true";
    const showDeleted = q.get("showDeleted") === "true" || cursor.since !== null; // sync guide: deletions always in incremental
    const timeMin = q.has("timeMin") ? Date.parse(q.get("timeMin")!) : -Infinity;
    const timeMax = q.has("timeMax") ? Date.parse(q.get("timeMax")!) : Infinity;
    const matching = [...cal.events.values()]
      .filter((e) => e.seq <= cursor.upto && (cursor.since === null || e.seq > cursor.since))
      .filter((e) => (singleEvents ? e.kind !== "master" : e.kind !== "instance" || e.exception))
      .filter((e) => showDeleted || e.status !== "cancelled")
      .filter((e) => e.endMs > timeMin && e.startMs < timeMax) // events.list: timeMin bounds the end, timeMax the start
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .filter((e) => e.id > cursor.after);
    const page = matching.slice(0, pageSize);
    const more = matching.length > pageSize;
    const body: Record<string, unknown> = {
      kind: "calendar#events",
      etag: `"p${this.seq}"`,
      summary: cal.id,
      updated: this.now().toISOString(),
      timeZone: cal.timeZone,
      accessRole: "owner",
      defaultReminders: [],
    };
    if (more) {
      body.nextPageToken = encodeToken({ c: cal.id, since: cursor.since, upto: cursor.upto, after: page.at(-1)!.id, e: this.epoch });
    } else {
      body.nextSyncToken = encodeToken({ c: cal.id, s: cursor.upto, e: this.epoch }); // only on the last page
    }
    body.items = page.map((e) => this.render(cal, e, true));
    return c.json(body);
  }

  private async watch(c: Context): Promise<Response> {
    const cal = this.calendars.get(c.req.param("calendarId") ?? "");
    if (!cal) return c.json(googleError(404, "notFound", "Not Found"), 404);
    const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    if (!body || typeof body.id !== "string" || body.id.length === 0 || body.id.length > 64) {
      return c.json(googleError(400, "required", "Required: id"), 400); // push guide: id at most 64 characters
    }
    if (body.type !== "web_hook") return c.json(googleError(400, "invalid", "Invalid value for: type"), 400);
    const address = typeof body.address === "string" ? body.address : "";
    if (!/^https:\/\//i.test(address) && !(this.allowInsecureAddresses && /^http:\/\//i.test(address))) {
      return c.json(googleError(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: " + address), 400);
    }
    if (body.token !== undefined && (typeof body.token !== "string" || body.token.length > 256)) {
      return c.json(googleError(400, "invalid", "Invalid value for: token"), 400);
    }
    if (this.liveChannels().some((ch) => ch.id === body.id)) return c.json(googleError(400, "channelIdNotUnique", "Channel id not unique"), 400);
    const nowMs = this.now().getTime();
    const params = body.params as { ttl?: unknown } | undefined;
    const requested =
      body.expiration !== undefined ? Number(body.expiration) : params?.ttl !== undefined ? nowMs + Number(params.ttl) * 1000 : undefined;
    if (requested !== undefined && !(requested > nowMs)) return c.json(googleError(400, "invalid", "Invalid value for: expiration"), 400);
    const origin = new URL(c.req.url).origin;
    const ch: Channel = {
      id: body.id,
      calendarId: cal.id,
      resourceId: cal.resourceId,
      resourceUri: `${origin}${PREFIX}/calendars/${encodeURIComponent(cal.id)}/events?alt=json`,
      address,
      expirationMs: Math.min(requested ?? nowMs + DEFAULT_TTL_S * 1000, nowMs + SEVEN_DAYS_MS),
      expirationRequested: requested !== undefined,
      messageNumber: 0,
    };
    if (typeof body.token === "string") ch.token = body.token;
    this.channelsById.set(ch.id, ch);
    // The sync message follows channel creation (push guide); sent after this response is written.
    this.schedule(ch, "sync");
    const res: Record<string, unknown> = {
      kind: "api#channel",
      id: ch.id,
      resourceId: ch.resourceId,
      resourceUri: ch.resourceUri,
      expiration: String(ch.expirationMs),
    };
    if (ch.token !== undefined) res.token = ch.token;
    return c.json(res);
  }

  private async stopChannel(c: Context): Promise<Response> {
    const body = (await c.req.json().catch(() => null)) as { id?: unknown; resourceId?: unknown } | null;
    const ch = typeof body?.id === "string" ? this.channelsById.get(body.id) : undefined;
    if (!ch || ch.resourceId !== body?.resourceId) {
      return c.json(googleError(404, "notFound", `Channel '${String(body?.id)}' not found for project`), 404);
    }
    this.channelsById.delete(ch.id);
    return c.body(null, 204);
  }

  // --- Write API -------------------------------------------------------------------------------------------

  /** Counts a successful write; `cutAfterNextWrite` drops the connection after the change is stored. */
  private async write(c: Context, op: () => Promise<Response> | Response): Promise<Response> {
    const res = await op();
    if (res.status < 300) {
      this.writes += 1;
      const eventId =
        c.req.param("eventId") ??
        (
          (await res
            .clone()
            .json()
            .catch(() => null)) as { id?: string } | null
        )?.id;
      if (eventId) this.lastWriteAt.set(eventId, performance.now());
      if (this.cutNextWrite) {
        this.cutNextWrite = false;
        const incoming = (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming;
        incoming?.socket?.destroy();
      }
    }
    return res;
  }

  private async insertCalendarApi(c: Context): Promise<Response> {
    const body = (await c.req.json().catch(() => null)) as { summary?: unknown; timeZone?: unknown } | null;
    if (!body || typeof body.summary !== "string" || body.summary === "") return c.json(googleError(400, "required", "Missing title."), 400);
    const id = `${googleId().slice(0, 26)}@group.calendar.google.com`;
    this.addCalendar(id, { summary: body.summary, ...(typeof body.timeZone === "string" ? { timeZone: body.timeZone } : {}) });
    return c.json(this.renderCalendar(this.calendars.get(id)!));
  }

  private getCalendarApi(c: Context): Response {
    const cal = this.calendars.get(c.req.param("calendarId") ?? "");
    if (!cal) return c.json(googleError(404, "notFound", "Not Found"), 404);
    return c.json(this.renderCalendar(cal));
  }

  private deleteCalendarApi(c: Context): Response {
    const id = c.req.param("calendarId") ?? "";
    if (!this.calendars.has(id)) return c.json(googleError(404, "notFound", "Not Found"), 404);
    this.removeCalendar(id);
    return c.body(null, 204);
  }

  private renderCalendar(cal: Calendar): Record<string, unknown> {
    return {
      kind: "calendar#calendar",
      etag: `"c${cal.resourceId}"`,
      id: cal.id,
      summary: this.calendarMeta.get(cal.id)?.summary ?? cal.id,
      timeZone: cal.timeZone,
    };
  }

  private async insertEventApi(c: Context): Promise<Response> {
    const cal = this.calendars.get(c.req.param("calendarId") ?? "");
    if (!cal) return c.json(googleError(404, "notFound", "Not Found"), 404);
    const body = (await c.req.json().catch(() => null)) as FakeGoogleEventInput | null;
    if (!body?.start || !body.end) return c.json(googleError(400, "required", "Missing time."), 400);
    if (body.id !== undefined && !/^[0-9a-v]{5,1024}$/.test(body.id)) return c.json(googleError(400, "invalid", "Invalid resource id value."), 400);
    // Events reference: a client-supplied id must be unique per calendar, also against deleted events.
    if (body.id !== undefined && cal.events.has(body.id))
      return c.json(googleError(409, "duplicate", "The requested identifier already exists."), 409);
    return c.json(this.insertEvent(cal.id, body));
  }

  private getEventApi(c: Context): Response {
    const cal = this.calendars.get(c.req.param("calendarId") ?? "");
    const ev = cal?.events.get(c.req.param("eventId") ?? "");
    if (!cal || !ev) return c.json(googleError(404, "notFound", "Not Found"), 404);
    return c.json(this.render(cal, ev, false));
  }

  /** RFC 9110 13.1.1: If-Match against the event's etag; a mismatch is 412 conditionNotMet (errors guide). */
  private preconditionFails(c: Context, ev: Stored): boolean {
    const ifMatch = c.req.header("if-match");
    return ifMatch !== undefined && ifMatch !== "*" && ifMatch !== `"${ev.seq}"`;
  }

  private async updateEventApi(c: Context, mode: "put" | "patch"): Promise<Response> {
    const cal = this.calendars.get(c.req.param("calendarId") ?? "");
    const ev = cal?.events.get(c.req.param("eventId") ?? "");
    if (!cal || !ev) return c.json(googleError(404, "notFound", "Not Found"), 404);
    if (this.preconditionFails(c, ev)) return c.json(googleError(412, "conditionNotMet", "Precondition Failed"), 412);
    const body = (await c.req.json().catch(() => null)) as FakeGoogleEventPatch | null;
    if (!body || (mode === "put" && (!body.start || !body.end))) return c.json(googleError(400, "required", "Missing time."), 400);
    if (mode === "put") {
      ev.fields = {};
      if (body.status === undefined) body.status = "confirmed";
    }
    return c.json(this.patchEvent(cal.id, ev.id, body));
  }

  private deleteEventApi(c: Context): Response {
    const cal = this.calendars.get(c.req.param("calendarId") ?? "");
    const ev = cal?.events.get(c.req.param("eventId") ?? "");
    if (!cal || !ev) return c.json(googleError(404, "notFound", "Not Found"), 404);
    if (ev.status === "cancelled") return c.json(googleError(410, "deleted", "Resource has been deleted"), 410);
    if (this.preconditionFails(c, ev)) return c.json(googleError(412, "conditionNotMet", "Precondition Failed"), 412);
    this.deleteEvent(cal.id, ev.id);
    return c.body(null, 204);
  }

  // --- Internals ------------------------------------------------------------------------------------------

  private calendar(calendarId: string): Calendar {
    this.addCalendar(calendarId);
    return this.calendars.get(calendarId)!;
  }

  private event(cal: Calendar, id: string): Stored {
    const ev = cal.events.get(id);
    if (!ev) throw new Error(`fake: no event ${id} in ${cal.id}`);
    return ev;
  }

  /** One committed change: new change numbers, `updated`, then an `exists` hint to live channels. */
  private commit(cal: Calendar, changed: Stored[]): void {
    this.seq += 1;
    const ts = this.now().toISOString();
    for (const e of changed) {
      e.seq = this.seq;
      e.updated = ts;
    }
    if (this.autoNotify) for (const ch of this.liveChannels()) if (ch.calendarId === cal.id) this.schedule(ch, "exists");
  }

  private liveChannels(): Channel[] {
    const nowMs = this.now().getTime();
    return [...this.channelsById.values()].filter((ch) => ch.expirationMs > nowMs);
  }

  private schedule(ch: Channel, state: ResourceState): void {
    // Push guide: 1 for sync, then increasing but not sequential; so we skip numbers now and then.
    ch.messageNumber = state === "sync" ? 1 : ch.messageNumber + 1 + (ch.messageNumber % 2);
    const messageNumber = ch.messageNumber;
    const headers: Record<string, string> = {
      "x-goog-channel-id": ch.id,
      "x-goog-message-number": String(messageNumber),
      "x-goog-resource-id": ch.resourceId,
      "x-goog-resource-state": state,
      "x-goog-resource-uri": ch.resourceUri,
      "user-agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
    };
    // Push guide: expiration only when the channel was given one (human-readable date), token only if set.
    if (ch.expirationRequested) headers["x-goog-channel-expiration"] = new Date(ch.expirationMs).toUTCString();
    if (ch.token !== undefined) headers["x-goog-channel-token"] = ch.token;
    const p = (async () => {
      await new Promise((r) => setTimeout(r, 0));
      for (let attempt = 0; ; attempt += 1) {
        let status: number | "error";
        try {
          status = await withTimeout(this.deliveryTimeoutMs, async (signal) => {
            const res = await this.deliver(ch.address, { method: "POST", headers, signal });
            await res.body?.cancel();
            return res.status;
          });
        } catch {
          status = "error";
        }
        this.deliveries.push({ channelId: ch.id, state, messageNumber, attempt, status });
        const retry = status === "error" || PUSH_RETRY.has(status);
        if (PUSH_OK.has(status as number) || !retry || attempt >= this.retryDelaysMs.length) return;
        await new Promise((r) => setTimeout(r, this.retryDelaysMs[attempt]));
      }
    })();
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private times(cal: Calendar, start: DateInput, end: DateInput): Pick<Stored, "startMs" | "endMs" | "allDay" | "timeZone"> {
    const zone = start.timeZone ?? cal.timeZone;
    const allDay = start.date !== undefined;
    const at = (d: DateInput) =>
      d.date !== undefined ? wallToUtcMs(`${d.date}T00:00:00`, zone) : parseDateTime(d.dateTime ?? "", d.timeZone ?? zone);
    const out: Pick<Stored, "startMs" | "endMs" | "allDay" | "timeZone"> = { startMs: at(start), endMs: at(end), allDay };
    if (start.timeZone) out.timeZone = start.timeZone;
    return out;
  }

  private dateInput(cal: Calendar, ev: Stored, ms: number): DateInput {
    const zone = ev.timeZone ?? cal.timeZone;
    return ev.allDay ? { date: wallTime(ms, zone).slice(0, 10) } : { dateTime: new Date(ms).toISOString(), timeZone: zone };
  }

  /** The Events resource as Google returns it; in a list, cancelled items are id-only stubs (Events reference). */
  private render(cal: Calendar, e: Stored, inList: boolean): Record<string, unknown> {
    const zone = e.timeZone ?? cal.timeZone;
    const when = (ms: number) => {
      if (e.allDay) return { date: wallTime(ms, zone).slice(0, 10) };
      const out: DateInput = { dateTime: rfc3339In(ms, zone) };
      if (e.timeZone) out.timeZone = e.timeZone;
      return out;
    };
    const out: Record<string, unknown> = { kind: "calendar#event", etag: `"${e.seq}"`, id: e.id, status: e.status };
    if (e.recurringEventId) {
      out.recurringEventId = e.recurringEventId;
      out.originalStartTime = { dateTime: rfc3339In(e.originalStartMs!, zone), timeZone: zone };
    }
    if (inList && e.status === "cancelled") return out;
    Object.assign(out, {
      created: e.created,
      updated: e.updated,
      iCalUID: e.iCalUID,
      sequence: e.sequence,
      start: when(e.startMs),
      end: when(e.endMs),
      eventType: "default",
      ...structuredClone(e.fields),
    });
    if (e.recurrence) out.recurrence = e.recurrence;
    return out;
  }
}

// --- Helpers ----------------------------------------------------------------------------------------------

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

function pickFields(i: FakeGoogleEventPatch): Stored["fields"] {
  const out: Stored["fields"] = {};
  for (const k of ["summary", "description", "location", "transparency", "hangoutLink", "conferenceData", "extendedProperties"] as const) {
    if (i[k] !== undefined) (out as Record<string, unknown>)[k] = structuredClone(i[k]);
  }
  return out;
}

/** Errors guide body: {"error": {"errors": [{domain, reason, message}], "code", "message"}}. */
function googleError(code: number, reason: string, message: string, domain = "global", status?: string) {
  const error: Record<string, unknown> = { errors: [{ domain, reason, message }], code, message };
  if (status) error.status = status;
  return { error };
}

function fullSyncRequired() {
  // Errors guide, 410 Gone.
  const message = "Sync token is no longer valid, a full sync is required.";
  return {
    error: {
      errors: [{ domain: "calendar", reason: "fullSyncRequired", message, locationType: "parameter", location: "syncToken" }],
      code: 410,
      message,
    },
  };
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

const BASE32HEX = "0123456789abcdefghijklmnopqrstuv"; // Events reference: ids use base32hex characters
function googleId(): string {
  return [...randomBytes(26)].map((b) => BASE32HEX[b % 32]).join("");
}

function opaqueId(n: number): string {
  return randomBytes(n).toString("base64url").slice(0, n);
}

/** 20261201T150000Z */
function basicUtc(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

// The fake's own zone arithmetic (independent of src/ingest, so it can serve as an oracle).
function zoneOffsetMs(ms: number, zone: string): number {
  const f = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour!, +p.minute!, +p.second!) - Math.floor(ms / 1000) * 1000;
}

/** "YYYY-MM-DDTHH:MM:SS" local wall time of `ms` in `zone`. */
function wallTime(ms: number, zone: string): string {
  return new Date(ms + zoneOffsetMs(ms, zone)).toISOString().slice(0, 19);
}

function wallToUtcMs(wall: string, zone: string): number {
  const guess = Date.parse(`${wall.slice(0, 19)}Z`);
  const first = guess - zoneOffsetMs(guess, zone);
  return guess - zoneOffsetMs(first, zone);
}

function parseDateTime(dt: string, zone: string): number {
  const ms = /(Z|[+-]\d{2}:\d{2})$/.test(dt) ? Date.parse(dt) : wallToUtcMs(dt, zone);
  if (Number.isNaN(ms)) throw new Error(`fake: bad dateTime ${dt}`);
  return ms;
}

/** Google writes dateTime in the event's (or calendar's) zone with its offset: 2026-12-01T10:00:00-05:00. */
function rfc3339In(ms: number, zone: string): string {
  if (zone === "UTC") return `${new Date(ms).toISOString().slice(0, 19)}Z`;
  const off = zoneOffsetMs(ms, zone) / 60_000;
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return `${wallTime(ms, zone)}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}
