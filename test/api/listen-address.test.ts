import { afterEach, describe, expect, it } from "vitest";
import { readConfig } from "../../src/config.js";
import { startApiProcess, type ApiProcess } from "../support/api-process.js";
import { newPrefix, redisUrl } from "../support/context.js";

const started: ApiProcess[] = [];
afterEach(async () => {
  for (const api of started.splice(0)) await api.stop();
});

// Safe by default: without a token nothing beyond this machine reaches the API.
describe("the API's listen address", () => {
  it("is loopback without a token and every interface with one, unless HOST says otherwise", () => {
    expect(readConfig({}).host).toBe("127.0.0.1");
    expect(readConfig({ API_TOKEN: "" }).host).toBe("127.0.0.1");
    expect(readConfig({ API_TOKEN: "s3cret" }).host).toBe("0.0.0.0");
    expect(readConfig({ HOST: "0.0.0.0" }).host).toBe("0.0.0.0");
    expect(readConfig({ HOST: "127.0.0.1", API_TOKEN: "s3cret" }).host).toBe("127.0.0.1");
  });

  it("warns at start when it listens beyond loopback without a token, and not otherwise", async () => {
    const env = { REDIS_URL: redisUrl(), RIGFLOW_PREFIX: newPrefix() };
    const open = await startApiProcess({ ...env, HOST: "0.0.0.0" }, started);
    expect(open.log()).toMatch(/listening on 0\.0\.0\.0 without API_TOKEN/);
    const loopback = await startApiProcess(env, started);
    expect(loopback.log()).toContain('"host":"127.0.0.1"');
    expect(loopback.log()).not.toMatch(/without API_TOKEN/);
    const withToken = await startApiProcess({ ...env, HOST: "0.0.0.0", API_TOKEN: "s3cret" }, started);
    expect(withToken.log()).not.toMatch(/without API_TOKEN/);
  });
});
