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
  const forbidden = forbiddenKeyPath(body);
  if (forbidden) {
    throw new RigflowError(
      "VALIDATION_FAILED",
      `${forbidden}: the key '${forbidden.split(/[.[]/).pop()?.replace("]", "")}' is not allowed anywhere in a body`,
      { field: forbidden },
    );
  }
  return body;
}

/**
 * Keys that some code reading the body could take for an object's prototype (prototype
 * pollution): refused wherever they are, even where the rest of the body is free-form (params, ui).
 */
const forbiddenKeys = new Set(["__proto__", "constructor", "prototype"]);

/** The path of the first forbidden key in a parsed body, or null; without recursion. */
function forbiddenKeyPath(value: unknown): string | null {
  const stack: [unknown, string][] = [[value, ""]];
  while (stack.length > 0) {
    const [current, path] = stack.pop() as [unknown, string];
    if (current === null || typeof current !== "object") continue;
    if (Array.isArray(current)) {
      current.forEach((child, index) => stack.push([child, `${path}[${index}]`]));
      continue;
    }
    for (const key of Object.keys(current)) {
      const keyPath = path ? `${path}.${key}` : key;
      if (forbiddenKeys.has(key)) return keyPath;
      stack.push([(current as Record<string, unknown>)[key], keyPath]);
    }
  }
  return null;
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

/**
 * As readJson, for a route whose body is optional: a request with no body at all (no
 * Content-Type, nothing sent) reads as undefined; any body is read as readJson reads it.
 */
export async function readOptionalJson(c: Context): Promise<unknown> {
  if (c.req.header("content-type") === undefined && (await c.req.text()) === "") return undefined;
  return readJson(c);
}
