import type { Plan, PlanNode } from "../pipeline/plan.js";
import type { RunStore } from "./run-store.js";

/** A run's plan never changes, so a worker reads it once per run, not once per node. */
export class PlanCache {
  private readonly plans = new Map<string, Map<string, PlanNode>>();

  constructor(
    private readonly store: RunStore,
    private readonly capacity = 200,
  ) {}

  async nodes(runId: string): Promise<Map<string, PlanNode>> {
    const cached = this.plans.get(runId);
    if (cached) return cached;
    const run = await this.store.loadRun(runId);
    if (!run) throw new Error(`run ${runId} has no ledger`);
    const nodes = indexPlan(run.plan);
    if (this.plans.size >= this.capacity) this.plans.delete(this.plans.keys().next().value as string);
    this.plans.set(runId, nodes);
    return nodes;
  }
}

const indexPlan = (plan: Plan) => new Map(plan.nodes.map((node) => [node.id, node]));
