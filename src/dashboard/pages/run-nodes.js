// A run too large to draw (over 1,000 nodes: GET /api/runs/{id} answers `nodes: null`): its node
// counts, and its nodes a page at a time from GET /api/runs/{id}/nodes, in plan order, filtered by
// status if asked. The page shown is re-read as the run moves, and its rows follow the live events.
import { api } from "../lib/api.js";
import { fill, formatSeconds, h, statusBadge } from "../lib/dom.js";
import { isApproval } from "../lib/node-kind.js";

const statuses = [
  "pending",
  "queued",
  "running",
  "waiting",
  "completed",
  "failed",
  "cancelled",
  "held",
  "skipped",
];
const pageSize = 50;

export function largeRunPanel(box, { runId, onSelect, onError }) {
  const counts = h("p", { class: "node-counts", id: "node-counts" });
  const filter = h(
    "select",
    { id: "node-filter", "aria-label": "Show nodes" },
    h("option", { value: "" }, "all nodes"),
    statuses.map((status) => h("option", { value: status }, status)),
  );
  const previous = h("button", { id: "nodes-previous", disabled: true }, "Previous");
  const next = h("button", { id: "nodes-next", disabled: true }, "Next");
  const position = h("span", { class: "muted", id: "nodes-position" });
  const rows = h("tbody", { id: "node-rows" });
  fill(
    box,
    counts,
    h("div", { class: "actions" }, filter, previous, next, position),
    h(
      "table",
      { class: "list", id: "node-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Node", "Device", "Function", "Status", "Attempts", "Took"].map((t) => h("th", {}, t)),
        ),
      ),
      rows,
    ),
  );

  // cursors[i] is where page i starts; the shown nodes by id, for the details panel and live events.
  const view = { cursors: [""], index: 0, shown: new Map(), loading: false, again: false };
  const row = (node) =>
    h(
      "tr",
      { "data-node-id": node.node_id, "data-status": node.status, class: "clickable" },
      h("td", {}, h("code", {}, node.node_id)),
      // An approval runs on no device: a person decides it.
      h("td", {}, isApproval(node) ? h("span", { class: "muted" }, "approval") : node.device_id),
      h("td", {}, node.function_id),
      h("td", {}, statusBadge(node.status)),
      h("td", {}, String(node.attempts)),
      h("td", {}, formatSeconds(node.execution_time)),
    );
  const load = async () => {
    if (view.loading) {
      view.again = true;
      return;
    }
    view.loading = true;
    try {
      const query = new URLSearchParams({ limit: String(pageSize) });
      const cursor = view.cursors[view.index];
      if (cursor) query.set("cursor", cursor);
      if (filter.value) query.set("status", filter.value);
      const page = await api(`/api/runs/${encodeURIComponent(runId)}/nodes?${query}`);
      view.shown = new Map(page.nodes.map((node) => [node.node_id, node]));
      fill(rows, page.nodes.map(row));
      view.cursors[view.index + 1] = page.next_cursor ?? undefined;
      next.disabled = !page.next_cursor;
      previous.disabled = view.index === 0;
      position.textContent = `page ${view.index + 1}`;
    } catch (error) {
      onError(error);
    } finally {
      view.loading = false;
      if (view.again) {
        view.again = false;
        void load();
      }
    }
  };
  const turn = (step) => {
    view.index = Math.max(0, view.index + step);
    void load();
  };
  next.addEventListener("click", () => turn(1));
  previous.addEventListener("click", () => turn(-1));
  filter.addEventListener("change", () => {
    view.cursors = [""];
    view.index = 0;
    void load();
  });
  rows.addEventListener("click", (event) => {
    const tr = event.target instanceof Element ? event.target.closest("tr[data-node-id]") : null;
    if (tr) onSelect(tr.getAttribute("data-node-id"));
  });

  return {
    /** The counts from a snapshot of the run. */
    showCounts(run) {
      const parts = statuses
        .filter((status) => run.node_counts[status] > 0)
        .map((status) => [statusBadge(status), ` ${run.node_counts[status].toLocaleString("en")}`]);
      fill(
        counts,
        `${run.node_count.toLocaleString("en")} nodes: `,
        parts.flatMap((part, i) => (i ? [" · ", part] : part)),
      );
    },
    /** Re-reads the page shown. */
    refresh: load,
    /** A node of the page shown, if it is on it. */
    node: (nodeId) => view.shown.get(nodeId),
    /** A live event moved a node: its row, if shown, follows. */
    setStatus(nodeId, status) {
      const tr = rows.querySelector(`tr[data-node-id="${CSS.escape(nodeId)}"]`);
      if (!tr) return;
      tr.setAttribute("data-status", status);
      tr.children[3]?.replaceChildren(statusBadge(status));
    },
  };
}
