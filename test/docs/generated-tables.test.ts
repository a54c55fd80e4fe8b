import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generatedTables, withTable } from "../../src/docs/tables.js";

describe("the tables of docs/ made from the code", () => {
  for (const table of generatedTables) {
    it(`${table.file}'s ${table.name} is what the code says now (else: npm run docs)`, () => {
      const page = readFileSync(new URL(`../../${table.file}`, import.meta.url), "utf8");
      expect(withTable(page, table)).toBe(page);
    });
  }
});
