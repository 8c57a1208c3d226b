/**
 * Issue 3's remote benchmark: our runtime against the raw length-prefixed Deno TCP echo, in the
 * same run, separate client and server processes on 127.0.0.1 — ask p50/p99, asks/s with 64 in
 * flight, MB/s with 1 MiB and 16 MiB `Uint8Array` payloads, stream items/s and time to first
 * item, join time — with the ratios and whether each target is met.
 *
 * A thin entry over `compare.ts` with `--targets raw,pulsing` as default (any `compare.ts`
 * flag works and overrides it, e.g. `--targets raw,moleculer,pulsing`, `--pin`, `--quick`,
 * `--reps 5`). Results go to `.bench-out/remote-*.json` and `.md`.
 *
 * ```sh
 * deno run -A bench/remote_bench.ts            # 3 repetitions
 * deno run -A bench/remote_bench.ts --pin      # server on CPU 0, client on CPU 1
 * deno run -A bench/remote_bench.ts --quick
 * ```
 *
 * @module
 */

import { COMPARE_DEFAULTS } from "./_workload.ts";

COMPARE_DEFAULTS.flags.targets = "raw,pulsing";
COMPARE_DEFAULTS.resultName = "remote";
await import("./compare.ts");
