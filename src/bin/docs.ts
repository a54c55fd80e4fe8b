import { writeTables } from "../docs/tables.js";

// `npm run docs`: the tables of docs/ that are made from the code (src/docs/tables.ts).
writeTables(new URL("../../", import.meta.url));
