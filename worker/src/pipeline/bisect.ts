/**
 * The boundary of a monotone test over the integers lo…hi, by bisection: the lowest value that passes, or
 * the highest. Over qualities 1–100 that is at most 7 tests. Every answer was actually tested, so a test that
 * is not quite monotone (encoders are not, at the margin) can cost optimality, never correctness.
 */
export const bisect = async (
  lo: number,
  hi: number,
  passes: (value: number) => Promise<boolean>,
  want: "lowest" | "highest",
): Promise<number | undefined> => {
  let found: number | undefined;
  while (lo <= hi) {
    const mid = want === "lowest" ? Math.floor((lo + hi) / 2) : Math.ceil((lo + hi) / 2);
    const ok = await passes(mid);
    if (ok) found = mid;
    if (ok === (want === "lowest")) hi = mid - 1;
    else lo = mid + 1;
  }
  return found;
};
