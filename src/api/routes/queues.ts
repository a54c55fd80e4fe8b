import { Hono } from "hono";
import { z } from "zod";
import { cleanableStates, jobStates, type QueueAdmin } from "../../queues/index.js";
import { readJson } from "../middleware/json-body.js";
import { jobDetailView, jobView, queueView } from "../queue-wire.js";
import { runPagePath } from "../run-page.js";
import { parseWith } from "../validation.js";

/** The most jobs one page lists. */
const maxPage = 200;
const index = z.string().regex(/^\d{1,9}$/, "must be a whole number from 0");

export const listQuerySchema = z
  .object({
    state: z.enum(jobStates, { error: `must be one of ${jobStates.join(", ")}` }),
    start: index.default("0").transform(Number),
    end: index.transform(Number).optional(),
  })
  .transform(({ state, start, end }) => ({ state, start, end: end ?? start + 49 }))
  .refine(({ start, end }) => end >= start, { message: "end must not be below start", path: ["end"] })
  .refine(({ start, end }) => end - start < maxPage, {
    message: `a page is at most ${maxPage} jobs (end - start < ${maxPage})`,
    path: ["end"],
  });

export const cleanBodySchema = z
  .object({
    state: z.enum(cleanableStates, {
      error:
        "must be completed or failed: only finished jobs may be cleaned (the runs still need the others; " +
        "cancel a run to take its waiting jobs out)",
    }),
    grace_ms: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    limit: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

/**
 * Bull-board's inspection API over Rigflow's queues (`runs` and `device-<id>`), with actions that
 * could break a run's ledger refused with 409 and the reason (queues/job-guard.ts).
 */
export function queueRoutes({ inspector, actions }: QueueAdmin) {
  // The inspector judges the id (QUEUE_NOT_FOUND first, then JOB_NOT_FOUND for an id that cannot
  // name a job, BullMQ's own keys such as `meta` included).
  const target = (c: { req: { param(name: string): string } }) => ({
    name: c.req.param("name"),
    jobId: c.req.param("jobId"),
  });
  return new Hono()
    .get("/", async (c) => c.json({ queues: (await inspector.overview()).map(queueView) }))
    .get("/:name", async (c) => c.json(queueView(await inspector.overviewOf(c.req.param("name")))))
    .get("/:name/jobs", async (c) => {
      const name = c.req.param("name");
      inspector.queue(name);
      const query = parseWith(listQuerySchema, c.req.query(), "query", "QUERY_INVALID");
      const page = await inspector.jobs(name, query.state, query.start, query.end);
      return c.json({
        queue: name,
        state: query.state,
        start: query.start,
        end: query.end,
        total: page.total,
        jobs: page.jobs.map(jobView),
      });
    })
    .get("/:name/jobs/:jobId", async (c) => {
      const { name, jobId } = target(c);
      return c.json(jobDetailView(await inspector.job(name, jobId)));
    })
    .post("/:name/jobs/:jobId/retry", async (c) => {
      const { name, jobId } = target(c);
      const outcome = await actions.retry(name, jobId);
      if (outcome.kind === "job")
        return c.json({ queue: name, job_id: jobId, action: "retried", state: outcome.state });
      // A node job (or run job) of a failed run: the run was resumed, which runs the node again.
      return c.json(
        {
          queue: name,
          job_id: jobId,
          action: "run_resumed",
          run_id: outcome.runId,
          run_status: outcome.runStatus,
          run_url: runPagePath(outcome.runId),
        },
        202,
      );
    })
    .post("/:name/jobs/:jobId/remove", async (c) => {
      const { name, jobId } = target(c);
      await actions.remove(name, jobId);
      return c.json({ queue: name, job_id: jobId, action: "removed" });
    })
    .post("/:name/jobs/:jobId/promote", async (c) => {
      const { name, jobId } = target(c);
      const state = await actions.promote(name, jobId);
      return c.json({ queue: name, job_id: jobId, action: "promoted", state });
    })
    .post("/:name/pause", async (c) => c.json(queueView(await actions.pause(c.req.param("name")))))
    .post("/:name/resume", async (c) => c.json(queueView(await actions.resume(c.req.param("name")))))
    .post("/:name/clean", async (c) => {
      const name = c.req.param("name");
      inspector.queue(name);
      const body = parseWith(cleanBodySchema, await readJson(c), "body");
      const removed = await actions.clean(name, body.state, body.grace_ms, body.limit ?? 0);
      return c.json({
        queue: name,
        state: body.state,
        grace_ms: body.grace_ms,
        removed: removed.length,
        job_ids: removed,
      });
    });
}
