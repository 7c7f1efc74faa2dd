import { z } from "zod";
import { ValidationError } from "../errors.js";

export const PageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});

/** Keyset cursors: opaque to clients, `(timestamp, id)` inside. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString("base64url");
}

export function decodeCursor(cursor: string): { at: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, "base64url").toString().split("|");
  const at = new Date(iso ?? "");
  if (!id || Number.isNaN(at.getTime())) {
    throw new ValidationError([{ path: "cursor", message: "not a cursor this API issued" }]);
  }
  return { at, id };
}
