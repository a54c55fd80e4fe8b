import { describe, expect, it } from "vitest";
import { drivers } from "../../src/drivers/registry.js";
import { createCatalog, defaultLimits, RigflowError } from "../../src/engine/index.js";
import { compilePipeline, parsePipelineDocument } from "../../src/engine/pipeline/validate.js";
import { doc, home, move } from "../support/pipelines.js";
import { servo } from "../support/context.js";

const catalog = createCatalog([servo("servo-1"), servo("servo-2")], drivers.values());

function rejection(document: unknown, limits = defaultLimits): RigflowError {
  try {
    const { pipeline } = parsePipelineDocument(document);
    compilePipeline(pipeline, catalog, limits);
  } catch (error) {
    if (error instanceof RigflowError) return error;
    throw error;
  }
  throw new Error("the pipeline was accepted");
}

const edge = (source: string, target: string) => ({ source, target });

describe("pipeline validation rejects", () => {
  it("a document that is not an object", () => {
    expect(rejection([1, 2]).code).toBe("PIPELINE_INVALID");
  });

  it("a document without nodes, naming the field", () => {
    const error = rejection({ id: "p" });
    expect(error.code).toBe("PIPELINE_INVALID");
    expect(error.message).toContain("nodes");
  });

  it("a field of the wrong type, naming its path", () => {
    const error = rejection({ id: "p", nodes: [{ id: "a", device_id: 7, function_id: "home" }] });
    expect(error.code).toBe("PIPELINE_INVALID");
    expect(error.message).toContain("nodes[0].device_id");
  });

  it("an id with characters outside the contract's pattern", () => {
    const error = rejection(doc("p", [home("a:b", "servo-1")]));
    expect(error.code).toBe("PIPELINE_INVALID");
    expect(error.message).toContain("nodes[0].id");
  });

  it("a node type other than device", () => {
    const error = rejection({ id: "p", nodes: [{ ...home("a", "servo-1"), type: "script" }] });
    expect(error.code).toBe("NODE_TYPE_UNSUPPORTED");
    expect(error.details).toMatchObject({ node_id: "a", type: "script" });
  });

  it("an approval node without its message, with a device, or with an output type it does not know", () => {
    const approval = { id: "ok", type: "approval", message: "Go?" };
    const noMessage = rejection({ id: "p", nodes: [{ id: "ok", type: "approval" }] });
    expect(noMessage.code).toBe("PIPELINE_INVALID");
    expect(noMessage.message).toContain("nodes[0].message");
    const withDevice = rejection({ id: "p", nodes: [{ ...approval, device_id: "servo-1" }] });
    expect(withDevice.code).toBe("VALIDATION_FAILED");
    expect(withDevice.details).toMatchObject({ field: "nodes[0].device_id" });
    const badType = rejection({ id: "p", nodes: [{ ...approval, outputs: { when: "date" } }] });
    expect(badType.code).toBe("PIPELINE_INVALID");
    expect(badType.message).toContain("nodes[0].outputs");
  });

  it("edges that feed an approval an input, or take an output it does not declare", () => {
    const approval = { id: "ok", type: "approval", message: "Go?", outputs: ["position"] };
    const into = rejection(
      doc("p", [move("m", "servo-1", 10), approval] as never, [
        { source: "m", target: "ok", source_output: "position", target_input: "position" },
      ]),
    );
    expect(into.code).toBe("EDGE_INPUT_UNKNOWN");
    const from = rejection(
      doc("p", [approval, { id: "m", device_id: "servo-1", function_id: "move" }] as never, [
        { source: "ok", target: "m", source_output: "volume", target_input: "position" },
      ]),
    );
    expect(from.code).toBe("EDGE_OUTPUT_UNKNOWN");
    expect(from.message).toContain("(it has: position)");
  });

  it("duplicate node ids", () => {
    const error = rejection(doc("p", [home("a", "servo-1"), home("a", "servo-2")]));
    expect(error.code).toBe("NODE_DUPLICATE_ID");
    expect(error.details).toMatchObject({ node_id: "a" });
  });

  it("an edge to an unknown node, naming the edge and the node", () => {
    const error = rejection(doc("p", [home("node_3", "servo-1")], [edge("node_9", "node_3")]));
    expect(error.code).toBe("EDGE_UNKNOWN_NODE");
    expect(error.details).toMatchObject({ edge_index: 0, node_id: "node_9" });
    expect(error.message).toContain("node_9");
  });

  it("a self-loop", () => {
    const error = rejection(doc("p", [home("a", "servo-1")], [edge("a", "a")]));
    expect(error.code).toBe("EDGE_SELF_LOOP");
    expect(error.details).toMatchObject({ node_id: "a", edge_index: 0 });
  });

  it("a duplicated edge", () => {
    const error = rejection(
      doc("p", [home("a", "servo-1"), home("b", "servo-1")], [edge("a", "b"), edge("a", "b")]),
    );
    expect(error.code).toBe("EDGE_DUPLICATE");
    expect(error.details).toMatchObject({ edge_index: 1 });
  });

  it("a cycle, giving its path", () => {
    const nodes = ["a", "b", "c", "d"].map((id) => home(id, "servo-1"));
    const error = rejection(
      doc("p", nodes, [edge("a", "b"), edge("b", "c"), edge("c", "d"), edge("d", "b")]),
    );
    expect(error.code).toBe("PIPELINE_CYCLE");
    const cycle = error.details.cycle as string[];
    expect(cycle[0]).toBe(cycle[cycle.length - 1]);
    expect(new Set(cycle)).toEqual(new Set(["b", "c", "d"]));
    for (let i = 0; i + 1 < cycle.length; i += 1) {
      const pair = `${cycle[i]}>${cycle[i + 1]}`;
      expect(["b>c", "c>d", "d>b"]).toContain(pair);
    }
  });

  it("an unknown device, listing the known ones", () => {
    const error = rejection(doc("p", [home("a", "servo-9")]));
    expect(error.code).toBe("DEVICE_UNKNOWN");
    expect(error.details).toMatchObject({
      node_id: "a",
      device_id: "servo-9",
      known_devices: ["servo-1", "servo-2"],
    });
  });

  it("an unknown function, listing the driver's functions", () => {
    const error = rejection(doc("p", [{ id: "a", device_id: "servo-1", function_id: "dance" }]));
    expect(error.code).toBe("FUNCTION_UNKNOWN");
    expect(error.details).toMatchObject({ node_id: "a", function_id: "dance" });
    expect(error.details.available_functions).toContain("move");
  });

  it("params of the wrong type", () => {
    const error = rejection(
      doc("p", [{ id: "a", device_id: "servo-1", function_id: "move", params: { position: "far" } }]),
    );
    expect(error.code).toBe("PARAMS_INVALID");
    expect(error.details).toMatchObject({ node_id: "a", function_id: "move" });
    expect(error.message).toContain("position");
  });

  it("a missing required param", () => {
    const error = rejection(doc("p", [{ id: "a", device_id: "servo-1", function_id: "move", params: {} }]));
    expect(error.code).toBe("PARAMS_INVALID");
    expect(error.message).toContain("position");
  });

  it("an unknown param", () => {
    const error = rejection(
      doc("p", [{ id: "a", device_id: "servo-1", function_id: "home", params: { force: 1 } }]),
    );
    expect(error.code).toBe("PARAMS_INVALID");
    expect(error.message).toContain("force");
  });

  it("an edge from an output the source does not have", () => {
    const nodes = [home("a", "servo-1"), { id: "b", device_id: "servo-1", function_id: "move" }];
    const error = rejection(
      doc("p", nodes, [{ ...edge("a", "b"), source_output: "angle", target_input: "position" }]),
    );
    expect(error.code).toBe("EDGE_OUTPUT_UNKNOWN");
    expect(error.details).toMatchObject({ edge_index: 0, node_id: "a", source_output: "angle" });
  });

  it("an edge into an input the target does not have", () => {
    const nodes = [home("a", "servo-1"), move("b", "servo-1", 5)];
    const error = rejection(
      doc("p", nodes, [{ ...edge("a", "b"), source_output: "position", target_input: "angle" }]),
    );
    expect(error.code).toBe("EDGE_INPUT_UNKNOWN");
    expect(error.details).toMatchObject({ node_id: "b", target_input: "angle" });
  });

  it("edge fields named like built-in object keys", () => {
    const nodes = [home("a", "servo-1"), move("b", "servo-1", 5)];
    const toInput = rejection(
      doc("p", nodes, [{ ...edge("a", "b"), source_output: "position", target_input: "constructor" }]),
    );
    expect(toInput.code).toBe("EDGE_INPUT_UNKNOWN");
    const fromOutput = rejection(
      doc("p", nodes, [{ ...edge("a", "b"), source_output: "toString", target_input: "position" }]),
    );
    expect(fromOutput.code).toBe("EDGE_OUTPUT_UNKNOWN");
  });

  it("more nodes than the limit, as too large", () => {
    const nodes = Array.from({ length: 4 }, (_, i) => home(`n${i}`, "servo-1"));
    const error = rejection(doc("p", nodes), { ...defaultLimits, maxNodes: 3 });
    expect(error.code).toBe("PIPELINE_TOO_LARGE");
  });

  it("params over the size limit, as too large", () => {
    const error = rejection(doc("p", [move("a", "servo-1", 1)]), { ...defaultLimits, maxParamsBytes: 8 });
    expect(error.code).toBe("PARAMS_TOO_LARGE");
    expect(error.details).toMatchObject({ node_id: "a" });
  });
});

