export { createTestDatabase, TEST_APP_PASSWORD } from "./database.ts";
export type { TestDatabase } from "./database.ts";
export { serverUrl } from "./env.ts";
