import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { errorCodes } from "../../src/engine/index.js";

describe("docs/errors.md's error table", () => {
  it("lists every error code the code can answer with", () => {
    const readme = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
    const missing = Object.keys(errorCodes).filter(
      (code) => !new RegExp("\\|\\s*`" + code + "`\\s*\\|").test(readme),
    );
    expect(missing).toEqual([]);
  });
});