// Edges with a field the contract does not define (variables: object literals would not type-check).
const labelledEdge = { source: "a", target: "b", label: "x" };
const colouredEdge = { source: "a", target: "a", colour: 1 };

describe("strict documents", () => {
  it("refuse an unknown field anywhere, as VALIDATION_FAILED naming it", () => {
    const cases: [unknown, string][] = [
      [{ ...doc("p", [home("a", "servo-1")]), viewport: {} }, "viewport"],
      [doc("p", [{ ...home("a", "servo-1"), position: { x: 1 } }]), "nodes[0].position"],
      [doc("p", [home("a", "servo-1"), home("b", "servo-1")], [labelledEdge]), "edges[0].label"],
    ];
    for (const [document, field] of cases) {
      const error = rejection(document);
      expect(error.code, field).toBe("VALIDATION_FAILED");
      expect(error.details, field).toMatchObject({ field });
      expect(error.message, field).toContain(`'${field}'`);
    }
  });

  it("refuse a ui over 4 KB", () => {
    const error = rejection({ ...doc("p", [home("a", "servo-1")]), ui: { notes: "x".repeat(5000) } });
    expect(error.code).toBe("PIPELINE_INVALID");
    expect(error.message).toContain("ui");
  });
});

describe("the limits on what a document may ask", () => {
  it("refuse a node timeout, attempts or a run timeout over them, naming the field and the variable", () => {
    const limits = { ...defaultLimits, maxNodeTimeoutMs: 60_000, maxAttempts: 3, maxRunTimeoutMs: 600_000 };
    const slow = rejection(
      doc("p", [home("a", "servo-1"), { ...home("b", "servo-1"), timeout_ms: 60_001 }]),
      limits,
    );
    expect(slow.code).toBe("VALIDATION_FAILED");
    expect(slow.message).toBe(
      "nodes[1].timeout_ms: 60001 is over this server's limit of 60000 (MAX_NODE_TIMEOUT_MS)",
    );
    expect(slow.details).toMatchObject({ field: "nodes[1].timeout_ms", node_id: "b", limit: 60_000 });
    const stubborn = rejection(doc("p", [{ ...home("a", "servo-1"), retry: { attempts: 4 } }]), limits);
    expect(stubborn.details).toMatchObject({ field: "nodes[0].retry.attempts", limit: 3 });
    const long = rejection({ ...doc("p", [home("a", "servo-1")]), timeout_ms: 600_001 }, limits);
    expect(long.details).toMatchObject({ field: "timeout_ms", limit: 600_000 });
    // At the limits, accepted.
    const atLimits = parsePipelineDocument({
      ...doc("p", [{ ...home("a", "servo-1"), timeout_ms: 60_000, retry: { attempts: 3 } }]),
      timeout_ms: 600_000,
    });
    expect(compilePipeline(atLimits.pipeline, catalog, limits).timeoutMs).toBe(600_000);
  });

  it("give every run a timeout: its own, else DEFAULT_RUN_TIMEOUT_MS", () => {
    const { pipeline } = parsePipelineDocument(doc("p", [home("a", "servo-1")]));
    expect(
      compilePipeline(pipeline, catalog, { ...defaultLimits, defaultRunTimeoutMs: 123_000 }).timeoutMs,
    ).toBe(123_000);
    expect(compilePipeline(pipeline, catalog, defaultLimits).timeoutMs).toBe(86_400_000);
  });
});

