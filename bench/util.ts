/**
 * Small helpers shared by the benchmark sections (statistics, gas arithmetic, table
 * printing). No Hardhat or snarkjs imports here, so any section can use them.
 */

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median of an empty list");
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function min(xs: readonly number[]): number {
  return Math.min(...xs);
}

export function max(xs: readonly number[]): number {
  return Math.max(...xs);
}

/** Rounds to `digits` decimals (for milliseconds in the JSON). */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Number of 1 bits: the number of Poseidon hashes an insert at this leaf index does. */
export function popcount(n: number): number {
  let c = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) c += v % 2;
  return c;
}

/** Calldata gas of a transaction's data: 16 per non-zero byte, 4 per zero byte. */
export function calldataGas(data: string): number {
  const hex = data.startsWith("0x") ? data.slice(2) : data;
  let gas = 0;
  for (let i = 0; i < hex.length; i += 2) gas += hex.slice(i, i + 2) === "00" ? 4 : 16;
  return gas;
}

/** Least-squares fit y = a + b x. */
export function linearFit(xs: readonly number[], ys: readonly number[]): { intercept: number; slope: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { intercept: my - slope * mx, slope };
}

/** 1234567 -> "1,234,567". */
export function fmtInt(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}

/**
 * Renders rows as a text table with a header rule. By default the first column is
 * left-aligned (labels) and the others right-aligned (numbers); `align` overrides.
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly ("l" | "r")[],
): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? "").length)));
  const alignOf = (c: number) => align?.[c] ?? (c === 0 ? "l" : "r");
  const line = (r: readonly string[]) =>
    r
      .map((cell, c) => (alignOf(c) === "l" ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
