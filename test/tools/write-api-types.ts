// Regenerates the typed client's types from the API document (npm run api:types).
import { writeFileSync } from "node:fs";
import { API_TYPES_FILE, renderApiTypes } from "./api-document.js";

writeFileSync(API_TYPES_FILE, await renderApiTypes());
console.log(`wrote ${API_TYPES_FILE}`);
