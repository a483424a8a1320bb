// Process set-up for programs built on duel (the duel CLI and the test suite call it first).
#pragma once

namespace duel {

// OpenMP's wait policy. libgomp's default lets an idle thread spin for a while (300000 rounds)
// before it sleeps; on a machine whose cores are busy with other work, a spinning thread takes a
// core from the thread it is waiting for, and a 2-thread step measured slower than a 1-thread
// step. Sleeping at once (OMP_WAIT_POLICY=passive) fixes that but costs 5-10% on an idle machine,
// where a training step's many short parallel regions follow each other within microseconds and
// each wake-up goes through the kernel. A short spin (GOMP_SPINCOUNT=1000, about a microsecond)
// keeps both: as fast as the full spin when idle, and the best of the three when busy
// (docs/benchmarks.md, bench/busy_machine.py). libgomp reads the variables once, when it loads,
// so when neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set this re-executes the program
// (/proc/self/exe, the same arguments) with GOMP_SPINCOUNT=1000; call it first thing in main,
// before anything has run. A value the user set is kept; without /proc the program carries on
// with libgomp's default.
void prefer_short_openmp_wait(char** argv);

}  // namespace duel
