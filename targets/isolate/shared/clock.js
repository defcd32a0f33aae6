// Shared by the workerd and Deno hosts.

// The measured resolution of performance.now() here: the smallest step seen
// between two readings, over at most 50 steps or 200 ms.
export function clockResolutionNs() {
  let smallest = Infinity;
  const until = performance.now() + 200;
  for (let steps = 0; steps < 50 && performance.now() < until; steps++) {
    const a = performance.now();
    let b = performance.now();
    while (b === a) b = performance.now();
    smallest = Math.min(smallest, b - a);
  }
  return Math.round(smallest * 1e6);
}
