/** Who may reach the API and how (docs/contract.md, "Access"); read from the environment by config.ts. */
export interface AccessSettings {
  /** An operator's token (API_TOKEN): everything. */
  apiToken?: string | undefined;
  /** A viewer's token (API_READ_TOKEN): reads everything, changes nothing. */
  readToken?: string | undefined;
  /** API_TOKENS_FILE: named people, tokens stored as SHA-256 (credentials.ts). */
  tokensFile?: string | undefined;
  /** Origins besides the server's own whose pages may change things and open /ws. */
  allowedOrigins: readonly string[];
  /** Host names besides loopback ones a token-less server answers (DNS rebinding guard). */
  allowedHosts: readonly string[];
  /** A dashboard session ends this long after its last request. */
  sessionIdleS: number;
  /** ... and this long after sign-in, whatever happens. */
  sessionMaxS: number;
  /**
   * The proxies whose X-Forwarded-For/-Host/-Proto are believed: their addresses, or "loopback" (a
   * proxy on this machine). From anyone else those headers are the client's own word, ignored.
   */
  trustedProxies: readonly string[];
  /** RATE_LIMIT_PER_MIN: changes one client (a credential's name, else an address) may make a minute. */
  changesPerMinute: number;
  /** How many audit entries are kept (the oldest go first). */
  auditMaxEntries: number;
}

export const defaultAccessSettings: AccessSettings = {
  allowedOrigins: [],
  allowedHosts: [],
  sessionIdleS: 28_800,
  sessionMaxS: 604_800,
  trustedProxies: [],
  auditMaxEntries: 100_000,
  changesPerMinute: 600,
};

/** Whether any token is configured: then every guarded request needs one (or a session). */
export function tokensConfigured(settings: Pick<AccessSettings, "apiToken" | "readToken" | "tokensFile">) {
  return Boolean(settings.apiToken || settings.readToken || settings.tokensFile);
}
