/** Where a browser may be sent after signing in: a path on this server, never another site. */

/** Whether `text` has a control character (C0, DEL, C1) or a backslash: browsers drop or reread them. */
function unsafeInPath(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x5c) return true;
  }
  return false;
}

const pathBase = "http://rigflow.invalid";

/**
 * Only a path on this server may follow a login, never `//host`, an absolute URL or anything a
 * browser could read as one (`/\t/host`: browsers drop tabs and newlines, and read `\` as `/`).
 * The path is parsed as a URL against a placeholder origin and must stay on it; what is returned is
 * the parsed path, query and fragment, so what was checked is what the browser is sent to.
 */
export function safeNext(next: unknown): string {
  if (typeof next !== "string" || !next.startsWith("/") || unsafeInPath(next)) return "/";
  let url: URL;
  try {
    url = new URL(next, pathBase);
  } catch {
    return "/";
  }
  if (url.origin !== pathBase) return "/";
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Dot segments can leave a path that starts with `//` ("/.//host"): a browser would leave the site.
  return path.startsWith("/") && !path.startsWith("//") && !unsafeInPath(path) ? path : "/";
}
