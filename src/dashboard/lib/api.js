// Calls to the Rigflow API, and the contract's error shape turned into words on the page.
import { h, jsonBlock } from "./dom.js";

/** The API token, when the page was loaded with it; empty without one, or on the session cookie (sent by itself). */
export const token = document.querySelector('meta[name="rigflow-token"]')?.getAttribute("content") ?? "";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

/** Fetches JSON from the API; any failure becomes an ApiError with a message a person can act on. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(
      0,
      "NETWORK_ERROR",
      `the server did not answer (${error.message}); is Rigflow running?`,
    );
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.ok && json !== null) return json;
  const error = json?.error;
  if (error && typeof error.message === "string") {
    throw new ApiError(response.status, error.code ?? "ERROR", error.message, error.details);
  }
  throw new ApiError(
    response.status,
    "UNEXPECTED_RESPONSE",
    `${method} ${path} answered ${response.status} ${response.statusText} without the usual error body`,
  );
}

/**
 * Whether the page was loaded with the session cookie: /ws then takes the cookie (sent by the
 * browser with the upgrade, from this origin only), and the token stays out of the WebSocket's URL.
 */
export const hasSession =
  document.querySelector('meta[name="rigflow-session"]')?.getAttribute("content") === "1";

/**
 * The WebSocket URL with the given query. Without a session cookie the token goes in the query: a
 * browser cannot send it as a header.
 */
export function wsUrl(query) {
  const params = new URLSearchParams(query);
  if (token && !hasSession) params.set("token", token);
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws?${params}`;
}

/** An error from the API, in words: what failed, the code, and the details when there are any. */
export function errorView(error, doing) {
  const apiError =
    error instanceof ApiError
      ? error
      : new ApiError(0, error?.code ?? "ERROR", error?.message ?? String(error), error?.details);
  const details = apiError.details && Object.keys(apiError.details).length > 0 ? apiError.details : null;
  return h(
    "div",
    { class: "error", role: "alert", "data-error-code": apiError.code },
    h("p", {}, doing ? `${doing} failed: ` : "", h("strong", {}, apiError.message)),
    h("p", { class: "muted" }, `${apiError.code}${apiError.status ? ` (HTTP ${apiError.status})` : ""}`),
    details && jsonBlock(details),
  );
}
