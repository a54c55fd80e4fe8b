import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, servo } from "../support/context.js";
import { doc, home, seedDemo } from "../support/pipelines.js";

let api: ReturnType<typeof createTestApi>;
beforeAll(() => {
  api = createTestApi([servo("servo-1")]);
});
afterAll(async () => {
  await api.close();
});

describe("the pipeline repository", () => {
  it("round-trips save, list, get and delete, with versions", async () => {
    const created = await api.post("/api/pipelines/save", seedDemo);
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ pipeline: seedDemo, version: 1 });

    const renamed = { ...seedDemo, name: "Servo demo, renamed" };
    const replaced = await api.post("/api/pipelines/save", renamed);
    expect(replaced.status).toBe(200);
    expect(((await replaced.json()) as { version: number }).version).toBe(2);

    await api.post("/api/pipelines/save", doc("other", [home("a", "servo-1")]));
    const list = (await (await api.get("/api/pipelines")).json()) as { pipelines: Record<string, unknown>[] };
    expect(list.pipelines).toHaveLength(2);
    expect(list.pipelines.find((p) => p.id === seedDemo.id)).toMatchObject({
      name: "Servo demo, renamed",
      node_count: 2,
      version: 2,
    });

    const got = (await (await api.get(`/api/pipelines/${seedDemo.id}`)).json()) as Record<string, unknown>;
    expect(got).toMatchObject({ ...renamed, version: 2 });
    // What was read can be saved back as it is: version and updated_at are the store's, dropped.
    const savedBack = await api.post("/api/pipelines/save", got);
    expect(savedBack.status).toBe(200);
    expect(await savedBack.json()).toEqual({ pipeline: renamed, version: 3 });

    const deleted = await api.app.request(`/api/pipelines/${seedDemo.id}`, { method: "DELETE" });
    expect(deleted.status).toBe(204);
    expect((await api.get(`/api/pipelines/${seedDemo.id}`)).status).toBe(404);
    const after = (await (await api.get("/api/pipelines")).json()) as { pipelines: { id: string }[] };
    expect(after.pipelines.map((p) => p.id)).toEqual(["other"]);
  });

  it("pages the list by id: limit and cursor, next_cursor until the last page", async () => {
    const paged = createTestApi([servo("servo-1")]);
    try {
      const ids = Array.from({ length: 7 }, (_, i) => `page_${i}`);
      for (const id of [...ids].reverse())
        await paged.post("/api/pipelines/save", doc(id, [home("a", "servo-1")]));
      const seen: string[] = [];
      let cursor = "";
      for (let pages = 0; pages < 10; pages += 1) {
        const page = (await (
          await paged.get(`/api/pipelines?limit=3${cursor ? `&cursor=${cursor}` : ""}`)
        ).json()) as {
          pipelines: { id: string }[];
          next_cursor: string | null;
        };
        seen.push(...page.pipelines.map((p) => p.id));
        if (page.next_cursor === null) break;
        cursor = page.next_cursor;
      }
      expect(seen).toEqual(ids);
      const bad = await paged.get("/api/pipelines?limit=0");
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("QUERY_INVALID");
    } finally {
      await paged.close();
    }
  });

  it("never reuses a version after a delete", async () => {
    const pipeline = doc("again", [home("a", "servo-1")]);
    await api.post("/api/pipelines/save", pipeline);
    await api.app.request("/api/pipelines/again", { method: "DELETE" });
    const saved = await api.post("/api/pipelines/save", pipeline);
    expect(saved.status).toBe(201);
    expect(((await saved.json()) as { version: number }).version).toBe(2);
  });

  it("runs keep the version they started with", async () => {
    await api.post("/api/pipelines/save", doc("versioned", [home("a", "servo-1")]));
    await api.post("/api/pipelines/save", doc("versioned", [home("a", "servo-1"), home("b", "servo-1")]));
    const submitted = (await (await api.post("/api/runs", { pipeline_id: "versioned" })).json()) as {
      run_id: string;
    };
    await api.post("/api/pipelines/save", doc("versioned", [home("z", "servo-1")]));
    const run = (await (await api.get(`/api/runs/${submitted.run_id}`)).json()) as {
      pipeline_version: number;
      nodes: Record<string, unknown>;
    };
    expect(run.pipeline_version).toBe(2);
    expect(Object.keys(run.nodes).sort()).toEqual(["a", "b"]);
  });
});
