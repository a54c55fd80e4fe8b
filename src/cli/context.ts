import type { RigflowClient } from "../client/index.js";
import type { CliIo } from "./io.js";

/** What every command gets: the API, the process's streams, and whether to print JSON. */
export interface CliContext {
  api: RigflowClient;
  io: CliIo;
  json: boolean;
}
