import { STATUS_CODES, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import WebSocket, { WebSocketServer } from "ws";
import type { Engine, RunEvent } from "../../engine/index.js";
import { errorBody } from "../http-error.js";
import { tokenProblem } from "../middleware/auth.js";
import { firstValue, sessionCounts } from "../middleware/session-cookie.js";
import { ClientSession, type SessionLimits } from "./client-session.js";
import { checkTarget, maxMessageBytes } from "./messages.js";

export interface HubTuning extends SessionLimits {
  /**
   * A client that has not answered its last ping when the next is due is dropped. Each client is
   * pinged once per interval, the clients in groups spread over it.
   */
  heartbeatMs: number;
}

export const defaultHubTuning: HubTuning = {
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  maxSubscriptions: 1000,
};

/** How long a client has to answer the close handshake at shutdown before it is cut off. */
const closeGraceMs = 1000;
/**
 * Clients are pinged in this many groups, one group per tick, spread over the heartbeat interval:
 * pinging 1,000 clients at once is 1,000 socket writes (about 20 ms on a small machine), which
 * would delay any event that arrived meanwhile by as much (the bench's p99 showed it).
 */
const heartbeatGroups = 15;

/**
 * The WebSocket endpoint /ws: accepts clients (token or dashboard session checked on the upgrade),
 * hands every live event to each client's session, pings them, and closes them all with 1001 at
 * shutdown.
 */
export class EventHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 16 * maxMessageBytes });
  private readonly sessions = new Set<ClientSession>();
  /** The sessions by heartbeat group; each group is pinged once per heartbeat interval. */
  private readonly groups = Array.from({ length: heartbeatGroups }, () => new Set<ClientSession>());
  private tick = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private closing = false;

  constructor(
    private readonly engine: Engine,
    private readonly options: { apiToken: string | undefined; log: Logger; tuning: HubTuning },
  ) {
    this.heartbeat = setInterval(() => this.beat(), options.tuning.heartbeatMs / heartbeatGroups);
    this.heartbeat.unref();
  }

  attach(server: Server): void {
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(request, socket, head),
    );
  }

  deliver(event: RunEvent): void {
    for (const session of this.sessions) {
      try {
        session.deliver(event);
      } catch (error) {
        // One client's fault must not cost the others the event.
        this.options.log.warn({ err: error }, "delivering an event to a WebSocket client failed");
        session.socket.terminate();
      }
    }
  }

  get clientCount(): number {
    return this.sessions.size;
  }

  /** Closes every client with 1001 and waits (briefly) for each to go. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    const gone = [...this.sessions].map(
      (session) =>
        new Promise<void>((resolve) => {
          if (session.socket.readyState === WebSocket.CLOSED) return resolve();
          session.socket.once("close", () => resolve());
          session.socket.close(1001, "server shutting down");
          setTimeout(() => {
            session.socket.terminate();
            resolve();
          }, closeGraceMs).unref();
        }),
    );
    await Promise.all(gone);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (url.pathname !== "/ws") return reject(socket, 404, "NOT_FOUND", `no WebSocket at ${url.pathname}`);
    if (this.closing) return void socket.destroy();
    const problem = authProblem(this.options.apiToken, request, url);
    if (problem) return reject(socket, 401, "UNAUTHORIZED", problem);
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, url.searchParams));
  }

  private accept(ws: WebSocket, query: URLSearchParams): void {
    const session = new ClientSession(ws, this.engine, this.options.tuning);
    this.sessions.add(session);
    const group = this.smallestGroup();
    group.add(session);
    ws.on("pong", () => (session.alive = true));
    ws.on("message", (data, isBinary) => session.handleMessage(data, isBinary));
    ws.on("error", (error) => this.options.log.debug({ err: error }, "websocket error"));
    ws.on("close", () => {
      session.dispose();
      this.sessions.delete(session);
      group.delete(session);
    });
    const runIds = query.getAll("run_id");
    const after = query.get("after") ?? undefined;
    // A client that asked for particular runs gets only those, even when its asking was wrong:
    // an error event, then silence until it subscribes right, not every run's events.
    if (runIds.length > 0 || after !== undefined) session.narrow();
    if (after !== undefined && runIds.length !== 1) {
      session.sendError({
        code: "QUERY_INVALID",
        message: "after needs exactly one run_id: it is an event_id of that run",
        details: { after },
      });
    }
    for (const runId of runIds) {
      const problem = checkTarget(runId, runIds.length === 1 ? after : undefined);
      if (problem) session.sendError(problem);
      else session.subscribe(runId, runIds.length === 1 ? after : undefined);
    }
  }

  private smallestGroup(): Set<ClientSession> {
    return this.groups.reduce((smallest, group) => (group.size < smallest.size ? group : smallest));
  }

  /** Drops the clients of this tick's group that did not answer their last ping, pings the rest. */
  private beat(): void {
    const group = this.groups[this.tick];
    this.tick = (this.tick + 1) % heartbeatGroups;
    for (const session of group ?? []) {
      if (!session.alive) {
        session.socket.terminate();
        continue;
      }
      session.alive = false;
      session.socket.ping();
    }
  }
}

function reject(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * What keeps an upgrade out, or null: a valid token (`Authorization: Bearer` or `?token=`, for
 * scripts and the CLI), or the dashboard's session cookie, so the page need not put the token in
 * the URL (where proxies log it). A browser sends cookies with a WebSocket opened by any site, so
 * the cookie counts only with an Origin that is this server (its Host, or X-Forwarded-Host behind
 * a proxy): another site's page cannot ride on the session (cross-site WebSocket hijacking).
 */
function authProblem(token: string | undefined, request: IncomingMessage, url: URL): string | null {
  const problem = tokenProblem(token, request.headers.authorization, url.searchParams.get("token"));
  if (!problem || !token) return problem;
  const session = sessionCounts(token, {
    cookie: request.headers.cookie,
    origin: request.headers.origin,
    hosts: [request.headers.host, firstValue(request.headers["x-forwarded-host"])],
    originRequired: true,
  });
  return session === true ? null : (session ?? problem);
}
