// `npm test` runs this first. The suite uses independent oracles from Debian: Chromium for the
// settings-page browser tests, python3-icalendar and python3-vobject as second ICS parsers. A
// missing oracle is never a skipped test: as root with apt-get this installs what is missing,
// otherwise it stops at once naming the exact command to run.
//
// THC_ORACLES_HIDE=chromium,python3-vobject makes the first check treat those as missing (for a
// throwaway check of this script); THC_ORACLES_INSTALL=never forbids installing.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const PYTHON = "/usr/bin/python3";
export const CHROMIUM = "/usr/bin/chromium";

export type Oracle = { aptPackage: string; present: () => boolean };

const pythonModule = (name: string) => () => spawnSync(PYTHON, ["-c", `import ${name}`], { stdio: "ignore" }).status === 0;

export const ORACLES: readonly Oracle[] = [
  { aptPackage: "chromium", present: () => existsSync(CHROMIUM) },
  { aptPackage: "python3-icalendar", present: pythonModule("icalendar") },
  { aptPackage: "python3-vobject", present: pythonModule("vobject") },
];

export function installCommand(packages: readonly string[], root: boolean): string {
  const sudo = root ? "" : "sudo ";
  return `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${packages.join(" ")}`;
}

function missingOracles(hidden: ReadonlySet<string>): string[] {
  return ORACLES.filter((o) => hidden.has(o.aptPackage) || !o.present()).map((o) => o.aptPackage);
}

function run(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return r.status === 0;
}

function main(): number {
  const hidden = new Set(
    (process.env.THC_ORACLES_HIDE ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const missing = missingOracles(hidden);
  if (missing.length === 0) return 0;
  const root = process.getuid?.() === 0;
  const canInstall = process.env.THC_ORACLES_INSTALL !== "never" && root && existsSync("/usr/bin/apt-get");
  if (!canInstall) {
    process.stderr.write(
      `The tests need Debian packages that are missing: ${missing.join(", ")}.\nRun:\n  ${installCommand(missing, root)}\nthen npm test again.\n`,
    );
    return 1;
  }
  process.stdout.write(`Installing the test oracles: ${missing.join(", ")} ...\n`);
  if (!run("apt-get", ["update", "-qq"]) || !run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing])) {
    process.stderr.write(`Installing failed. Run:\n  ${installCommand(missing, root)}\nthen npm test again.\n`);
    return 1;
  }
  const still = missingOracles(new Set());
  if (still.length > 0) {
    process.stderr.write(`Still missing after installing: ${still.join(", ")}. Run:\n  ${installCommand(still, root)}\n`);
    return 1;
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(main());
