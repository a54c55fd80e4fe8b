import type { Plan, PlanNode } from "../pipeline/plan.js";
import type { ReservationSpec } from "./run-ledger.js";
import type { RunStore } from "./run-store.js";

interface CachedPlan {
  nodes: Map<string, PlanNode>;
  /** For a run that reserves its devices: its node ids by device; otherwise null. */
  reservation: ReservationSpec | null;
}

/**
 * A run's plan never changes, so a worker reads it once per run, not once per node. Bounded by the
 * nodes it holds, not by runs: 200 runs of 10,000 nodes would be 2 million nodes in memory.
 */
export class PlanCache {
  private readonly plans = new Map<string, CachedPlan>();
  private nodesHeld = 0;

  constructor(
    private readonly store: RunStore,
    private readonly capacityNodes = 50_000,
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
    // The oldest go first; a plan larger than the whole capacity is still kept, alone.
    for (const [oldest, cached] of this.plans) {
      if (this.nodesHeld + plan.nodes.size <= this.capacityNodes) break;
      this.plans.delete(oldest);
      this.nodesHeld -= cached.nodes.size;
    }
    this.plans.set(runId, plan);
    this.nodesHeld += plan.nodes.size;
    return plan;
  }
}

function index(plan: Plan): CachedPlan {
  const nodes = new Map(plan.nodes.map((node) => [node.id, node]));
  if (!plan.reserveDevices) return { nodes, reservation: null };
  const byDevice = new Map<string, string[]>();
  for (const node of plan.nodes) {
    // An approval node drives no device: it reserves none.
    if (node.approval) continue;
    byDevice.set(node.deviceId, [...(byDevice.get(node.deviceId) ?? []), node.id]);
  }
  return { nodes, reservation: [...byDevice] };
}
