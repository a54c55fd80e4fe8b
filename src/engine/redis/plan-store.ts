import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { Plan } from "../pipeline/plan.js";
import type { RedisKeys } from "./keys.js";
import { loadScripts } from "./scripts.js";

/** Plans kept parsed in this process: a plan id names its content, so an entry is never stale. */
const cachedPlans = 500;
/** A plan hash written but not yet referenced expires after this (its creator died in between). */
const unreferencedPlanTtlS = 3600;
const maxReferenceTries = 5;

/**
 * Run plans, stored once by content: the runs of one pipeline version with the same per-run options
 * (the usual case: a lab runs the same pipeline again and again) share one copy. A plan hash holds
 * the JSON and how many runs refer to it; the run's record names it (`plan_id`). A run's creation
 * takes a reference first (`reference`, plan-reference.lua, once however often it is sent); removing
 * the run gives it back in the same script (includes/release-plan.lua), which deletes the plan with
 * its last reference.
 */
export class PlanStore {
  private readonly parsed = new Map<string, Plan>();
  private readonly scripts;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.scripts = loadScripts(redis);
  }

  /**
   * Names the plan in the run's record and takes a reference to it; returns the plan's id. The JSON
   * goes to Redis only if the plan is not stored yet, and by a plain HSETNX (see plan-reference.lua).
   * Each try either takes the reference or finds the plan missing; it can be missing again only if
   * another run's removal deleted it in between, so a few tries suffice.
   */
  async reference(runId: string, plan: Plan): Promise<string> {
    const json = JSON.stringify(plan);
    const planId = createHash("sha256").update(json).digest("hex").slice(0, 32);
    const keys = [this.keys.run(runId), this.keys.plan(planId)];
    for (let attempt = 0; attempt < maxReferenceTries; attempt += 1) {
      const taken = await this.scripts["plan-reference"](keys, [planId, unreferencedPlanTtlS]);
      if (taken !== -1) {
        this.remember(planId, plan);
        return planId;
      }
      await this.redis.hsetnx(this.keys.plan(planId), "json", json);
    }
    throw new Error(`run ${runId}: its plan could not be stored; submit it again`);
  }

  /** The plan named `planId`; `inline` is the JSON of a plan stored in the run's own record (older runs). */
  async get(planId: string | null, inline: string | null = null): Promise<Plan | null> {
    if (inline) return JSON.parse(inline) as Plan;
    if (!planId) return null;
    const cached = this.parsed.get(planId);
    if (cached) return cached;
    const json = await this.redis.hget(this.keys.plan(planId), "json");
    if (json === null) return null;
    const plan = JSON.parse(json) as Plan;
    this.remember(planId, plan);
    return plan;
  }

  private remember(planId: string, plan: Plan): void {
    if (this.parsed.size >= cachedPlans) this.parsed.delete(this.parsed.keys().next().value as string);
    this.parsed.set(planId, plan);
  }
}
