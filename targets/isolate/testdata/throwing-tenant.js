// A tenant whose module throws while it loads (tests only).
throw new Error("throwing tenant: fails at module load on purpose");
