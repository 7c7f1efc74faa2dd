// Independent parsers as test oracles (STYLE: "independent parsers as oracles"): Debian's
// python3-icalendar and python3-vobject, run as /usr/bin/python3 with the ICS on stdin and JSON on
// stdout. A missing module is an error, never a skip: a machine without the oracle must fail.
import { spawn } from "node:child_process";

import { PYTHON } from "../oracles.js";

export { PYTHON };

export type PythonIcsLib = "icalendar" | "vobject";

export type PythonIcsEvent = {
  uid: string;
  /** UTC as `toISOString()` writes it (2026-11-26T14:00:00.000Z); a floating time has no "Z" and a
   *  DATE value is YYYY-MM-DD, so either fails an equality with a JS instant. */
  start: string;
  end: string;
  status?: string;
  sequence?: number;
  summary?: string;
  description?: string;
  location?: string;
  url?: string;
};

export type PythonIcsResult = {
  events: PythonIcsEvent[];
  calendar: { prodid?: string; method?: string; version?: string };
  /** icalendar's per-component parse errors (it records some problems instead of raising). */
  errors: string[];
};

// DTSTART and DTEND are required (a missing one raises, so the call rejects). The input is decoded
// as strict UTF-8 first, so a fold that split a character is an error here
// even though both libraries would otherwise replace it silently.
const SCRIPT = String.raw`
import sys, json, datetime
lib = sys.argv[1]
text = sys.stdin.buffer.read().decode("utf-8", errors="strict")

def iso(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            return v.strftime("%Y-%m-%dT%H:%M:%S.000")
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(v, datetime.date):
        return v.isoformat()
    raise TypeError("not a date: %r" % (v,))

def clean(d):
    return {k: v for k, v in d.items() if v is not None}

events, errors, calendar = [], [], {}
if lib == "icalendar":
    import icalendar
    cal = icalendar.Calendar.from_ical(text)
    for comp in cal.walk():
        for e in getattr(comp, "errors", []):
            errors.append("%s: %s" % (comp.name, e))
    def s(comp, name):
        v = comp.get(name)
        return None if v is None else str(v)
    calendar = clean({"prodid": s(cal, "PRODID"), "method": s(cal, "METHOD"), "version": s(cal, "VERSION")})
    for ev in cal.walk("VEVENT"):
        seq = ev.get("SEQUENCE")
        events.append(clean({
            "uid": s(ev, "UID"),
            "start": iso(ev.decoded("DTSTART")),
            "end": iso(ev.decoded("DTEND")),
            "status": s(ev, "STATUS"),
            "sequence": None if seq is None else int(seq),
            "summary": s(ev, "SUMMARY"),
            "description": s(ev, "DESCRIPTION"),
            "location": s(ev, "LOCATION"),
            "url": s(ev, "URL"),
        }))
elif lib == "vobject":
    import vobject
    cal = vobject.readOne(text)
    def s(comp, name):
        c = comp.contents.get(name)
        return None if not c else str(c[0].value)
    calendar = clean({"prodid": s(cal, "prodid"), "method": s(cal, "method"), "version": s(cal, "version")})
    for ev in cal.contents.get("vevent", []):
        seq = s(ev, "sequence")
        events.append(clean({
            "uid": s(ev, "uid"),
            "start": iso(ev.contents["dtstart"][0].value),
            "end": iso(ev.contents["dtend"][0].value),
            "status": s(ev, "status"),
            "sequence": None if seq is None else int(seq),
            "summary": s(ev, "summary"),
            "description": s(ev, "description"),
            "location": s(ev, "location"),
            "url": s(ev, "url"),
        }))
else:
    raise SystemExit("unknown lib " + lib)
json.dump({"events": events, "calendar": calendar, "errors": errors}, sys.stdout)
`;

/** Parse `ics` with a Python library; rejects with python's stderr on any failure. */
export function parseWithPython(ics: string, lib: PythonIcsLib, timeoutMs = 20_000): Promise<PythonIcsResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ["-c", SCRIPT, lib], { stdio: ["pipe", "pipe", "pipe"], timeout: timeoutMs });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new Error(`cannot run ${PYTHON} for ${lib}: ${e.message}`)));
    child.on("close", (code, signal) => {
      const stderr = Buffer.concat(err).toString("utf8");
      if (code !== 0) {
        reject(new Error(`${PYTHON} ${lib} failed (exit ${code ?? signal}):\n${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(Buffer.concat(out).toString("utf8")) as PythonIcsResult);
      } catch (e) {
        reject(new Error(`${PYTHON} ${lib} wrote no JSON: ${(e as Error).message}\n${stderr}`));
      }
    });
    child.stdin.on("error", () => {}); // EPIPE when python dies early; the close handler reports it
    child.stdin.end(ics, "utf8");
  });
}
