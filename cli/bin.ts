/**
 * The `pulsing` executable of the npm package (its package.json `bin`; `scripts/build_npm.ts`
 * adds the `#!/usr/bin/env node` line): runs `main` of `cli/main.ts` with the process's
 * arguments and exits with its code. On Deno, `cli/main.ts` is the entry; this file exists
 * because Node 22 has no `import.meta.main`.
 *
 * ```sh
 * npm install @pulsing/pulsing
 * npx pulsing --help
 * ```
 *
 * @module
 */

import { main } from "./main.ts";
import { cliArgs, exit } from "./runtime.ts";

await exit(await main(cliArgs()));
