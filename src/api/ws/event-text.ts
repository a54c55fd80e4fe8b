import type { RunEvent } from "../../engine/index.js";

/**
 * One live event goes to every connected client (and to each subscription of a run): it is
 * serialized once, not once per client. Keyed weakly by the event object, so the text goes when
 * the event does.
 */
const encoded = new WeakMap<RunEvent, string>();

export function eventText(event: RunEvent): string {
  let text = encoded.get(event);
  if (text === undefined) {
    text = JSON.stringify(event);
    encoded.set(event, text);
  }
  return text;
}
