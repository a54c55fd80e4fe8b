// Approval nodes (type "approval") run on no device: a person approves or rejects them. Wherever a
// node's device is shown, they read "approval", never "approval on null".

/**
 * Whether a node is an approval: a run's node or graph node (`type`), a pipeline document's node
 * (`type`), or an event about it (`node_type`); a node with no device whose function is "approval"
 * is one too, for any view that leaves the type out.
 */
export function isApproval(node) {
  return (
    node.type === "approval" ||
    node.node_type === "approval" ||
    (!node.device_id && node.function_id === "approval")
  );
}

/** What a node does, and where: "move on servo-1", or "approval". */
export function nodeWork(node) {
  return isApproval(node) ? "approval" : `${node.function_id} on ${node.device_id}`;
}
