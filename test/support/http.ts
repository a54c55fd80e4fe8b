import { expect } from "vitest";

/** GETs `path` from an API process and returns its JSON body, failing on any status but 200. */
export async function getJson<T>(base: string, path: string): Promise<T> {
  const response = await fetch(`${base}${path}`);
  expect(response.status, `GET ${path}: ${response.status}`).toBe(200);
  return (await response.json()) as T;
}

/** POSTs a JSON body to an API process and returns the status and the JSON answer. */
export async function postJson<T>(
  base: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** A run as GET /api/runs/:id shows it, the parts these tests read. */
export interface RunView {
  run_id: string;
  status: string;
  nodes: Record<
    string,
    {
      status: string;
      attempts: number;
      outputs: Record<string, unknown> | null;
      started_at: string | null;
      finished_at: string | null;
    }
  >;
}

/** An event as GET /api/runs/:id/events shows it, the parts these tests read. */
export interface EventView {
  type: string;
  node_id?: string;
}

/** The API's answer while Redis does not answer: 503 REDIS_UNAVAILABLE. */
export async function expectRedisUnavailable(response: Response): Promise<void> {
  expect(response.status).toBe(503);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe("REDIS_UNAVAILABLE");
}
