import type { Plan, PlanNode } from "../pipeline/plan.js";
import type { ReservationSpec } from "./run-ledger.js";
import type { RunStore } from "./run-store.js";

interface CachedPlan {
  nodes: Map<string, PlanNode>;
  /** For a run that reserves its devices: its node ids by device; otherwise null. */
  reservation: ReservationSpec | null;
}

/** A run's plan never changes, so a worker reads it once per run, not once per node. */
export class PlanCache {
  private readonly plans = new Map<string, CachedPlan>();

  constructor(
    private readonly store: RunStore,
    private readonly capacity = 200,
  ) {}

  async nodes(runId: string): Promise<Map<string, PlanNode>> {
    return (await this.get(runId)).nodes;
  }

  async reservation(runId: string): Promise<ReservationSpec | null> {
    return (await this.get(runId)).reservation;
  }

  private async get(runId: string): Promise<CachedPlan> {
    const cached = this.plans.get(runId);
    if (cached) return cached;
    const run = await this.store.loadRun(runId);
    if (!run) throw new Error(`run ${runId} has no ledger`);
    const plan = index(run.plan);
    if (this.plans.size >= this.capacity) this.plans.delete(this.plans.keys().next().value as string);
    this.plans.set(runId, plan);
    return plan;
  }
}

function index(plan: Plan): CachedPlan {
  const nodes = new Map(plan.nodes.map((node) => [node.id, node]));
  if (!plan.reserveDevices) return { nodes, reservation: null };
  const byDevice = new Map<string, string[]>();
  for (const node of plan.nodes)
    byDevice.set(node.deviceId, [...(byDevice.get(node.deviceId) ?? []), node.id]);
  return { nodes, reservation: [...byDevice] };
}
