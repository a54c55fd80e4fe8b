import { describe, expect, it } from "vitest";
import type { DeviceError } from "../../src/drivers/device-error.js";
import { Delivery, type DeliveryLink } from "../../src/drivers/marlin/marlin-delivery.js";
import { numbered } from "../../src/drivers/marlin/marlin-lines.js";
import { MarlinSerialInput, parseCommand } from "../support/serial/marlin-serial-input.js";

// Every single-bit garbling of the lines that matter, both ways, without a pty: what Marlin's
// serial input (as simulated) makes of a garbled line from the host, and what the driver's
// delivery makes of a garbled answer.

/** Every line with one bit of one byte flipped. */
function* garblings(line: string): Generator<string> {
  for (let i = 0; i < line.length; i += 1) {
    for (let bit = 0; bit < 8; bit += 1) {
      yield line.slice(0, i) + String.fromCharCode(line.charCodeAt(i) ^ (1 << bit)) + line.slice(i + 1);
    }
  }
}

describe("Marlin's serial input, given a garbled numbered line", () => {
  it("never runs it: refused, unknown, or waiting for the rest", () => {
    const line = `${numbered(5, "G0 X1.000")}\n`;
    for (const garbled of garblings(line)) {
      const answers: string[] = [];
      const input = new MarlinSerialInput((text) => answers.push(text));
      input.lastN = 4;
      input.receive(garbled);
      for (const { line: read, n } of input.read(4)) {
        // Taken unnumbered: what runs is whatever the parser finds, and it is never a G0.
        expect(n, JSON.stringify(garbled)).toBeUndefined();
        expect(parseCommand(read).code, JSON.stringify(garbled)).toBeUndefined();
      }
      expect(input.lastN).toBe(4);
    }
  });

  it("refuses a repeated line by its number, and takes the next", () => {
    const answers: string[] = [];
    const input = new MarlinSerialInput((text) => answers.push(text));
    input.lastN = 4;
    input.receive(`${numbered(5, "G0 X1.000")}\n${numbered(5, "G0 X1.000")}\n${numbered(6, "M400")}\n`);
    expect(input.read(4).map((c) => c.n)).toEqual([5]);
    // The refusal drained what had arrived after it, line 6 included: Marlin asks for it again.
    expect(answers.join("")).toBe(
      "Error:Line Number is not Last Line Number+1, Last Line: 5\nResend: 6\nok\n",
    );
  });
});

/** A delivery of line 5 (lines 1-4 sent before), with what it sends recorded. */
function delivery() {
  const history = new Map([1, 2, 3, 4, 5].map((n) => [n, n === 5 ? "G0 X1.000" : "G90"]));
  let last = 5;
  const sent: number[] = [];
  const link: DeliveryLink = {
    deviceId: "printer-1",
    text: (k) => history.get(k),
    get lastSent() {
      return last;
    },
    transmit: (k) => sent.push(k),
    prompt: () => {
      history.set((last += 1), "M105");
      sent.push(last);
      return last;
    },
  };
  return { delivery: new Delivery(link, 5, { maxTries: 12, maxUnanswered: 3 }), sent };
}

/** The lines a host reads from `text` (bytes as latin1), as the readline parser cuts them. */
function read(text: string): string[] {
  const lines = Buffer.from(text, "latin1").toString("utf8").split("\n");
  lines.pop(); // no newline yet: still waiting
  return lines;
}

/** Feeds Marlin's garbled answer, then one silence if the delivery is still waiting. */
function answer(text: string) {
  const { delivery: d, sent } = delivery();
  let done = false;
  for (const line of read(text)) done ||= d.receive(line);
  if (!done && sent.length === 0) done = d.silence();
  return { done, sent };
}

/** Each garbling of one line of `lines`, with the others intact. */
function* answers(lines: string[]): Generator<string> {
  for (const [i, line] of lines.entries()) {
    for (const garbled of garblings(`${line}\n`)) {
      yield [
        ...lines.slice(0, i).map((l) => `${l}\n`),
        garbled,
        ...lines.slice(i + 1).map((l) => `${l}\n`),
      ].join("");
    }
  }
}

describe("the driver, given a garbled answer", () => {
  it("sends the refused line again, whichever byte of the refusal was garbled", () => {
    for (const error of [
      "checksum mismatch",
      "Line Number is not Last Line Number+1",
      "No Checksum with line number",
    ]) {
      for (const text of answers([`Error:${error}, Last Line: 4`, "Resend: 5", "ok"])) {
        const { done, sent } = answer(text);
        expect({ done, sent }, JSON.stringify(text)).toEqual({ done: false, sent: [5] });
      }
    }
  });

  it("takes a garbled ok as done, or prompts, and never sends the line again", () => {
    for (const text of answers(["ok"])) {
      const { sent } = answer(text);
      expect(sent.length === 0 || (sent.length === 1 && sent[0] === 6), JSON.stringify(text)).toBe(true);
    }
  });

  it("sends a line whose N was garbled again, or prompts; never fails it as unknown", () => {
    for (const text of answers(['echo:Unknown command: "O5 G0 X1.000"', "ok"])) {
      const { done, sent } = answer(text);
      expect(done, JSON.stringify(text)).toBe(false);
      expect([[5], [6]], JSON.stringify(text)).toContainEqual(sent);
    }
  });

  it("fails on Marlin's own error, or waits; a garbled one is never a refusal", () => {
    for (const text of answers(["Error:Printer halted. kill() called!"])) {
      const { delivery: d, sent } = delivery();
      const error = (() => {
        try {
          for (const line of read(text)) d.receive(line);
        } catch (e) {
          return e;
        }
      })();
      if (error !== undefined) expect((error as DeviceError).details.fatal, JSON.stringify(text)).toBe(true);
      expect(sent).toEqual([]);
    }
  });
});
