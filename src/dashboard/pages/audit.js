// The audit log: who changed what, from where, and how it went; newest first. Operators only (the
// server answers a viewer 403, shown as any other error).
import { api, errorView } from "../lib/api.js";
import { fill, formatTime, h, link } from "../lib/dom.js";

/** Entries per call (GET /api/audit answers them oldest first, `after=` an audit_id for the next ones). */
const limit = 100;
/** Calls per load at most: past that many entries the rest wait for "Load newer". */
const maxPages = 20;

function cell(value) {
  return value === undefined || value === null || value === "" ? h("span", { class: "muted" }, "–") : value;
}

/** A run's id links to its page (as in runs.js); any other target is text. */
function targetView(target) {
  if (typeof target === "string" && target.startsWith("run_")) {
    return link(`/runs/${encodeURIComponent(target)}`, h("code", {}, target));
  }
  return cell(target && h("code", {}, target));
}

function entryRow(entry) {
  const ok = entry.outcome === "ok";
  return h(
    "tr",
    {
      "data-audit-id": entry.audit_id,
      "data-action": entry.action,
      "data-outcome": entry.outcome,
      class: ok ? undefined : "not-ok",
    },
    h("td", {}, entry.at ? h("time", { datetime: entry.at, title: entry.at }, formatTime(entry.at)) : cell()),
    h("td", {}, cell(entry.actor)),
    h("td", {}, cell(entry.role)),
    h("td", {}, cell(entry.address && h("code", {}, entry.address))),
    h("td", {}, cell(entry.action && h("code", {}, entry.action))),
    h("td", {}, targetView(entry.target)),
    h("td", { class: ok ? "outcome-ok" : "outcome-bad" }, cell(entry.outcome)),
  );
}

export function auditPage(main, { signal }) {
  document.title = "Audit · Rigflow";
  const body = h("tbody");
  const status = h("div", { class: "page-status" });
  const note = h("p", { class: "muted", id: "audit-note" });
  const updated = h("span", { class: "live-state" });
  const newer = h("button", { id: "audit-load-newer", type: "button" }, "Load newer");
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Audit"), updated),
    h("div", { class: "actions" }, newer),
    status,
    note,
    h(
      "table",
      { class: "list audit", id: "audit-log" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["At", "Actor", "Role", "Address", "Action", "Target", "Outcome"].map((t) => h("th", {}, t)),
        ),
      ),
      body,
    ),
  );

  // `after`: the audit_id the next call starts after; null before the first answer, so the first
  // load reads from the oldest entry. `seen` keeps a replayed entry from showing twice.
  let after = null;
  const seen = new Set();
  let loading = false;

  /**
   * Reads every entry after `after`, page by page, and puts them on top, newest first. The API
   * answers oldest first, so the newest are reached only by paging to an answer shorter than
   * `limit`; the rows are drawn once at the end (or at an error, with what was read), not page by
   * page.
   */
  async function load() {
    if (loading) return;
    loading = true;
    newer.disabled = true;
    newer.textContent = "Loading…";
    const read = [];
    let failure = null;
    let more = false;
    try {
      for (let pages = 0; ; pages++) {
        if (pages === maxPages) {
          more = true;
          break;
        }
        const params = new URLSearchParams({ limit: String(limit) });
        if (after) params.set("after", after);
        const page = await api(`/api/audit?${params}`);
        if (signal.aborted) return;
        const entries = Array.isArray(page?.entries) ? page.entries : [];
        read.push(...entries);
        // The cursor is next_after; an answer without one moves on past its own last entry.
        after = page?.next_after ?? entries.at(-1)?.audit_id ?? after;
        if (entries.length < limit || !page?.next_after) break;
      }
    } catch (error) {
      failure = error;
    } finally {
      loading = false;
    }
    if (signal.aborted) return;
    const fresh = read.filter((entry) => !seen.has(entry.audit_id));
    for (const entry of fresh) seen.add(entry.audit_id);
    body.prepend(...fresh.reverse().map(entryRow));
    fill(status, failure && errorView(failure, "Loading the audit log"));
    if (!failure && seen.size === 0) status.append(h("p", { class: "empty" }, "No audited actions yet."));
    note.textContent = more
      ? `Read ${(maxPages * limit).toLocaleString("en")} entries, the most at once, and more exist: the newest are not shown yet; Load newer reads on.`
      : "";
    if (!failure) updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    newer.disabled = false;
    newer.textContent = "Load newer";
  }

  newer.addEventListener("click", () => void load());
  void load();
}
