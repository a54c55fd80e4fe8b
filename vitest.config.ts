import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Real firmware: `npm run test:firmware` (vitest.firmware.config.ts).
    exclude: ["test/firmware/**", "node_modules/**"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Two files at once (the default is one fewer than the cores: one, on the 2-core machines CI
    // runs on): the suite's wall time is mostly waiting on leases, locks and devices, not CPU.
    // Two full runs this way were green, in 5.3 and 6.2 minutes, against 10.3 with one.
    maxWorkers: 2,
  },
});
