// Draws a run's (or a pipeline's) DAG as SVG: dagre computes a layered layout, left to right.
import dagre from "/dashboard/vendor/dagre.js";
import { h, s } from "./dom.js";
import { isApproval, nodeWork } from "./node-kind.js";

const nodeWidth = 190;
const nodeHeight = 64;

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A node's second line: its function and device, or for an approval what it asks of a person. */
function subtitle(node) {
  return isApproval(node)
    ? `approval${node.message ? ` · ${node.message}` : ""}`
    : `${node.function_id} · ${node.device_id}`;
}

/** A node's tooltip: its id and work, and an approval's whole message (the box shows its start). */
function tooltip(node) {
  const asks = isApproval(node) && node.message ? `: ${node.message}` : "";
  return `${node.node_id}: ${nodeWork(node)}${asks}`;
}

function layout(nodes, edges) {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 70, marginx: 12, marginy: 12 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) graph.setNode(node.node_id, { width: nodeWidth, height: nodeHeight });
  for (const edge of edges) graph.setEdge(edge.source, edge.target);
  dagre.layout(graph);
  return graph;
}

function edgePath(points) {
  const [first, ...rest] = points;
  return `M${first.x},${first.y} ${rest.map((p) => `L${p.x},${p.y}`).join(" ")}`;
}

/**
 * Renders the graph into `container` and returns a handle to change node states in place:
 * setStatus(nodeId, status, note), setProgress(nodeId, fraction|null), select(nodeId).
 * @param {HTMLElement} container
 * @param {{nodes: {node_id: string, function_id: string, device_id: string | null, type?: string,
 *   message?: string}[],
 *   edges: {source: string, target: string, data?: {source_output: string, target_input: string}[]}[]}} graph
 * @param {{onSelect?: (nodeId: string) => void}} options
 */
export function drawDag(container, graph, options = {}) {
  const laid = layout(graph.nodes, graph.edges);
  const { width = 0, height = 0 } = laid.graph();
  const marker = s(
    "marker",
    { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto" },
    s("path", { d: "M0,0 L10,5 L0,10 z", class: "dag-arrow" }),
  );
  const edges = graph.edges.map((edge) => {
    const points = laid.edge(edge.source, edge.target)?.points ?? [];
    const label = (edge.data ?? []).map((d) => `${d.source_output} → ${d.target_input}`).join(", ");
    return s(
      "g",
      { class: "dag-edge", "data-source": edge.source, "data-target": edge.target },
      s("path", { d: edgePath(points), "marker-end": "url(#arrow)" }),
      label && s("title", {}, label),
    );
  });
  const elements = new Map();
  const nodes = graph.nodes.map((node) => {
    const { x, y } = laid.node(node.node_id);
    const status = s("text", { x: 12, y: 54, class: "dag-status" }, "pending");
    const progress = s("rect", { x: 0, y: nodeHeight - 4, width: 0, height: 4, class: "dag-progress" });
    const group = s(
      "g",
      {
        class: "dag-node status-pending",
        "data-node-id": node.node_id,
        "data-status": "pending",
        transform: `translate(${x - nodeWidth / 2},${y - nodeHeight / 2})`,
        tabindex: 0,
        role: "button",
        "aria-label": `node ${node.node_id}`,
      },
      s("title", {}, tooltip(node)),
      s("rect", { width: nodeWidth, height: nodeHeight, rx: 8, class: "dag-box" }),
      s("text", { x: 12, y: 20, class: "dag-id" }, shorten(node.node_id, 22)),
      s("text", { x: 12, y: 37, class: "dag-fn" }, shorten(subtitle(node), 26)),
      status,
      progress,
    );
    const choose = () => options.onSelect?.(node.node_id);
    group.addEventListener("click", choose);
    group.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        choose();
      }
    });
    elements.set(node.node_id, { group, status, progress });
    return group;
  });
  const svg = s(
    "svg",
    {
      class: "dag",
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-label": "pipeline graph",
    },
    s("defs", {}, marker),
    ...edges,
    ...nodes,
  );
  container.replaceChildren(h("div", { class: "dag-scroll" }, svg));
  return {
    setStatus(nodeId, value, note) {
      const element = elements.get(nodeId);
      if (!element) return;
      element.group.setAttribute("class", `dag-node status-${value}${element.selected ? " selected" : ""}`);
      element.group.setAttribute("data-status", value);
      element.status.textContent = note ? `${value} · ${note}` : value;
      if (value !== "running") this.setProgress(nodeId, null);
    },
    setProgress(nodeId, fraction) {
      const element = elements.get(nodeId);
      if (!element) return;
      const share = fraction === null ? 0 : Math.max(0, Math.min(1, fraction));
      element.progress.setAttribute("width", String(nodeWidth * share));
    },
    select(nodeId) {
      for (const [id, element] of elements) {
        element.selected = id === nodeId;
        element.group.classList.toggle("selected", element.selected);
      }
    },
  };
}
