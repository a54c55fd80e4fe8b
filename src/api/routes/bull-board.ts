import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { HonoAdapter } from "@bull-board/hono";
import { serveStatic } from "@hono/node-server/serve-static";
import { Hono } from "hono";
import { deviceQueueName, runsQueueName, type Engine } from "../../engine/index.js";
import { errorBody } from "../http-error.js";
import { runPagePath } from "../run-page.js";

export const bullBoardPath = "/admin/queues";

/** Where a job of Rigflow's queues is shown in the dashboard: its run, and the node in it. */
export function runPageOfJob(job: { id?: string | number | null | undefined; data: unknown }) {
  const data = (job.data ?? {}) as { runId?: unknown; nodeId?: unknown };
  // A node job's id is `<runId>__<epoch>__<nodeId>` and a run job's id is the run id; both carry
  // the run id in their data too, which is read first.
  const [idRun, , ...idNode] = String(job.id ?? "").split("__");
  const runId = typeof data.runId === "string" ? data.runId : idRun;
  const nodeId = typeof data.nodeId === "string" ? data.nodeId : idNode.join("__") || undefined;
  if (!runId) return { href: "/runs", displayText: "Runs" };
  return {
    href: runPagePath(runId, nodeId),
    displayText: nodeId ? `Run ${runId}, node ${nodeId}` : `Run ${runId}`,
  };
}

/**
 * Bull-board over the runs queue and every device queue of the catalog, read-only: a raw retry,
 * removal or promotion of a node job would bypass the run ledger, so actions go through the run
 * page (retry, cancel) or the guarded /api/queues routes. Auth is the caller's to add.
 */
export function bullBoardRoutes(engine: Engine) {
  const options = { readOnlyMode: true, allowRetries: false, externalJobUrl: runPageOfJob };
  const queues = [
    new BullMQAdapter(engine.queues.get(runsQueueName), {
      ...options,
      displayName: runsQueueName,
      description: "One job per run: the parent of its node jobs, and the run's finalizer.",
    }),
    ...engine.catalog.devices().map(
      (device) =>
        new BullMQAdapter(engine.queues.get(deviceQueueName(device.id)), {
          ...options,
          displayName: deviceQueueName(device.id),
          description: `Node jobs of device ${device.id} (${device.driver}, capacity ${device.capacity}).`,
        }),
    ),
  ];
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(bullBoardPath);
  createBullBoard({
    queues,
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: "Rigflow queues",
        hideDocsLink: true,
        miscLinks: [{ text: "Rigflow dashboard", url: "/" }],
      },
    },
  });
  // Bull-board URI-decodes some query values a second time (activeQueue, queueName), and answers
  // the URIError of one that does not decode (`?activeQueue=%25zz`) with a 500: refused here first.
  return new Hono()
    .use("/api/*", async (c, next) => {
      for (const [name, values] of Object.entries(c.req.queries())) {
        for (const value of values) {
          if (decodes(value)) continue;
          return c.json(
            errorBody("QUERY_INVALID", `query parameter '${name}' is not valid percent-encoding`, {
              parameter: name,
            }),
            400,
          );
        }
      }
      await next();
    })
    .route("/", serverAdapter.registerPlugin());
}

function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}
