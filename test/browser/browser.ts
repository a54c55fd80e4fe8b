// Chromium for the browser tests: Debian's package, never a downloaded browser.
import { env } from "node:process";

export const chromiumPath = env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Headless, and quiet on the network: without the background-networking flags Chromium keeps
 * trying Google's hosts, which this machine (and CI) cannot reach. --no-sandbox: tests run as root.
 */
export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface StatusChange {
  nodeId: string;
  status: string;
  at: number;
}

/**
 * Runs in the page before its scripts (page.addInitScript): records every value each DAG node's
 * data-status takes, as drawn and as changed, in window.statusChanges. (A string: the tests are
 * type-checked without the DOM's types.)
 */
export const recordStatusChanges = `
  const changes = [];
  window.statusChanges = changes;
  const note = (element) => {
    const nodeId = element.getAttribute("data-node-id");
    const status = element.getAttribute("data-status");
    if (nodeId && status && element.classList.contains("dag-node")) {
      changes.push({ nodeId, status, at: performance.now() });
    }
  };
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "attributes" && record.target instanceof Element) note(record.target);
      for (const added of record.addedNodes) {
        if (added instanceof Element) added.querySelectorAll(".dag-node").forEach(note);
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
`;
