/**
 * Where a request comes from, as far as access needs: its client address, the origin of the page
 * that sent it, and the host name it was sent to. Pure functions of the request's facts.
 */

/** The facts about a request that access decisions read, from Hono or a raw upgrade alike. */
export interface RequestFacts {
  method: string;
  /** The path, without the query. */
  path: string;
  /** Whether this is the /ws upgrade. */
  upgrade: boolean;
  header(name: string): string | undefined;
  /** `?token=`, where the route accepts one. */
  queryToken: string | undefined;
  /** The peer's address on the socket. */
  remoteAddress: string | undefined;
  /** The scheme the request came in on at this server ("http:" or "https:"). */
  protocol: string;
}

/** Whether a request changes something: anything but GET, HEAD and OPTIONS. */
export const changes = (method: string) => !/^(GET|HEAD|OPTIONS)$/i.test(method);

/** An address as the socket gives it, IPv4-mapped IPv6 unwrapped. */
const plainAddress = (address: string) => (address.startsWith("::ffff:") ? address.slice(7) : address);

/**
 * Whether the request came through a trusted proxy: the socket's peer is one of `trusted`
 * ("loopback" stands for 127.0.0.0/8 and ::1). Only then are X-Forwarded-* headers believed: a
 * client that reaches the port directly could otherwise name any address, host or scheme.
 */
export function viaTrustedProxy(facts: RequestFacts, trusted: readonly string[]): boolean {
  if (trusted.length === 0 || !facts.remoteAddress) return false;
  const peer = plainAddress(facts.remoteAddress);
  return trusted.some((entry) =>
    entry === "loopback" ? peer === "::1" || /^127\./.test(peer) : plainAddress(entry) === peer,
  );
}

/** The first value of a header that may be a comma-separated list. */
const firstOf = (value: string | undefined) => value?.split(",")[0]?.trim() || undefined;

/**
 * The client's address: the socket's peer; through a trusted proxy (TRUST_PROXY), the address the
 * proxy appended to X-Forwarded-For (the last one: those before it are the client's own word).
 */
export function clientAddress(facts: RequestFacts, trusted: readonly string[]): string {
  const forwarded = viaTrustedProxy(facts, trusted)
    ? facts.header("x-forwarded-for")?.split(",").pop()?.trim()
    : undefined;
  return plainAddress(forwarded || facts.remoteAddress || "unknown");
}

/** The scheme and host the client addressed: the request's own, or the trusted proxy's. */
export function addressedAs(facts: RequestFacts, trusted: readonly string[]) {
  const proxied = viaTrustedProxy(facts, trusted);
  const forwardedHost = proxied ? firstOf(facts.header("x-forwarded-host")) : undefined;
  const forwardedProto = proxied ? firstOf(facts.header("x-forwarded-proto")) : undefined;
  return {
    host: forwardedHost ?? facts.header("host"),
    protocol: forwardedProto ? `${forwardedProto}:` : facts.protocol,
  };
}

/** `host[:port]` as a URL would hold it, lower case, default ports dropped; null if it is not one. */
function normalHost(protocol: string, host: string): string | null {
  try {
    const url = new URL(`${protocol}//${host}`);
    return url.username || url.password || url.pathname !== "/" ? null : url.host;
  } catch {
    return null;
  }
}

/**
 * Why a request may not go on for its Origin, or null. Checked on every change and every /ws
 * upgrade, with or without a token: a browser sends the page's Origin with both, and a page of
 * another site must not drive the hardware through a visitor's browser (CSRF, cross-site WebSocket
 * hijacking). hono/csrf is not used: it checks only form-like content types, leaving JSON to the
 * browser's CORS preflight, it cannot guard the WebSocket upgrade (outside Hono), and its answer is
 * not the contract's error shape.
 *
 * The server's own origin is the scheme and host the request was addressed to. An https Origin of
 * the same host also counts: a TLS proxy that keeps the Host header but speaks http to us.
 * A request with no Origin passes (scripts, the CLI, a same-origin GET), unless the browser says
 * in Sec-Fetch-Site that another site sent it.
 */
export function originProblem(
  facts: RequestFacts,
  settings: { allowedOrigins: readonly string[]; trustedProxies: readonly string[] },
): string | null {
  if (!changes(facts.method) && !facts.upgrade) return null;
  const origin = facts.header("origin");
  if (origin === undefined) {
    const site = facts.header("sec-fetch-site");
    return site === "cross-site" || site === "same-site"
      ? `a request from another site (Sec-Fetch-Site: ${site})`
      : null;
  }
  if (settings.allowedOrigins.includes(origin)) return null;
  let from: URL | null = null;
  try {
    from = new URL(origin);
  } catch {
    from = null;
  }
  const own = addressedAs(facts, settings.trustedProxies);
  if (from && own.host && (from.protocol === own.protocol || from.protocol === "https:")) {
    if (normalHost(from.protocol, own.host) === from.host) return null;
  }
  return `requests that change something or open /ws are accepted from this server's own pages only, not from ${origin.slice(0, 200)} (ALLOWED_ORIGINS lists others)`;
}

/**
 * Whether a browser says another site's page sent the request, whatever its method: Sec-Fetch-Site
 * `cross-site` or `same-site`, or an Origin that is not this server's (nor allowed).
 */
export function sentByAnotherSite(
  facts: RequestFacts,
  settings: { allowedOrigins: readonly string[]; trustedProxies: readonly string[] },
): boolean {
  const site = facts.header("sec-fetch-site");
  if (site === "cross-site" || site === "same-site") return true;
  if (facts.header("origin") === undefined) return false;
  return originProblem({ ...facts, method: "POST" }, settings) !== null;
}

const loopbackNames = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Why a token-less server refuses a request for its Host, or null. Without a token the server
 * trusts whoever reaches it, which is safe only on loopback; but a page on any site can point its
 * own host name at 127.0.0.1 (DNS rebinding) and then talk to us as "same origin". Its requests
 * still carry its own host name in Host: so only loopback names, and ALLOWED_HOSTS, are answered.
 */
export function hostProblem(facts: RequestFacts, allowedHosts: readonly string[]): string | null {
  const host = facts.header("host");
  const normal = host ? normalHost("http:", host) : null;
  if (normal) {
    const name = new URL(`http://${normal}`).hostname;
    if (loopbackNames.has(name)) return null;
    if (allowedHosts.some((allowed) => allowed.toLowerCase() === name || allowed.toLowerCase() === normal))
      return null;
  }
  return `with no API token configured this server answers only to localhost, 127.0.0.1 and [::1] (and ALLOWED_HOSTS), not to Host ${JSON.stringify((host ?? "").slice(0, 200))}`;
}
