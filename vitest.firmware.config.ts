import { defineConfig } from "vitest/config";

// `npm run test:firmware`: the drivers against real firmware (GRBL_FIRMWARE), not part of `npm test`.
export default defineConfig({
  test: {
    include: ["test/firmware/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
