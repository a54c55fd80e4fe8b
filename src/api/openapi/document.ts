import { z } from "zod";
import { errorCodes } from "../../engine/index.js";
import { sessionCookie } from "../access/index.js";
import { statusOfKind } from "../http-error.js";
import { operations, type Operation } from "./operations.js";
import { errorResponse } from "./responses.js";

/** Zod's JSON Schema of what a client sends (`input`) or gets (`output`), as OpenAPI 3.1 takes it. */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const json: Record<string, unknown> = {
    ...z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" }),
  };
  // The document names its dialect once (OpenAPI 3.1's default), not in every schema.
  delete json.$schema;
  return json;
}

/** The path's `{name}` parameters. */
function pathParameters(path: string) {
  return [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
}

/** A query schema's fields as query parameters. */
function queryParameters(schema: z.ZodType | undefined) {
  if (!schema) return [];
  const object = jsonSchema(schema, "input") as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: "query",
    required: object.required?.includes(name) ?? false,
    schema: property,
  }));
}

function responsesOf(operation: Operation) {
  const responses: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(operation.responses)) {
    responses[status] =
      typeof answer === "string"
        ? { description: answer }
        : { description: "OK", content: { "application/json": { schema: jsonSchema(answer, "output") } } };
  }
  responses.default = {
    description: "An error: one shape for all, its code among the Error schema's (docs/errors.md)",
    content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
  };
  return responses;
}

/**
 * The OpenAPI 3.1 document of the API (GET /openapi.json): every route (operations.ts), with the
 * schemas its requests are validated with and its answers are checked against in the tests, every
 * error code, and the ways to present a credential.
 */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of operations) {
    const parameters = [...pathParameters(operation.path), ...queryParameters(operation.query)];
    if (operation.idempotent) {
      parameters.push({
        name: "Idempotency-Key",
        in: "header",
        required: false,
        schema: { type: "string", maxLength: 255 },
      });
    }
    paths[operation.path] = {
      ...paths[operation.path],
      [operation.method]: {
        summary: operation.summary,
        tags: [operation.tag],
        operationId: `${operation.method}${operation.path.replace(/[^A-Za-z0-9]+(\w)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
        ...(parameters.length > 0 && { parameters }),
        ...(operation.body && {
          requestBody: {
            required: false,
            content: { "application/json": { schema: jsonSchema(operation.body, "input") } },
          },
        }),
        responses: responsesOf(operation),
        ...(operation.open ? { security: [] } : {}),
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Rigflow",
      version: "1",
      description:
        "A durable workflow engine for hardware pipelines. Live events (WebSocket /ws, and SSE) and " +
        "the pipeline document are described in docs/contract.md and docs/events.md.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }, { session: [] }],
    tags: ["runs", "pipelines", "devices", "queues", "access", "health", "dashboard"].map((name) => ({
      name,
    })),
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "API_TOKEN, or a token of TOKENS_FILE (operator or viewer)",
        },
        session: { type: "apiKey", in: "cookie", name: sessionCookie, description: "after POST /login" },
      },
      schemas: {
        Error: {
          ...jsonSchema(errorResponse, "output"),
          description:
            "Every error's shape. Codes and their HTTP statuses: x-error-codes, and docs/errors.md",
        },
      },
      "x-error-codes": Object.fromEntries(
        Object.entries(errorCodes).map(([code, { kind, meaning }]) => [
          code,
          { status: kind === "node" ? null : statusOfKind[kind], meaning },
        ]),
      ),
    },
  };
}
