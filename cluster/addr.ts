/**
 * Addresses: `host:port` (IPv6 as `[::1]:7000`), parsing, formatting, and seed resolution
 * (a seed name that resolves to several addresses counts as several seeds).
 *
 * @module
 */

import type { HostPort } from "./transport/types.ts";

/**
 * Parse `host:port`.
 *
 * @throws {TypeError} when the text is not `host:port` with a port in 0..65535.
 *
 * @example
 * ```ts
 * import { parseAddr } from "./addr.ts";
 * console.log(parseAddr("127.0.0.1:7000")); // { hostname: "127.0.0.1", port: 7000 }
 * console.log(parseAddr("[::1]:0")); // { hostname: "::1", port: 0 }
 * ```
 */
export function parseAddr(text: string): HostPort {
  const s = String(text).trim();
  let host: string;
  let port: string;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0 || s[end + 1] !== ":") throw badAddr(text);
    host = s.slice(1, end);
    port = s.slice(end + 2);
  } else {
    const i = s.lastIndexOf(":");
    if (i <= 0 || s.indexOf(":") !== i) throw badAddr(text);
    host = s.slice(0, i);
    port = s.slice(i + 1);
  }
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535 || host.length === 0) throw badAddr(text);
  return { hostname: host, port: Number(port) };
}

function badAddr(text: string): TypeError {
  return new TypeError(
    `Invalid address ${
      JSON.stringify(text)
    }: expected host:port (e.g. "127.0.0.1:7000" or "[::1]:7000")`,
  );
}

/**
 * Format a host and port as `host:port`.
 *
 * @example
 * ```ts
 * import { formatAddr } from "./addr.ts";
 * console.log(formatAddr({ hostname: "::1", port: 7 })); // "[::1]:7"
 * ```
 */
export function formatAddr(a: HostPort): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Resolve seed addresses: IP literals stay as they are; a host name becomes every address it
 * resolves to. Names that do not resolve are kept (the join retries them).
 *
 * @example
 * ```ts
 * import { resolveSeeds } from "./addr.ts";
 * console.log(await resolveSeeds(["127.0.0.1:7000"])); // ["127.0.0.1:7000"]
 * ```
 */
export async function resolveSeeds(seeds: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const seed of seeds) {
    const hp = parseAddr(seed);
    if (IPV4.test(hp.hostname) || hp.hostname.includes(":")) {
      out.push(formatAddr(hp));
      continue;
    }
    try {
      const dns = await import("node:dns/promises");
      const all = await dns.lookup(hp.hostname, { all: true });
      for (const a of all) out.push(formatAddr({ hostname: a.address, port: hp.port }));
    } catch {
      out.push(formatAddr(hp));
    }
  }
  return [...new Set(out)];
}

/**
 * A routable IPv4 address of this machine (the first non-internal one), for nodes bound to
 * `0.0.0.0`; `127.0.0.1` when there is none.
 *
 * @example
 * ```ts
 * import { guessLocalIp } from "./addr.ts";
 * console.log(typeof guessLocalIp()); // "string"
 * ```
 */
export function guessLocalIp(): string {
  try {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    // Deno first: reading `process` there loads Node compatibility, which a Deno node
    // otherwise never needs
    if (typeof g.Deno?.networkInterfaces === "function") {
      for (const i of g.Deno.networkInterfaces() as { family: string; address: string }[]) {
        if (i.family === "IPv4" && !i.address.startsWith("127.")) return i.address;
      }
      return "127.0.0.1";
    }
    const os = g.process?.getBuiltinModule?.("node:os");
    const ifaces = os?.networkInterfaces?.() ?? {};
    for (
      const list of Object.values(ifaces) as {
        family: string | number;
        internal: boolean;
        address: string;
      }[][]
    ) {
      for (const i of list ?? []) {
        if ((i.family === "IPv4" || i.family === 4) && !i.internal) return i.address;
      }
    }
  } catch { /* fall through */ }
  return "127.0.0.1";
}
