/**
 * Aligned plain-text tables for terminal output.
 *
 * @module
 */

/** Column alignment: `"left"` (default) or `"right"` (numbers). */
export type Align = "left" | "right";

/**
 * Render a table: a header row, a rule, then the rows, columns padded to their widest cell
 * and separated by two spaces. Trailing spaces are trimmed.
 *
 * @param headers Column titles.
 * @param rows Cells, one array per row (missing cells are blank).
 * @param align Alignment per column.
 * @returns The lines of the table.
 *
 * @example
 * ```ts
 * import { renderTable } from "./table.ts";
 * console.log(renderTable(["NAME", "N"], [["a", "10"], ["bb", "2"]], ["left", "right"]).join("\n"));
 * // NAME   N
 * // ----  --
 * // a     10
 * // bb     2
 * ```
 */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    widths.map((w, i) => {
      const c = cells[i] ?? "";
      return align[i] === "right" ? c.padStart(w) : c.padEnd(w);
    }).join("  ").trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}
