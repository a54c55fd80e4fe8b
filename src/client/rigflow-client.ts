import type { z } from "zod";
import type * as answer from "../api/openapi/responses.js";
import type { runBodySchema } from "../api/routes/run-request.js";
import type {
  approveBodySchema,
  listQuerySchema,
  nodesQuerySchema,
  pauseBodySchema,
  recoverBodySchema,
} from "../api/routes/runs.js";
import { ApiClient, type ApiTarget } from "./http-client.js";

// The answers' types are those of the schemas the OpenAPI document is made from (and the tests
// check the API's answers against), the requests' those of the schemas the routes validate with:
// a change to either shows here at compile time. Imports are of types only: the client carries
// none of the server's code.
export type RunAccepted = z.output<typeof answer.runAccepted>;
export type RunView = z.output<typeof answer.runView>;
export type NodeView = z.output<typeof answer.nodeView>;
export type RunList = z.output<typeof answer.runList>;
export type NodePage = z.output<typeof answer.nodePage>;
export type EventPage = z.output<typeof answer.eventPage>;
export type RunAction = z.output<typeof answer.runAction>;
export type Decision = z.output<typeof answer.decision>;
export type Devices = z.output<typeof answer.devices>;
export type Functions = z.output<typeof answer.functions>;
export type RunRequest = z.input<typeof runBodySchema>;
export type RunListQuery = Partial<Record<keyof z.input<typeof listQuerySchema>, string>>;
export type NodePageQuery = Partial<Record<keyof z.input<typeof nodesQuerySchema>, string>>;
export type PauseRequest = z.input<typeof pauseBodySchema>;
export type Recovery = z.input<typeof recoverBodySchema>;
export type Approval = z.input<typeof approveBodySchema>;

const runPath = (runId: string) => `/api/runs/${encodeURIComponent(runId)}`;
const nodePath = (runId: string, nodeId: string) => `${runPath(runId)}/nodes/${encodeURIComponent(nodeId)}`;
const queryOf = (query: Record<string, string | undefined>) => {
  const params = new URLSearchParams(
    Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined),
  ).toString();
  return params ? `?${params}` : "";
};

/**
 * A typed client of Rigflow's HTTP API (docs/api.md, GET /openapi.json): a method per call, each
 * failure an ApiError (the contract's error, with its code) or an ApiUnreachableError.
 */
export class RigflowClient extends ApiClient {
  constructor(target: ApiTarget) {
    super(target);
  }

  submitRun(request: RunRequest): Promise<RunAccepted> {
    return this.post<RunAccepted>("/api/runs", request);
  }

  listRuns(query: RunListQuery = {}): Promise<RunList> {
    return this.get<RunList>(`/api/runs${queryOf(query)}`);
  }

  getRun(runId: string): Promise<RunView> {
    return this.get<RunView>(runPath(runId));
  }

  runNodes(runId: string, query: NodePageQuery = {}): Promise<NodePage> {
    return this.get<NodePage>(`${runPath(runId)}/nodes${queryOf(query)}`);
  }

  runEvents(runId: string, after?: string): Promise<EventPage> {
    return this.get<EventPage>(`${runPath(runId)}/events${queryOf({ after })}`);
  }

  cancelRun(runId: string): Promise<RunAction> {
    return this.post<RunAction>(`${runPath(runId)}/cancel`);
  }

  retryRun(runId: string): Promise<RunAction> {
    return this.post<RunAction>(`${runPath(runId)}/retry`);
  }

  pauseRun(runId: string, request: PauseRequest = {}): Promise<RunAction> {
    return this.post<RunAction>(`${runPath(runId)}/pause`, request);
  }

  resumeRun(runId: string): Promise<RunAction> {
    return this.post<RunAction>(`${runPath(runId)}/resume`);
  }

  recoverNode(runId: string, nodeId: string, recovery: Recovery): Promise<RunAction> {
    return this.post<RunAction>(`${nodePath(runId, nodeId)}/recover`, recovery);
  }

  approveNode(runId: string, nodeId: string, approval: Approval = {}): Promise<Decision> {
    return this.post<Decision>(`${nodePath(runId, nodeId)}/approve`, approval);
  }

  rejectNode(runId: string, nodeId: string, reason?: string): Promise<Decision> {
    return this.post<Decision>(`${nodePath(runId, nodeId)}/reject`, reason === undefined ? {} : { reason });
  }

  devices(): Promise<Devices> {
    return this.get<Devices>("/api/devices");
  }

  functions(): Promise<Functions> {
    return this.get<Functions>("/api/functions");
  }
}
