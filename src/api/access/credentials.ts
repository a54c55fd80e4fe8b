import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import type { Logger } from "pino";
import { z } from "zod";
import type { AccessSettings } from "./settings.js";

export type Role = "operator" | "viewer";

/** A token the server knows: `id` is the SHA-256 of the token, the only form ever stored. */
export interface Credential {
  id: string;
  name: string;
  role: Role;
}

export const sha256Hex = (text: string) => createHash("sha256").update(text).digest("hex");

const tokensFileSchema = z
  .object({
    tokens: z.array(
      z
        .object({
          name: z
            .string()
            .regex(/^[A-Za-z0-9_.@-]{1,64}$/, "letters, digits, '.', '_', '@' and '-', at most 64"),
          role: z.enum(["operator", "viewer"]),
          sha256: z
            .string()
            .regex(/^[0-9a-fA-F]{64}$/, "the hex SHA-256 of the token (64 hex digits)")
            .transform((hex) => hex.toLowerCase()),
        })
        .strict(),
    ),
  })
  .strict();

/** Reads API_TOKENS_FILE; throws with the file and the field at fault. */
export function readTokensFile(path: string): Credential[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`API_TOKENS_FILE ${path}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = tokensFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`API_TOKENS_FILE ${path}: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return parsed.data.tokens.map((entry) => ({ id: entry.sha256, name: entry.name, role: entry.role }));
}

/** How often, at most, the tokens file is looked at for changes. */
const fileCheckMs = 1000;

/**
 * The tokens the server accepts, from API_TOKEN (an operator named "api-token"), API_READ_TOKEN (a
 * viewer named "read-token") and API_TOKENS_FILE. The file is read again when it changes, so
 * removing a line there revokes that token, and every session opened with it, within a second. A
 * file that stops parsing counts as empty (fail closed) until it parses again.
 *
 * Tokens are looked up by their SHA-256: a lookup's timing tells nothing about any token, since
 * nobody can choose an input with a wanted hash.
 */
export class CredentialBook {
  private fromEnv = new Map<string, Credential>();
  private fromFile = new Map<string, Credential>();
  private fileStamp = "";
  private checkedAt = 0;

  constructor(
    private readonly settings: Pick<AccessSettings, "apiToken" | "readToken" | "tokensFile">,
    private readonly log: Logger,
  ) {
    const { apiToken, readToken, tokensFile } = settings;
    if (readToken)
      this.fromEnv.set(sha256Hex(readToken), {
        id: sha256Hex(readToken),
        name: "read-token",
        role: "viewer",
      });
    if (apiToken)
      this.fromEnv.set(sha256Hex(apiToken), { id: sha256Hex(apiToken), name: "api-token", role: "operator" });
    if (tokensFile) {
      // At start a bad file is fatal: better no server than one that locks everybody out.
      this.fromFile = new Map(readTokensFile(tokensFile).map((entry) => [entry.id, entry]));
      this.fileStamp = stampOf(tokensFile);
      this.checkedAt = Date.now();
    }
  }

  /** The credential a token opens, or null. */
  find(token: string): Credential | null {
    return this.byId(sha256Hex(token));
  }

  /** The credential with this id (a session's), as configured now, or null once it is removed. */
  byId(id: string): Credential | null {
    this.refreshFile();
    return this.fromFile.get(id) ?? this.fromEnv.get(id) ?? null;
  }

  private refreshFile(): void {
    const path = this.settings.tokensFile;
    if (!path || Date.now() - this.checkedAt < fileCheckMs) return;
    this.checkedAt = Date.now();
    const stamp = stampOf(path);
    if (stamp === this.fileStamp) return;
    this.fileStamp = stamp;
    try {
      this.fromFile = new Map(readTokensFile(path).map((entry) => [entry.id, entry]));
      this.log.info({ path, tokens: this.fromFile.size }, "API_TOKENS_FILE read again");
    } catch (error) {
      this.fromFile = new Map();
      this.log.error(
        { err: error },
        "API_TOKENS_FILE is unreadable: none of its tokens is accepted until it is fixed",
      );
    }
  }
}

/** What changes when a file is edited or replaced (an editor's rename, a ConfigMap's symlink swap). */
function stampOf(path: string): string {
  try {
    const stat = statSync(path);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return "missing";
  }
}
