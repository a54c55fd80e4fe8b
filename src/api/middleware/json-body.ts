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
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new RigflowError("BODY_INVALID_JSON", `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (nestingDepth(body) > maxNesting) {
    throw new RigflowError("VALIDATION_FAILED", `the body is nested more than ${maxNesting} levels deep`, {
      limit: maxNesting,
    });
  }
  return body;
}

/** Deeper JSON than this would overflow the stack of whatever serializes it later. */
const maxNesting = 64;

/** Measured without recursion, so that measuring a hostile body cannot overflow the stack either. */
function nestingDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (current === null || typeof current !== "object") continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > maxNesting) return deepest;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}
