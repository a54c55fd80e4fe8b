#!/usr/bin/env node
// The `rigflow` command. Rigflow runs its TypeScript through tsx with no build step, so this entry
// registers tsx's loader (with the project's own tsconfig, whatever the working directory) and then
// loads the CLI from source.
import process from "node:process";
import { fileURLToPath, URL } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
const { main } = await import("../src/cli/main.ts");
const code = await main(process.argv.slice(2), process.env);
// Exit once what was written has been flushed, whatever handles (keep-alive sockets) remain open.
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
