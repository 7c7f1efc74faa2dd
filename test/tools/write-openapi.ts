// Writes the API document exactly as the app serves it, for linting (see .ci/run):
//   npx tsx test/tools/write-openapi.ts out.json
import { writeFileSync } from "node:fs";
import { buildApiDocument } from "./api-document.js";

const out = process.argv[2];
if (!out) throw new Error("usage: write-openapi.ts OUT.json");
writeFileSync(out, JSON.stringify(await buildApiDocument(process.env.PUBLIC_BASE_URL), null, 2) + "\n");