describe("pipeline validation accepts", () => {
  it("a diamond with data mapping, ordered and linked", () => {
    const nodes = [
      home("a", "servo-1"),
      move("b", "servo-1", 10),
      { id: "c", device_id: "servo-2", function_id: "move" },
      home("d", "servo-2"),
    ];
    const edges = [
      { ...edge("a", "b") },
      { ...edge("a", "c"), source_output: "position", target_input: "position" },
      edge("b", "d"),
      edge("c", "d"),
    ];
    const { pipeline } = parsePipelineDocument(doc("p", nodes, edges));
    const plan = compilePipeline(pipeline, catalog, defaultLimits);
    const order = plan.nodes.map((node) => node.id);
    expect(order[0]).toBe("a");
    expect(order[3]).toBe("d");
    const d = plan.nodes.find((node) => node.id === "d");
    expect(d?.predecessors.sort()).toEqual(["b", "c"]);
    const c = plan.nodes.find((node) => node.id === "c");
    expect(c?.inputs).toEqual([{ input: "position", sourceNode: "a", sourceOutput: "position" }]);
  });

  it("an editor's own data in ui (pipeline and nodes), kept in the document as sent", () => {
    const sent = {
      ...doc("p", [{ ...home("a", "servo-1"), ui: { x: 1, y: 2, colour: "#abc" } }]),
      ui: { viewport: { zoom: 1 } },
    };
    const { document } = parsePipelineDocument(sent);
    expect(document).toEqual(sent);
  });

  it("a document saved before unknown fields were refused, without them: what is stored is what runs", () => {
    const old = {
      ...doc("p", [{ ...home("a", "servo-1"), position: { x: 1 } }], [colouredEdge]),
      viewport: { zoom: 1 },
    };
    const { document } = parsePipelineDocument(old, true);
    expect(document).toEqual(doc("p", [home("a", "servo-1")], [{ source: "a", target: "a" }]));
    expect(old.viewport).toEqual({ zoom: 1 }); // the stored copy is not changed in place
  });
});
