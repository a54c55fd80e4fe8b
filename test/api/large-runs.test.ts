import { describe, expect, it } from "vitest";
import { inlineNodesMax } from "../../src/engine/index.js";
import { rigForFile, servo } from "../support/context.js";
import { servoDiamond, statusFan } from "../support/pipelines.js";
import { runToEnd } from "../support/runs.js";

// GET /api/runs/{id} is unchanged up to 1,000 nodes (with node counts added); past that, nodes is
// null and GET /api/runs/{id}/nodes pages them in plan order.
const devices = ["servo-1", "servo-2", "servo-3", "servo-4"].map((id) => servo(id));
const rig = rigForFile(devices);

interface NodeBody {
  node_id: string;
  status: string;
}
interface RunBody {
  status: string;
  node_count: number;
  node_counts: Record<string, number>;
  nodes: Record<string, NodeBody> | null;
}
interface PageBody {
  nodes: NodeBody[];
  next_cursor: string | null;
}

async function get<T>(path: string, status = 200): Promise<T> {
  const response = await rig.api.get(path);
  const body = (await response.json()) as T;
  expect(response.status, JSON.stringify(body)).toBe(status);
  return body;
}

const zeroCounts = {
  pending: 0,
  queued: 0,
  running: 0,
  completed: 0,
  failed: 0,
  cancelled: 0,
  held: 0,
  skipped: 0,
  waiting: 0,
};

describe("reading large runs", () => {
  it("a small run answers as before, with its node counts", async () => {
    const run = await runToEnd(rig.api.engine, servoDiamond("small-run"));
    const body = await get<RunBody>(`/api/runs/${run.runId}`);
    expect(body.node_count).toBe(4);
    expect(body.node_counts).toEqual({ ...zeroCounts, completed: 4 });
    expect(Object.keys(body.nodes ?? {})).toEqual(["top", "left", "right", "bottom"]);
  });

  it(`past ${inlineNodesMax} nodes, nodes is null and the nodes route pages them all, in plan order`, async () => {
    // Over 1,000 successors of one node: node-complete.lua releases them in two batches.
    const width = inlineNodesMax + 200;
    const run = await runToEnd(
      rig.api.engine,
      statusFan(
        "large-run",
        width,
        devices.map((device) => device.id),
      ),
      60_000,
    );
    expect(run.status).toBe("completed");
    // Its nodes were written in batches under an expiry that the run's creation then took off.
    expect(await rig.api.redis.ttl(rig.api.engine.keys.runNodes(run.runId))).toBe(-1);
    const body = await get<RunBody>(`/api/runs/${run.runId}`);
    expect(body).toMatchObject({ status: "completed", node_count: width + 2, nodes: null });
    expect(body.node_counts).toEqual({ ...zeroCounts, completed: width + 2 });

    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const query: string = cursor === "" ? "limit=400" : `limit=400&cursor=${cursor}`;
      const page: PageBody = await get<PageBody>(`/api/runs/${run.runId}/nodes?${query}`);
      expect(page.nodes.length).toBeLessThanOrEqual(400);
      for (const node of page.nodes) expect(node.status).toBe("completed");
      seen.push(...page.nodes.map((node) => node.node_id));
      cursor = page.next_cursor;
    }
    expect(seen).toHaveLength(width + 2);
    expect(new Set(seen).size).toBe(width + 2);
    expect([seen[0], seen.at(-1)]).toEqual(["src", "sink"]);

    // A filter that matches nothing still ends: the whole run is within one page's scan.
    expect(await get<PageBody>(`/api/runs/${run.runId}/nodes?status=failed`)).toEqual({
      nodes: [],
      next_cursor: null,
    });
  });

  it("refuses a bad page request with the contract's error, and an unknown run with 404", async () => {
    const run = await runToEnd(rig.api.engine, servoDiamond("paged-errors"));
    for (const query of ["cursor=abc", "limit=0", "limit=1001", "status=done", "cursor=-1"]) {
      const body = await get<{ error: { code: string } }>(`/api/runs/${run.runId}/nodes?${query}`, 400);
      expect(body.error.code).toBe("QUERY_INVALID");
    }
    const missing = await get<{ error: { code: string } }>("/api/runs/run_missing/nodes", 404);
    expect(missing.error.code).toBe("RUN_NOT_FOUND");
    // A short page of a filter: the cursor is the node after the last one given.
    expect(await get<PageBody>(`/api/runs/${run.runId}/nodes?status=completed&limit=1`)).toEqual({
      nodes: [expect.objectContaining({ node_id: "top" })],
      next_cursor: "1",
    });
    const page = await get<PageBody>(`/api/runs/${run.runId}/nodes?limit=2&cursor=2`);
    expect(page).toEqual({
      nodes: [expect.objectContaining({ node_id: "right" }), expect.objectContaining({ node_id: "bottom" })],
      next_cursor: null,
    });
  });
});
