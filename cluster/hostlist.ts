/**
 * Slurm host lists: `node[01-03,07],gpu5` and friends, expanded to one name per host in the
 * order Slurm gives them (the first one is the job's first node).
 *
 * @module
 */

/** Refuse to expand lists larger than this (a typo like `n[1-99999999]` must not eat memory). */
const MAX_HOSTS = 1_000_000;

/**
 * Expand a Slurm host list (`SLURM_JOB_NODELIST` syntax).
 *
 * - Top-level commas separate entries; commas inside `[...]` separate ranges.
 * - A range `lo-hi` keeps the zero padding of `lo` (`[08-10]` gives `08 09 10`).
 * - Several bracket groups in one entry expand as a product, left to right
 *   (`r[1-2]n[1-2]` gives `r1n1 r1n2 r2n1 r2n2`).
 * - Duplicates are kept (Slurm never produces them; a hand-written list may mean them).
 *
 * @param list The compressed list, e.g. `"node[01-03,07],gpu5"`.
 * @returns The host names, in order.
 * @throws {TypeError} on unbalanced brackets, empty entries or ranges, a descending range, or
 * more than a million hosts; the message quotes the list.
 *
 * @example
 * ```ts
 * import { expandHostlist } from "./hostlist.ts";
 * console.log(expandHostlist("node[01-03,07],gpu5"));
 * // ["node01", "node02", "node03", "node07", "gpu5"]
 * ```
 */
export function expandHostlist(list: string): string[] {
  const text = list.trim();
  if (text === "") return [];
  const out: string[] = [];
  for (const entry of splitTop(text, list)) {
    for (const host of expandEntry(entry, list)) {
      out.push(host);
      if (out.length > MAX_HOSTS) throw bad(list, `more than ${MAX_HOSTS} hosts`);
    }
  }
  return out;
}

function splitTop(text: string, list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "[") {
      if (depth > 0) throw bad(list, "nested '['");
      depth++;
    } else if (c === "]") {
      if (depth === 0) throw bad(list, "']' without '['");
      depth--;
    } else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (depth !== 0) throw bad(list, "'[' without ']'");
  parts.push(text.slice(start).trim());
  for (const p of parts) if (p === "") throw bad(list, "empty entry");
  return parts;
}

function expandEntry(entry: string, list: string): string[] {
  let hosts = [""];
  let i = 0;
  while (i < entry.length) {
    const open = entry.indexOf("[", i);
    const literal = open < 0 ? entry.slice(i) : entry.slice(i, open);
    if (/\s/.test(literal)) throw bad(list, `whitespace in host name ${JSON.stringify(entry)}`);
    hosts = hosts.map((h) => h + literal);
    if (open < 0) break;
    const close = entry.indexOf("]", open);
    const values = expandRanges(entry.slice(open + 1, close), list);
    const next: string[] = [];
    for (const h of hosts) {
      for (const v of values) {
        next.push(h + v);
        if (next.length > MAX_HOSTS) throw bad(list, `more than ${MAX_HOSTS} hosts`);
      }
    }
    hosts = next;
    i = close + 1;
  }
  return hosts;
}

function expandRanges(body: string, list: string): string[] {
  const out: string[] = [];
  for (const raw of body.split(",")) {
    const r = raw.trim();
    const m = /^(\d+)(?:-(\d+))?$/.exec(r);
    if (!m) throw bad(list, `bad range ${JSON.stringify(r)} (expected digits or lo-hi)`);
    if (m[2] === undefined) {
      out.push(m[1]);
      continue;
    }
    const lo = Number(m[1]);
    const hi = Number(m[2]);
    if (hi < lo) throw bad(list, `descending range ${JSON.stringify(r)}`);
    if (hi - lo + out.length > MAX_HOSTS) throw bad(list, `more than ${MAX_HOSTS} hosts`);
    const width = m[1].length;
    for (let n = lo; n <= hi; n++) out.push(String(n).padStart(width, "0"));
  }
  return out;
}

function bad(list: string, why: string): TypeError {
  return new TypeError(`Invalid Slurm host list ${JSON.stringify(list)}: ${why}`);
}
