import { z } from "zod";
import type { DriverDefinition, FunctionSpec } from "../types.js";
import { type Quantity, ScpiDriver, scpiOptions } from "./scpi-driver.js";

const none = z.object({}).strict();
const errorCheck = "then the error queue is read (SYST:ERR?): an error there fails the function";

const functions: FunctionSpec[] = [
  {
    id: "identify",
    description: "Ask the instrument who it is (*IDN?).",
    params: none,
    outputs: {
      manufacturer: "the maker, as *IDN? names it",
      model: "the model",
      serial: "the serial number (0 if the instrument does not tell)",
      firmware: "the firmware version",
    },
    idempotent: true,
    timeoutMs: 10_000,
    retry: { attempts: 3, backoffMs: 200 },
  },
  {
    id: "reset",
    description: `Reset the instrument to its defaults (*RST) and clear its status (*CLS); ${errorCheck}.`,
    params: none,
    outputs: { reset: "true" },
    idempotent: true,
    timeoutMs: 15_000,
    retry: { attempts: 2, backoffMs: 500 },
  },
  {
    id: "write",
    description: `Send one SCPI command that has no answer (CONF:VOLT:DC 10, OUTP ON...); ${errorCheck}.`,
    params: z
      .object({
        command: z
          .string()
          .min(1)
          .max(256)
          .regex(
            /^[^\s?]*[^\s?](?:[ \t][^\r\n]*)?$/,
            "one line whose header does not end with '?' (a query: use the query function)",
          )
          .describe("an SCPI command without a newline, e.g. CONF:VOLT:DC 10"),
      })
      .strict(),
    outputs: { written: "true once the instrument processed the command without error" },
    idempotent: false,
    timeoutMs: 10_000,
    retry: { attempts: 1, backoffMs: 500 },
  },
  {
    id: "query",
    description: `Send one SCPI query and return its one-line answer; ${errorCheck}.`,
    params: z
      .object({
        command: z
          .string()
          .min(1)
          .max(256)
          .regex(
            /^[^\s?]*\?(?:[ \t][^\r\n]*)?$/,
            "one line whose header ends with '?' (parameters may follow)",
          )
          .describe("an SCPI query without a newline, e.g. READ?, SYST:VERS? or MEAS:VOLT:DC? 10,0.001"),
      })
      .strict(),
    outputs: { response: "the instrument's answer, one line without its line end" },
    idempotent: true,
    timeoutMs: 15_000,
    retry: { attempts: 2, backoffMs: 200 },
  },
  {
    id: "measure",
    description: `Take one measurement (MEAS:VOLT:DC?, MEAS:VOLT:AC?, MEAS:CURR:DC?, MEAS:RES?); ${errorCheck}.`,
    params: z
      .object({
        quantity: z
          .enum(["voltage_dc", "voltage_ac", "current_dc", "resistance"] satisfies Quantity[])
          .default("voltage_dc")
          .describe("what to measure, with autorange and default resolution"),
      })
      .strict(),
    outputs: {
      value: "the reading, in `unit`",
      unit: "V, A or Ohm",
      quantity: "what was measured (voltage_dc, voltage_ac, current_dc, resistance)",
    },
    idempotent: true,
    timeoutMs: 30_000,
    retry: { attempts: 2, backoffMs: 500 },
  },
];

export const scpi: DriverDefinition = {
  name: "scpi",
  description:
    "SCPI instruments (bench multimeters and the like) over RS-232: *IDN?, commands and queries, " +
    "measurements, with the error queue (SYST:ERR?) checked after each.",
  functions,
  create: (device) => new ScpiDriver(device.id, device, scpiOptions.parse(device.options)),
};
