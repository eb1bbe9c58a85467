/** Small text-formatting helpers of the demo. */

/** Rounded milliseconds, right-aligned: "  1234 ms". */
export function ms(x: number, width = 0): string {
  return `${Math.round(x)} ms`.padStart(width);
}

/** Gas as a whole number with thousands separators: "395,237" (a median of two may end in .5). */
export function gas(x: number | bigint): string {
  return (typeof x === "bigint" ? x : BigInt(Math.round(x))).toLocaleString("en-US");
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A plain-text table with a header rule; columns are left-aligned unless `right[i]`. */
export function table(head: string[], rows: string[][], right: boolean[] = []): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Runs `fn`, returning its result and how long it took. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}
