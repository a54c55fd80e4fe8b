import { ApiError, ApiUnreachableError } from "./errors.js";

export interface ApiTarget {
  /** The API's base URL, such as http://localhost:8000 (a path prefix is kept). */
  baseUrl: string;
  token: string | undefined;
}

export const requestTimeoutMs = 15_000;

/** A small JSON client of the HTTP API: every failure is an ApiError or an ApiUnreachableError. */
export class ApiClient {
  private readonly base: string;

  constructor(readonly target: ApiTarget) {
    this.base = target.baseUrl.replace(/\/+$/, "");
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  /** The WebSocket URL of /ws with `query` (ws:// for http://, wss:// for https://). */
  socketUrl(query: Record<string, string>): string {
    const url = new URL(`${this.base}/ws`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return url.toString();
  }

  /** The Authorization header, when there is a token. */
  authHeaders(): Record<string, string> {
    return this.target.token ? { authorization: `Bearer ${this.target.token}` } : {};
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let status: number;
    let statusText: string;
    let text: string;
    try {
      const response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          accept: "application/json",
          ...(body !== undefined && { "content-type": "application/json" }),
          ...this.authHeaders(),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      ({ status, statusText } = response);
      text = await response.text();
    } catch (error) {
      throw unreachable(this.base, error);
    }
    if (status < 200 || status > 299) throw apiError(status, statusText, text);
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(
        status,
        `HTTP_${status}`,
        `the API answered ${method} ${path} with a body that is not JSON`,
      );
    }
  }
}

/** An error answer in words: the contract's error object, or what little a proxy's page says. */
export function apiError(status: number, statusText: string, text: string): ApiError {
  try {
    const { error } = JSON.parse(text) as {
      error?: { code?: unknown; message?: unknown; details?: unknown };
    };
    if (error && typeof error.code === "string" && typeof error.message === "string") {
      const details =
        error.details !== null && typeof error.details === "object" && !Array.isArray(error.details)
          ? (error.details as Record<string, unknown>)
          : {};
      return new ApiError(status, error.code, error.message, details);
    }
  } catch {
    // Not the contract's shape (a proxy's error page, say): said below in words.
  }
  const said = text.replace(/\s+/g, " ").trim().slice(0, 200);
  return new ApiError(
    status,
    `HTTP_${status}`,
    `the API answered ${status} ${statusText}${said ? `: ${said}` : ""}`,
  );
}

export function unreachable(baseUrl: string, error: unknown): ApiUnreachableError {
  return new ApiUnreachableError(`cannot reach the Rigflow API at ${baseUrl}: ${reasonOf(error)}`);
}

const socketErrors: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "the connection was reset",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "the host name could not be resolved",
  EHOSTUNREACH: "the host is unreachable",
  ENETUNREACH: "the network is unreachable",
  ETIMEDOUT: "the connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "the connection timed out",
  UND_ERR_SOCKET: "the connection closed unexpectedly",
  EPIPE: "the connection closed unexpectedly",
};

/** Why a request or a socket failed, in words (fetch hides the system error in `cause`). */
export function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError" || error.name === "AbortError") {
    return `no answer within ${requestTimeoutMs / 1000} s`;
  }
  const cause = error.cause instanceof Error ? error.cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code ?? (error as { code?: unknown }).code;
  if (typeof code === "string" && socketErrors[code]) return socketErrors[code];
  return cause?.message ?? error.message;
}
