import { readFileSync, writeFileSync } from "node:fs";
import { z } from "zod";
import { statusOfKind } from "../api/http-error.js";
import { drivers } from "../drivers/registry.js";
import { errorCodes } from "../engine/index.js";

/**
 * The tables of docs/ that the code already says (error codes; drivers and their functions), made
 * from it, so that they cannot drift: `npm run docs` writes them between their markers, and a test
 * fails when a committed page differs from what this makes.
 */
export interface GeneratedTable {
  /** The page, from the project's root. */
  file: string;
  /** Its marker's name: the table sits between `<!-- generated: name -->` and `<!-- end: name -->`. */
  name: string;
  text: () => string;
}

/** Codes answered only in WebSocket error events, never as an HTTP status. */
const webSocketOnly = new Set(["TOO_MANY_SUBSCRIPTIONS"]);

export const generatedTables: readonly GeneratedTable[] = [
  { file: "docs/errors.md", name: "error-codes", text: errorCodeTable },
  { file: "docs/devices.md", name: "driver-functions", text: driverFunctionTable },
];

function errorCodeTable(): string {
  const rows = Object.entries(errorCodes).map(([code, { kind, meaning }]) => {
    const status = webSocketOnly.has(code) ? "ws" : kind === "node" ? "run/node" : String(statusOfKind[kind]);
    return [`\`${code}\``, status, meaning];
  });
  return markdownTable(["code", "status", "meaning"], rows);
}

function driverFunctionTable(): string {
  const rows = [...drivers.values()].flatMap((driver) =>
    driver.functions.map((fn) => [
      `\`${driver.name}\``,
      `\`${fn.id}\``,
      paramsText(fn.params),
      Object.keys(fn.outputs)
        .map((name) => `\`${name}\``)
        .join(", ") || "none",
      fn.idempotent ? "yes" : "no",
      `${fn.timeoutMs} ms`,
      `${fn.retry.attempts}`,
      fn.description,
    ]),
  );
  return markdownTable(
    ["driver", "function", "params", "outputs", "idempotent", "timeout", "attempts", "what it does"],
    rows,
  );
}

/** Each parameter as `name` (optional ones with `?`), from the function's zod schema. */
function paramsText(params: z.ZodObject): string {
  const names = Object.entries(params.shape).map(([name, schema]) =>
    schema instanceof z.ZodOptional || schema instanceof z.ZodDefault ? `\`${name}\`?` : `\`${name}\``,
  );
  return names.join(", ") || "none";
}

function markdownTable(header: string[], rows: string[][]): string {
  const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");
  const line = (cells: string[]) => `| ${cells.map(cell).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** The page's text with the table between its markers made anew; throws if the markers are missing. */
export function withTable(page: string, table: GeneratedTable): string {
  const start = `<!-- generated: ${table.name} (npm run docs) -->`;
  const end = `<!-- end: ${table.name} -->`;
  const from = page.indexOf(start);
  const to = page.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${table.file} has no markers for ${table.name}`);
  // Prettier would pad the columns anew: the table is left as made.
  const body = `<!-- prettier-ignore-start -->\n${table.text()}\n<!-- prettier-ignore-end -->`;
  return `${page.slice(0, from + start.length)}\n${body}\n${page.slice(to)}`;
}

/** Writes every generated table into its page. */
export function writeTables(root: URL): void {
  for (const table of generatedTables) {
    const path = new URL(table.file, root);
    writeFileSync(path, withTable(readFileSync(path, "utf8"), table));
  }
}
