/** The dashboard's page of a run, opened on one of its nodes when given (Bull-board and the queue API link to it). */
export function runPagePath(runId: string, nodeId?: string | null): string {
  const node = nodeId ? `?node=${encodeURIComponent(nodeId)}` : "";
  return `/runs/${encodeURIComponent(runId)}${node}`;
}
