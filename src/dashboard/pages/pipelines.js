// Pipelines: the saved ones, one pipeline's graph and document, saving a document, starting a run.
// A viewer gets the lists, graphs and documents, but no Start run and no editor (see lib/me.js).
import { api, errorView } from "../lib/api.js";
import { drawDag } from "../lib/dag.js";
import { fill, formatTime, h, jsonBlock, link } from "../lib/dom.js";
import { canChange } from "../lib/me.js";
import { navigate } from "../lib/router.js";

/** The seed's demo (home, then move to 100) on a device of this server, to start from. */
function demoDocument(deviceId) {
  return {
    id: "demo_pipeline_001",
    name: "Servo demo",
    nodes: [
      { id: "node_1", type: "device", device_id: deviceId, function_id: "home", params: {} },
      { id: "node_2", type: "device", device_id: deviceId, function_id: "move", params: { position: 100 } },
    ],
    edges: [{ source: "node_1", target: "node_2" }],
  };
}

async function startRun(pipelineId, message) {
  fill(message, h("p", { class: "muted" }, `Starting a run of ${pipelineId}…`));
  try {
    const { run_id: runId } = await api("/api/runs", { method: "POST", body: { pipeline_id: pipelineId } });
    navigate(`/runs/${encodeURIComponent(runId)}`);
  } catch (error) {
    fill(message, errorView(error, `Starting a run of ${pipelineId}`));
  }
}

/** A textarea for a pipeline document and a Save button; `onSaved(id)` after a good save. */
function documentEditor(initial, message, onSaved) {
  const text = h("textarea", { id: "pipeline-document", rows: 16, spellcheck: "false" }, initial);
  const save = h("button", { id: "save-pipeline", type: "submit" }, "Save pipeline");
  const form = h("form", { class: "editor" }, text, h("div", {}, save));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let document;
    try {
      document = JSON.parse(text.value);
    } catch (error) {
      fill(
        message,
        errorView(
          { code: "BODY_INVALID_JSON", message: `the document is not valid JSON: ${error.message}` },
          "Saving",
        ),
      );
      return;
    }
    try {
      const saved = await api("/api/pipelines/save", { method: "POST", body: document });
      fill(message, h("p", { class: "ok" }, `Saved ${saved.pipeline.id}, version ${saved.version}.`));
      onSaved(saved.pipeline.id);
    } catch (error) {
      fill(message, errorView(error, "Saving the pipeline"));
    }
  });
  return form;
}

export function pipelinesPage(main, { signal }) {
  document.title = "Pipelines · Rigflow";
  const operator = canChange();
  const body = h("tbody");
  const status = h("div", { class: "page-status" });
  const message = h("div", { class: "action-message", id: "action-message" });
  const editorBox = h("div");
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Pipelines")),
    message,
    status,
    h(
      "table",
      { class: "list", id: "pipelines" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Pipeline", "Name", "Nodes", "Version", "Updated"].map((t) => h("th", {}, t)),
          operator && h("th", {}),
        ),
      ),
      body,
    ),
    // main.append is the DOM's own: it takes nodes, not the nested lists and `false` that h() skips.
    ...(operator
      ? [
          h("h2", {}, "Save a pipeline"),
          h(
            "p",
            { class: "muted" },
            "Paste or edit a pipeline document (see docs/pipelines.md); saving one with an existing id makes a new version.",
          ),
          editorBox,
        ]
      : []),
  );
  const load = async () => {
    try {
      const { pipelines } = await api("/api/pipelines");
      if (signal.aborted) return;
      fill(
        status,
        pipelines.length === 0 &&
          h(
            "p",
            { class: "empty" },
            operator ? "No pipelines saved yet: save the demo below." : "No pipelines saved yet.",
          ),
      );
      body.replaceChildren(
        ...pipelines.map((p) =>
          h(
            "tr",
            { "data-pipeline-id": p.id },
            h("td", {}, link(`/pipelines/${encodeURIComponent(p.id)}`, h("code", {}, p.id))),
            h("td", {}, p.name),
            h("td", {}, String(p.node_count)),
            h("td", {}, `v${p.version}`),
            h("td", {}, formatTime(p.updated_at)),
            operator &&
              h(
                "td",
                {},
                h("button", { class: "start-run", onclick: () => startRun(p.id, message) }, "Start run"),
              ),
          ),
        ),
      );
    } catch (error) {
      if (!signal.aborted) fill(status, errorView(error, "Loading the pipelines"));
    }
  };
  void load();
  if (!operator) return;
  // The editor starts from the demo on one of this server's devices.
  api("/api/devices")
    .then(
      ({ devices }) => devices[0]?.device_id ?? "servo-1",
      () => "servo-1",
    )
    .then((deviceId) => {
      if (signal.aborted) return;
      editorBox.append(
        documentEditor(JSON.stringify(demoDocument(deviceId), null, 2), message, () => void load()),
      );
    });
}

export function pipelinePage(main, { params, signal }) {
  const [pipelineId] = params;
  const operator = canChange();
  document.title = `${pipelineId} · Rigflow`;
  const message = h("div", { class: "action-message", id: "action-message" });
  const head = h("div", { class: "page-head" }, h("h1", {}, "Pipeline ", h("code", {}, pipelineId)));
  main.append(head, message);
  api(`/api/pipelines/${encodeURIComponent(pipelineId)}`)
    .then((stored) => {
      if (signal.aborted) return;
      const { version, updated_at: updatedAt, ...document } = stored;
      const graph = {
        nodes: document.nodes.map((n) => ({
          node_id: n.id,
          function_id: n.function_id,
          device_id: n.device_id,
          // An approval has neither function nor device: the graph shows what it asks instead.
          type: n.type,
          message: n.message,
        })),
        edges: document.edges ?? [],
      };
      const dag = h("div", { class: "dag-box-outer", id: "dag" });
      main.append(
        h("p", {}, `${document.name ?? ""} · version ${version} · updated ${formatTime(updatedAt)}`),
        ...(operator
          ? [
              h(
                "div",
                { class: "actions" },
                h("button", { id: "start-run", onclick: () => startRun(pipelineId, message) }, "Start run"),
              ),
            ]
          : []),
        dag,
        h("h2", {}, "Document"),
        // A viewer reads the document; only an operator gets it in an editor with Save.
        operator
          ? documentEditor(JSON.stringify(document, null, 2), message, (id) =>
              navigate(`/pipelines/${encodeURIComponent(id)}`, { replace: id === pipelineId }),
            )
          : jsonBlock(document),
      );
      drawDag(dag, graph);
    })
    .catch((error) => {
      if (!signal.aborted) main.append(errorView(error, `Loading pipeline ${pipelineId}`));
    });
}
