import { readFile } from "node:fs/promises";
import { UsageError } from "./errors.js";

const unreadable: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "it is a directory",
  EACCES: "permission denied",
};

/**
 * The POST /api/runs body for a file: a pipeline document is sent as `{"pipeline": …}`; a file that
 * is already a run request (it has "pipeline" or "pipeline_id") is sent as it is.
 */
export async function readRunRequest(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    throw new UsageError(`cannot read ${file}: ${unreadable[code] ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(
      `${file} must hold a pipeline document: a JSON object with "id", "nodes" and "edges"`,
    );
  }
  const body = value as Record<string, unknown>;
  return "pipeline" in body || "pipeline_id" in body ? body : { pipeline: body };
}
