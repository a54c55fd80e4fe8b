import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { swaggerUI } from "@hono/swagger-ui";
import { Hono } from "hono";
import { errorBody } from "../http-error.js";
import { openApiDocument } from "../openapi/document.js";

/** Swagger UI's two files, served from the package rather than a CDN: the page works offline. */
const swaggerAssets = new Map(
  [
    ["swagger-ui.css", "text/css; charset=utf-8"],
    ["swagger-ui-bundle.js", "text/javascript; charset=utf-8"],
  ].map(([name, type]) => {
    const dir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
    return [name as string, { type: type as string, body: readFileSync(join(dir, name as string)) }];
  }),
);

/** GET /openapi.json (the API's OpenAPI 3.1 document) and GET /docs (Swagger UI reading it). */
export function openApiRoutes() {
  const document = openApiDocument();
  return new Hono()
    .get("/openapi.json", (c) => c.json(document))
    .get("/docs", swaggerUI({ url: "/openapi.json", baseUrl: "/docs/assets", title: "Rigflow API" }))
    .get("/docs/assets/swagger-ui-dist/:file", (c) => {
      const asset = swaggerAssets.get(c.req.param("file"));
      if (!asset) return c.json(errorBody("NOT_FOUND", `no file '${c.req.param("file")}'`), 404);
      return c.body(new Uint8Array(asset.body), 200, {
        "content-type": asset.type,
        "cache-control": "public, max-age=3600",
      });
    });
}
