import { operations } from "../../src/api/openapi/operations.js";
import { errorResponse } from "../../src/api/openapi/responses.js";

/** The described operation a request went to, by method and path. */
export function operationOf(method: string, url: string) {
  const path = new URL(url, "http://x").pathname;
  return operations.find(
    (operation) =>
      operation.method === method.toLowerCase() &&
      new RegExp(`^${operation.path.replace(/\{\w+\}/g, "[^/]+")}$`).test(path),
  );
}

/**
 * Checks an answer the tests get against the OpenAPI document's schema for its route and status
 * (src/api/openapi): every call a test makes through the test API's helpers is checked, so an
 * answer that drifts from the document fails the test that saw it. Answers that are not JSON, and
 * routes the document leaves out (browser pages), are not checked.
 */
export async function checkDescribed(method: string, url: string, response: Response): Promise<Response> {
  if (!(response.headers.get("content-type") ?? "").startsWith("application/json")) return response;
  const operation = operationOf(method, url);
  if (!operation) return response;
  const declared = response.status >= 400 ? errorResponse : operation.responses[response.status];
  if (declared === undefined) {
    throw new Error(
      `${method} ${url} answered ${response.status}, which the OpenAPI document does not describe`,
    );
  }
  if (typeof declared === "string") return response;
  const parsed = declared.safeParse(await response.clone().json());
  if (!parsed.success) {
    throw new Error(
      `${method} ${url} answered ${response.status} outside the OpenAPI document: ${JSON.stringify(parsed.error.issues).slice(0, 600)}`,
    );
  }
  return response;
}
