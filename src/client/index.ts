// Rigflow's typed API client, as the package exports it (`rigflow/client`).
export { ApiError, ApiUnreachableError } from "./errors.js";
export type { ApiTarget } from "./http-client.js";
export * from "./rigflow-client.js";
