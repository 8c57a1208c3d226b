/**
 * The `Deno.*` members `node_test_shim.mjs` provides to the Deno test files it runs on Node;
 * `test_node.ts` refuses to bundle a test that touches any other. One list for both.
 *
 * @module
 */
export const SHIMMED = [
  "test",
  "env",
  "makeTempDir",
  "remove",
  "removeSync",
  "stat",
  "errors",
  "listen",
  "NetAddr",
];
