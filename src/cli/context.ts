import type { ApiClient } from "./api-client.js";
import type { CliIo } from "./io.js";

/** What every command gets: the API, the process's streams, and whether to print JSON. */
export interface CliContext {
  api: ApiClient;
  io: CliIo;
  json: boolean;
}

export const runPath = (runId: string) => `/api/runs/${encodeURIComponent(runId)}`;
