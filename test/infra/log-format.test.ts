import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

/** What a process logging one line writes on stderr, with LOG_FORMAT as given (stderr is a pipe here). */
function logged(format: string | undefined): string {
  const script = [
    'import { createLogger } from "./src/log.ts";',
    `const log = createLogger("info", "probe", ${format === undefined ? "undefined" : JSON.stringify(format)});`,
    'log.info({ runId: "run_1" }, "run ended");',
  ].join("\n");
  const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 20_000,
  });
  expect(child.status, child.stderr).toBe(0);
  return child.stderr;
}

describe("log format (LOG_FORMAT)", () => {
  it("is JSON, one object a line, when stderr is piped and nothing is asked", () => {
    const line = JSON.parse(logged(undefined).trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 30, name: "probe", runId: "run_1", msg: "run ended" });
  });

  it("is a readable line with LOG_FORMAT=pretty, even piped, and JSON with =json", () => {
    const pretty = logged("pretty");
    expect(pretty).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(probe\): run ended\n\s+runId: "run_1"\n$/);
    expect(() => JSON.parse(pretty) as unknown).toThrow();
    expect(JSON.parse(logged("json").trim())).toMatchObject({ msg: "run ended" });
  });
});
