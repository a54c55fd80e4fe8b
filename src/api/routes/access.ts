import { Hono } from "hono";
import { z } from "zod";
import { RigflowError } from "../../engine/index.js";
import type { AccessEnv, AccessGate } from "../access/index.js";
import { parseWith } from "../validation.js";

export const auditQuerySchema = z.object({
  after: z
    .string()
    .regex(/^\d{1,15}-\d{1,10}$/, "must be an audit_id (or the next_after of an earlier page)")
    .optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** GET /api/me (who the caller is, for the dashboard's controls) and GET /api/audit (operators). */
export function accessRoutes(gate: AccessGate) {
  return new Hono<AccessEnv>()
    .get("/me", (c) => {
      const { actor, role, via } = c.get("principal");
      return c.json({ actor, role, via }, 200, { "cache-control": "no-store" });
    })
    .get("/audit", async (c) => {
      const principal = c.get("principal");
      if (principal.role !== "operator") {
        throw new RigflowError("FORBIDDEN", "the audit log is for operators", { role: principal.role });
      }
      const query = parseWith(auditQuerySchema, c.req.query(), "query", "QUERY_INVALID");
      return c.json(await gate.audit.list(query.after, query.limit), 200, { "cache-control": "no-store" });
    });
}
