import { Counter, Histogram, type Registry } from "prom-client";
import { endedRunStatuses, type Engine, type RunEvent } from "../../engine/index.js";

type NodeLabels = { device_id: string; function_id: string };

/** Runs whose nodes' labels are kept; the oldest is forgotten past this (one that never ended). */
const maxRuns = 10_000;

/** Device commands take milliseconds (a status query) to minutes (a long move). */
const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * Figures counted from the run events this API process reads off the global event stream (the
 * same events the WebSocket hub sends), from the moment it started: node durations, retries and
 * failures. Every API instance reads every event, so each counts them all: take one instance's
 * figures (or `max` across instances), never their sum.
 */
export class EventMetrics {
  private readonly durations: Histogram<"device_id" | "function_id">;
  private readonly retries: Counter<"device_id" | "function_id">;
  private readonly failures: Counter<"device_id" | "function_id" | "error_type">;
  /** Each node's device and function, learnt from node_executing, by run then node. */
  private readonly nodes = new Map<string, Map<string, NodeLabels>>();

  constructor(
    registry: Registry,
    private readonly engine: Engine,
    private readonly onError: (error: unknown) => void,
  ) {
    const registers = [registry];
    this.durations = new Histogram({
      name: "rigflow_node_duration_seconds",
      help: "How long completed nodes' device commands took (execution_time of node_completed), since this API process started",
      labelNames: ["device_id", "function_id"],
      buckets: durationBuckets,
      registers,
    });
    this.retries = new Counter({
      name: "rigflow_node_retries_total",
      help: "Failed node attempts that were retried (node_retrying events), since this API process started",
      labelNames: ["device_id", "function_id"],
      registers,
    });
    this.failures = new Counter({
      name: "rigflow_node_failures_total",
      help: "Nodes that failed for good, by error code (node_failed events), since this API process started",
      labelNames: ["device_id", "function_id", "error_type"],
      registers,
    });
  }

  observe(event: RunEvent): void {
    switch (event.type) {
      case "node_executing":
        this.remember(event.run_id, event.node_id, {
          device_id: event.device_id,
          function_id: event.function_id,
        });
        return;
      case "node_completed":
        // A person completed it (a recovery, an approval): no command ran, and no time was its.
        if (event.completed_by === "operator") return;
        return this.withLabels(event, (labels) => this.durations.observe(labels, event.execution_time));
      case "node_retrying":
        return this.withLabels(event, (labels) => this.retries.inc(labels));
      case "node_failed":
        return this.withLabels(event, (labels) =>
          this.failures.inc({ ...labels, error_type: event.error_type }),
        );
      case "pipeline_completed":
      case "pipeline_error":
      case "pipeline_cancelled":
        this.nodes.delete(event.run_id);
        return;
      default:
        return;
    }
  }

  private remember(runId: string, nodeId: string, labels: NodeLabels): void {
    let run = this.nodes.get(runId);
    if (!run) {
      if (this.nodes.size >= maxRuns) this.nodes.delete(this.nodes.keys().next().value as string);
      run = new Map();
      this.nodes.set(runId, run);
    }
    run.set(nodeId, labels);
  }

  /**
   * Labels come from the node's node_executing event; a node that began before this process
   * started (or failed without beginning) is looked up in its run's plan instead, and every node
   * of that plan is remembered with it, so a run under way at start-up costs one read, not one
   * per node.
   */
  private withLabels(event: RunEvent & { node_id: string }, record: (labels: NodeLabels) => void): void {
    const known = this.nodes.get(event.run_id)?.get(event.node_id);
    if (known) return record(known);
    void this.engine.runs
      .loadRun(event.run_id)
      .then((run) => {
        // An ended run's end event has gone by: remembering its nodes now would only keep them.
        const live = run !== null && !endedRunStatuses.has(run.status);
        for (const node of run?.plan.nodes ?? []) {
          const labels = { device_id: node.deviceId, function_id: node.functionId };
          if (live && !this.nodes.get(event.run_id)?.has(node.id))
            this.remember(event.run_id, node.id, labels);
          if (node.id === event.node_id) record(labels);
        }
      })
      .catch(this.onError);
  }
}
