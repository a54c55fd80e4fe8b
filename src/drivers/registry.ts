import { grbl } from "./grbl/definition.js";
import { marlin } from "./marlin/definition.js";
import { mockServo } from "./mock-servo/definition.js";
import { scpi } from "./scpi/definition.js";
import type { DriverDefinition } from "./types.js";

/** Every driver Rigflow ships, by the name a devices file uses. */
export const drivers: ReadonlyMap<string, DriverDefinition> = new Map(
  [mockServo, grbl, marlin, scpi].map((definition) => [definition.name, definition]),
);
