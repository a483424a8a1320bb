// Process set-up for programs built on duel (the duel CLI and the test suite call it first).
#pragma once

namespace duel {

// OpenMP's wait policy. libgomp's default lets an idle thread spin for a while before it sleeps;
// on a machine whose cores are busy with other work, a spinning thread takes a core from the
// thread it is waiting for, and a 2-thread step measured several times slower than a 1-thread
// step (docs/benchmarks.md). With OMP_WAIT_POLICY=passive waiting threads sleep at once, which
// costs little on an idle machine. libgomp reads the variable once, when it loads, so when it is
// unset this re-executes the program (/proc/self/exe, the same arguments) with it set; call it
// first thing in main, before anything has run. A value the user set, or GOMP_SPINCOUNT, is kept;
// without /proc the program carries on with libgomp's default.
void prefer_passive_openmp_wait(char** argv);

}  // namespace duel
