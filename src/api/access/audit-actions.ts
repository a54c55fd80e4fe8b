/**
 * What a request that changes something is called in the audit log, and what it acts on: named
 * for people reading the log ("run.cancel" on a run id), not by URL.
 */
const actions: {
  method: string;
  path: RegExp;
  action: string | ((match: RegExpExecArray) => string);
  target?: (match: RegExpExecArray) => string;
}[] = [
  { method: "POST", path: /^\/api\/runs\/?$/, action: "run.submit" },
  { method: "POST", path: /^\/api\/pipelines\/execute\/?$/, action: "run.submit" },
  {
    method: "POST",
    path: /^\/api\/runs\/([^/]+)\/([a-z]+)$/,
    action: (m) => `run.${m[2]}`,
    target: (m) => m[1] ?? "",
  },
  {
    method: "POST",
    path: /^\/api\/runs\/([^/]+)\/nodes\/([^/]+)\/([a-z]+)$/,
    action: (m) => `node.${m[3]}`,
    target: (m) => `${m[1]}/${m[2]}`,
  },
  { method: "POST", path: /^\/api\/pipelines\/save\/?$/, action: "pipeline.save" },
  {
    method: "DELETE",
    path: /^\/api\/pipelines\/([^/]+)$/,
    action: "pipeline.delete",
    target: (m) => m[1] ?? "",
  },
  {
    method: "POST",
    path: /^\/api\/queues\/([^/]+)\/jobs\/([^/]+)\/([a-z]+)$/,
    action: (m) => `job.${m[3]}`,
    target: (m) => `${m[1]}/${m[2]}`,
  },
  {
    method: "POST",
    path: /^\/api\/queues\/([^/]+)\/([a-z]+)$/,
    action: (m) => `queue.${m[2]}`,
    target: (m) => m[1] ?? "",
  },
  { method: "POST", path: /^\/login$/, action: "session.sign_in" },
  { method: "POST", path: /^\/logout$/, action: "session.sign_out" },
];

/** The action and target of a request; an unlisted one is named by its method and path. */
export function auditAction(method: string, path: string): { action: string; target: string } {
  for (const entry of actions) {
    if (entry.method !== method) continue;
    const match = entry.path.exec(path);
    if (!match) continue;
    return {
      action: typeof entry.action === "string" ? entry.action : entry.action(match),
      target: decodeSafely(entry.target?.(match) ?? ""),
    };
  }
  return { action: `${method} ${path.slice(0, 200)}`, target: "" };
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
