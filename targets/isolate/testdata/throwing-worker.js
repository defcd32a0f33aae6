// A Deno tenant whose module throws while it loads (tests only).
throw new Error("throwing worker: fails at module load on purpose");
