import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

describe("docs/events.md's table of event types", () => {
  it("has a row for every event type a run emits (src/engine/run/events.ts)", () => {
    const source = readFileSync(new URL("../../src/engine/run/events.ts", import.meta.url), "utf8");
    const page = readFileSync(new URL("../../docs/events.md", import.meta.url), "utf8");
    const types = [...source.matchAll(/(?<![a-z_])type: "([a-z_]+)"/g)].map(([, type]) => type);
    expect(types.length).toBeGreaterThan(10);
    expect(types.filter((type) => !new RegExp("\\|\\s*`" + type + "`\\s*\\|").test(page))).toEqual([]);
  });
});
