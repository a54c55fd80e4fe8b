import { STATUS_CODES, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { parse as parseCookies } from "hono/utils/cookie";
import WebSocket, { WebSocketServer } from "ws";
import type { Engine, RunEvent } from "../../engine/index.js";
import { errorBody } from "../http-error.js";
import { sessionCookie, statusOfRefusal, type Access, type Principal } from "../access/index.js";
import type { RequestFacts } from "../access/request-checks.js";
import type { StreamQuota } from "../live/stream-quota.js";
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
  maxMessagesPerSecond: 50,
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
    private readonly options: { access: Access; streamQuota: StreamQuota; log: Logger; tuning: HubTuning },
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
    void this.admit(request, socket, head, url);
  }

  /**
   * The upgrade passes the same gate as every HTTP request (access/gate.ts): the Host, the Origin
   * (another site's page must not read the events through a visitor's browser), the credential
   * (a token in Authorization or `?token=`, or the dashboard's session cookie) and the throttle.
   */
  private async admit(request: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const { gate, trail } = this.options.access;
    const facts = upgradeFacts(request, url);
    let admission;
    try {
      admission = await gate.admit(facts, cookieValue(request.headers.cookie, sessionCookie));
    } catch (error) {
      this.options.log.warn({ err: error }, "checking a WebSocket upgrade failed");
      return reject(socket, 503, "REDIS_UNAVAILABLE", "Redis does not answer; try again shortly");
    }
    if (!admission.ok) {
      const { refusal } = admission;
      await trail.refused(facts, refusal);
      return reject(
        socket,
        statusOfRefusal[refusal.code],
        refusal.code,
        refusal.message,
        refusal.retryAfterS,
      );
    }
    if (socket.destroyed || this.closing) return void socket.destroy();
    const { principal } = admission;
    const { streamQuota } = this.options;
    const release = streamQuota.take(principal);
    if (!release) {
      const { message, retryAfterS } = streamQuota.refusal(principal);
      return reject(socket, 429, "TOO_MANY_STREAMS", message, retryAfterS);
    }
    socket.once("close", release);
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, url.searchParams, principal));
  }

  private accept(ws: WebSocket, query: URLSearchParams, principal: Principal): void {
    const session = new ClientSession(ws, this.engine, this.options.tuning);
    session.principal = principal;
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
      void this.closeIfRevoked(session);
    }
  }

  /**
   * A client is closed (1008) once what let it in has gone: its session ended (signed out,
   * expired) or its token was removed from the configuration. Checked on its heartbeat, without
   * extending a session.
   */
  private async closeIfRevoked(session: ClientSession): Promise<void> {
    const { principal } = session;
    if (!principal || principal.via === "open") return;
    const admitted = await this.options.access.gate.stillAdmitted(principal).catch(() => true);
    if (!admitted)
      session.socket.close(1008, "no longer admitted: the session ended or the token was removed");
  }
}

function reject(socket: Duplex, status: number, code: string, message: string, retryAfterS?: number): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(errorBody(code, message));
  const retryAfter = retryAfterS === undefined ? "" : `Retry-After: ${retryAfterS}\r\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n${retryAfter}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** An upgrade request's facts for the gate. */
function upgradeFacts(request: IncomingMessage, url: URL): RequestFacts {
  return {
    method: request.method ?? "GET",
    path: url.pathname,
    upgrade: true,
    header: (name) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
    queryToken: url.searchParams.get("token") ?? undefined,
    remoteAddress: request.socket.remoteAddress,
    protocol: "encrypted" in request.socket && request.socket.encrypted ? "https:" : "http:",
  };
}

/** One cookie's value from a Cookie header. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  return parseCookies(header ?? "", name)[name];
}
