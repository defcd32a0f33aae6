// The coldbench workloads in JavaScript: the same naive algorithm as
// workloads/rust (every pair a <= b, palindrome test by digit reversal), so
// that differences between targets come from the runtime.
//
// Plain ES module with no imports: it runs unchanged in Node.js, workerd and
// Deno. The expected outputs live in workloads/spec/workloads.json.

/** Workload names, in the order reports list them. */
export const NAMES = ["hello", "palindrome-small", "palindrome-medium", "palindrome-large"];

const RANGES = {
  "palindrome-small": [10, 99],
  "palindrome-medium": [100, 999],
  "palindrome-large": [1000, 9999],
};

/** True when n reads the same with its decimal digits reversed. */
export function isPalindrome(n) {
  let rest = n;
  let reversed = 0;
  while (rest > 0) {
    reversed = reversed * 10 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return reversed === n;
}

function keep(best, p, a, b, better) {
  if (best !== null && best.value === p) {
    best.factors.push([a, b]);
    return best;
  }
  if (best === null || better(p, best.value)) {
    return { value: p, factors: [[a, b]] };
  }
  return best;
}

/** Smallest and largest palindromic products of two factors in [min, max]. */
export function palindromeProducts(min, max) {
  let smallest = null;
  let largest = null;
  for (let a = min; a <= max; a++) {
    for (let b = a; b <= max; b++) {
      const p = a * b;
      if (isPalindrome(p)) {
        smallest = keep(smallest, p, a, b, (x, y) => x < y);
        largest = keep(largest, p, a, b, (x, y) => x > y);
      }
    }
  }
  return { smallest, largest };
}

/**
 * Runs the named workload and returns its result (a value fit for
 * JSON.stringify), or undefined for an unknown name.
 */
export function run(name) {
  if (name === "hello") return "Hello, world!";
  // Own properties only: "constructor" or "__proto__" name no workload.
  if (typeof name !== "string" || !Object.hasOwn(RANGES, name)) return undefined;
  const range = RANGES[name];
  return palindromeProducts(range[0], range[1]);
}
