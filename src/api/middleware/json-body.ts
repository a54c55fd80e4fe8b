import type { Context } from "hono";
import { RigflowError } from "../../engine/index.js";

/**
 * Reads a JSON request body: 415 unless it is sent as JSON, 400 when it does not parse. The size
 * limit is enforced before this by hono's bodyLimit middleware.
 */
export async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/(.+\+)?json\s*(;|$)/i.test(type)) {
    throw new RigflowError(
      "UNSUPPORTED_MEDIA_TYPE",
      `send the body as JSON with Content-Type: application/json (got '${type || "none"}')`,
      { content_type: type },
    );
  }
  const text = await c.req.text();
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new RigflowError("BODY_INVALID_JSON", `the body is not valid JSON: ${(error as Error).message}`);
  }
}
