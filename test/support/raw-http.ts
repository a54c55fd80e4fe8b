import { request } from "node:http";
import WebSocket from "ws";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The contract's error code, when the body is one. */
  code: string | undefined;
}

/**
 * One HTTP request with exactly these headers (a forged Host included, which fetch will not send),
 * read to its end. Not for streams.
 */
export function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: "127.0.0.1", port, method, path, headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, code });
      });
    });
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

/**
 * Opens /ws with these headers and query: 101 when accepted (the socket is closed at once), else
 * the refusal's status, error code and Retry-After.
 */
export function tryUpgrade(
  port: number,
  headers: Record<string, string>,
  query = "",
): Promise<{ status: number; code?: string; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws${query}`, { headers });
    socket.on("open", () => {
      socket.close();
      resolve({ status: 101 });
    });
    socket.on("unexpected-response", (_request, response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => {
        const { error } = JSON.parse(body) as { error: { code: string } };
        const retryAfter = response.headers["retry-after"];
        resolve({
          status: response.statusCode ?? 0,
          code: error.code,
          ...(retryAfter ? { retryAfter } : {}),
        });
      });
    });
    socket.on("error", reject);
  });
}

/** The status of a response that may be a stream (SSE): read from its head, then the request is cut. */
export function headStatus(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; type: string | undefined }>((resolve, reject) => {
    const outgoing = request({ host: "127.0.0.1", port, path, headers }, (response) => {
      resolve({ status: response.statusCode ?? 0, type: response.headers["content-type"] });
      outgoing.destroy();
    });
    outgoing.on("error", (error) => {
      if (!outgoing.destroyed) reject(error);
    });
    outgoing.end();
  });
}

/** A streaming GET (SSE): its status, a promise of its end (by the server), and a way to cut it. */
export function openStream(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; ended: Promise<void>; cut(): void }>((resolve, reject) => {
    const outgoing = request({ host: "127.0.0.1", port, path, headers }, (response) => {
      const ended = new Promise<void>((done) => {
        response.on("close", () => done());
        response.on("end", () => done());
      });
      response.resume();
      resolve({ status: response.statusCode ?? 0, ended, cut: () => outgoing.destroy() });
    });
    outgoing.on("error", (error) => {
      if (!outgoing.destroyed) reject(error);
    });
    outgoing.end();
  });
}
