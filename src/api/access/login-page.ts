import { createHash } from "node:crypto";

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[char] ?? char,
  );
}

const style = `
  body { font: 15px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1d2430; margin: 0; }
  main { max-width: 26rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: 8px;
    box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; margin: .5rem 0 1rem; }
  button { padding: .5rem 1rem; font: inherit; background: #2956c7; color: #fff; border: 0; border-radius: 4px; }
  .error { color: #a32020; background: #fdecec; padding: .5rem .75rem; border-radius: 4px; }
  code { background: #eef0f3; padding: 0 .25rem; border-radius: 3px; }
`;

/** The SHA-256 of the inline style, for the pages' content security policy (no 'unsafe-inline'). */
export const inlineStyleHash = `'sha256-${createHash("sha256").update(style).digest("base64")}'`;

function page(title: string, content: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rigflow: ${title}</title>
<style>${style}</style>
</head>
<body>
<main>
  <h1>Rigflow</h1>
${content}
</main>
</body>
</html>
`;
}

/** GET /logout: a page that asks, since signing out is a change and a link (a GET) must not make one. */
export function signOutPage(): string {
  return page(
    "sign out",
    `  <form method="post" action="/logout">
    <p>Sign out of this dashboard?</p>
    <button type="submit">Sign out</button>
  </form>`,
  );
}

/**
 * The page a browser gets instead of a bare 401 when the server has an API token: it says what is
 * needed and asks for the token. Self-contained (no assets), since assets are behind the token too.
 */
export function loginPage(next: string, problem: string | null): string {
  const error = problem ? `<p class="error" role="alert">${escapeHtml(problem)}</p>` : "";
  return page(
    "sign in",
    `  <p>This server needs a token: the <code>API_TOKEN</code> or <code>API_READ_TOKEN</code> it was started with, or your own.</p>
  ${error}
  <form method="post" action="/login">
    <label for="token">Token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
    <input type="hidden" name="next" value="${escapeHtml(next)}">
    <button type="submit">Open the dashboard</button>
  </form>`,
  );
}
