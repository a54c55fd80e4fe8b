import { columns, dateTime, printable, seconds, type Style } from "./format.js";
import type { RunSummaryWire } from "./wire.js";

const header = ["RUN", "PIPELINE", "STATUS", "CREATED", "TOOK"];
const statusColumn = 2;

/** `rigflow runs`: one line per run, newest first, under a header. */
export function runsTable(runs: RunSummaryWire[], style: Style): string[] {
  const rows = runs.map((run) => {
    const took =
      run.finished_at === null
        ? ""
        : seconds((Date.parse(run.finished_at) - Date.parse(run.created_at)) / 1000);
    return [run.run_id, run.pipeline_id, run.status, dateTime(run.created_at), took].map(printable);
  });
  return columns([header, ...rows], (row, column, text) => {
    if (row === 0) return style.bold(text);
    if (column !== statusColumn) return text;
    const status = runs[row - 1]?.status;
    if (status === "completed") return style.green(text);
    if (status === "failed") return style.red(text);
    if (status === "cancelled") return style.yellow(text);
    return style.cyan(text);
  });
}
