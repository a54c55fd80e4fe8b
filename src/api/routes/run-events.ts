import type { ServerResponse } from "node:http";
import type { Context } from "hono";
import { Hono } from "hono";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import { z } from "zod";
import { endedRunStatuses, isEventId, RigflowError, type Engine } from "../../engine/index.js";
import type { AccessEnv, Principal } from "../access/index.js";
import type { SseSink } from "../live/sse-session.js";
import type { StreamQuota } from "../live/stream-quota.js";
import type { SseStreams } from "../live/sse-streams.js";
import { parseWith, pathId } from "../validation.js";

const maxPage = 1000;
export const afterSchema = z
  .string()
  .refine(isEventId, "must be an event_id such as '1700000000000-0'")
  .optional();
export const pageQuerySchema = z.object({
  after: afterSchema,
  limit: z.coerce.number().int().min(1).max(maxPage).default(maxPage),
});
export const streamQuerySchema = z.object({ after: afterSchema });

/** What a run's event streams need besides the engine. */
export interface EventStreamOptions {
  sse: SseStreams;
  /** Whether a client may still hold what it opened: its session open, its token configured (access/gate.ts). */
  stillAdmitted?: (principal: Principal) => Promise<boolean>;
  /** MAX_STREAMS_PER_CLIENT, shared with the WebSocket hub. */
  quota?: StreamQuota;
}

/**
 * A run's events: GET /:runId/events answers a JSON page, or, asked for `text/event-stream`, a
 * Server-Sent Events stream; GET /:runId/events/stream is that stream for clients that cannot set
 * headers.
 */
export function runEventRoutes(engine: Engine, streams: EventStreamOptions) {
  const stream = (c: Context<AccessEnv>) => streamEvents(c, engine, streams);
  return new Hono<AccessEnv>()
    .get("/:runId/events", (c) =>
      (c.req.header("accept") ?? "").includes("text/event-stream") ? stream(c) : eventPage(c, engine),
    )
    .get("/:runId/events/stream", stream);
}

async function eventPage(c: Context<AccessEnv>, engine: Engine): Promise<Response> {
  const runId = pathId(c.req.param("runId") ?? "", "RUN_NOT_FOUND");
  const query = parseWith(pageQuerySchema, c.req.query(), "query", "QUERY_INVALID");
  const page = await engine.eventPage(runId, query.after, query.limit);
  c.header("Vary", "Accept");
  return c.json({ events: page.events, next_after: page.nextAfter, expired: page.expired });
}

async function streamEvents(
  c: Context<AccessEnv>,
  engine: Engine,
  { sse, stillAdmitted, quota }: EventStreamOptions,
): Promise<Response> {
  const runId = pathId(c.req.param("runId") ?? "", "RUN_NOT_FOUND");
  const query = parseWith(streamQuerySchema, c.req.query(), "query", "QUERY_INVALID");
  // EventSource reconnects to the same URL (after= and all) with Last-Event-ID: the header is newer.
  const lastEventId = c.req.header("last-event-id") || undefined;
  if (lastEventId !== undefined && !isEventId(lastEventId)) {
    throw new RigflowError(
      "QUERY_INVALID",
      `Last-Event-ID must be an event_id such as '1700000000000-0', not '${lastEventId.slice(0, 80)}'`,
      { last_event_id: lastEventId.slice(0, 80) },
    );
  }
  const after = lastEventId ?? query.after;
  const next = await engine.eventPage(runId, after, 1);
  // An ended run with nothing after `after` (or whose events have expired) has nothing to stream:
  // 204 also tells an EventSource to stop reconnecting. A resumed run streams again.
  if (next.events.length === 0 && endedRunStatuses.has(next.status)) return c.body(null, 204);
  c.header("X-Accel-Buffering", "no");
  // Without after, the stream starts at the run's first event.
  // A stream ends once what let it in has gone (its session signed out or expired, its token
  // removed): checked at the keep-alive's pace, without extending the session.
  const principal = c.get("principal");
  const release = principal && quota ? quota.take(principal) : () => undefined;
  if (!release) {
    const { message, retryAfterS } = (quota as StreamQuota).refusal(principal);
    throw new RigflowError("TOO_MANY_STREAMS", message, {
      limit: (quota as StreamQuota).perClient,
      retry_after_s: retryAfterS,
    });
  }
  return streamSSE(c, async (stream) => {
    const check =
      principal && principal.via !== "open" && stillAdmitted
        ? setInterval(() => {
            void stillAdmitted(principal).then(
              (live) => live || stream.abort(),
              () => undefined,
            );
          }, sse.tuning.keepAliveMs)
        : undefined;
    try {
      await sse.serve(sinkOf(stream, c), runId, after ?? "0-0", (abandon) => stream.onAbort(abandon));
    } finally {
      clearInterval(check);
      release();
    }
  });
}

/** The SSE stream as a session's sink; on the Node server, with the response to cut or wait for. */
function sinkOf(stream: SSEStreamingApi, c: Context<AccessEnv>): SseSink {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  return {
    write: (text) => stream.write(text),
    close: () => stream.close(),
    destroy() {
      stream.abort();
      outgoing?.destroy();
    },
    finished: () =>
      new Promise<void>((resolve) => {
        // Without a Node response (app.request()) there is no connection to wait for.
        if (!outgoing || outgoing.writableFinished || outgoing.destroyed) return resolve();
        outgoing.once("finish", () => resolve());
        outgoing.once("close", () => resolve());
      }),
  };
}
