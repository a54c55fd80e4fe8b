// The devices: state, hosting worker, reservation, what each is running, queue depth. Polled: a
// device's state changes without a run event (a worker joins or leaves, a fault clears).
import { api, errorView } from "../lib/api.js";
import { clock, fill, h, link, statusBadge } from "../lib/dom.js";

const pollMs = 2000;

/** "run/node: function" (the worker's label for a running command) as a link to that node. */
function commandView(label) {
  const match = /^([^/]+)\/([^:]+): (.*)$/.exec(label);
  if (!match) return h("div", {}, label);
  const [, runId, nodeId, functionId] = match;
  return h(
    "div",
    { class: "command" },
    h("code", {}, functionId),
    " · ",
    link(`/runs/${encodeURIComponent(runId)}?node=${encodeURIComponent(nodeId)}`, `${runId} / ${nodeId}`),
  );
}

function queueCell(device, queue) {
  const board = h(
    "a",
    { href: `/admin/queues/queue/${encodeURIComponent(`device-${device.device_id}`)}`, class: "muted" },
    "jobs",
  );
  const counts = queue?.counts;
  if (!counts) return [h("strong", {}, String(device.queue_depth ?? 0)), " waiting ", board];
  const parts = ["waiting", "active", "delayed", "failed"]
    .filter((state) => counts[state])
    .map((state) => `${counts[state]} ${state}`);
  return [
    queue.paused && h("strong", { class: "error-text" }, "paused · "),
    parts.length ? parts.join(", ") : "empty",
    " ",
    board,
  ];
}

function deviceRow(device, queue) {
  return h(
    "tr",
    { "data-device-id": device.device_id },
    h("td", {}, h("code", {}, device.device_id)),
    h("td", {}, device.driver),
    h(
      "td",
      {},
      statusBadge(device.status),
      device.error_message && h("div", { class: "error-text" }, device.error_message),
    ),
    h("td", {}, `${device.active ?? 0} / ${device.capacity}`),
    h(
      "td",
      {},
      (device.current ?? []).length ? device.current.map(commandView) : h("span", { class: "muted" }, "–"),
    ),
    h("td", {}, queueCell(device, queue)),
    h("td", {}, device.worker_id ? h("code", {}, device.worker_id) : h("span", { class: "muted" }, "none")),
    h(
      "td",
      {},
      device.reserved_by ? link(`/runs/${encodeURIComponent(device.reserved_by)}`, device.reserved_by) : "–",
    ),
    h("td", {}, clock(device.last_seen_at)),
  );
}

export function devicesPage(main, { signal, onLeave }) {
  document.title = "Devices · Rigflow";
  const body = h("tbody");
  const status = h("div", { class: "page-status" });
  const updated = h("span", { class: "live-state" });
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Devices"), updated),
    status,
    h(
      "table",
      { class: "list", id: "devices" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [
            "Device",
            "Driver",
            "State",
            "Active",
            "Running now",
            "Queue",
            "Worker",
            "Reserved by",
            "Last seen",
          ].map((t) => h("th", {}, t)),
        ),
      ),
      body,
    ),
  );
  // /api/queues (job counts by state) is used when it answers; the device's own queue_depth
  // otherwise, for this poll only: the next poll asks again.
  let timer;
  async function load() {
    try {
      const [{ devices }, queues] = await Promise.all([
        api("/api/devices"),
        api("/api/queues").catch(() => null),
      ]);
      if (signal.aborted) return;
      const byName = new Map((queues?.queues ?? []).map((q) => [q.name, q]));
      fill(status);
      body.replaceChildren(...devices.map((d) => deviceRow(d, byName.get(`device-${d.device_id}`))));
      if (devices.length === 0)
        status.append(h("p", { class: "empty" }, "The devices file names no devices."));
      updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (!signal.aborted) fill(status, errorView(error, "Loading the devices"));
    }
  }
  // The next poll starts pollMs after this one ended, never while it is still waiting on a slow
  // server: polls do not pile up.
  async function poll() {
    await load();
    if (!signal.aborted) timer = setTimeout(() => void poll(), pollMs);
  }
  void poll();
  onLeave(() => clearTimeout(timer));
}
