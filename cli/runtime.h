// Process set-up for the `duel` program before any command runs.
#pragma once

namespace duel::cli {

// OpenMP's wait policy. libgomp's default lets an idle thread spin for a while before it sleeps;
// on a machine whose cores are busy with other work, a spinning thread takes a core from the
// thread it is waiting for, and a 2-thread step measured 3.4x slower than a 1-thread step. duel
// therefore runs with OMP_WAIT_POLICY=passive (docs/benchmarks.md has the measurements). libgomp
// reads the variable once, when it loads, so when it is unset this re-executes the program with
// it set (same arguments; nothing has run yet). A value the user set, or GOMP_SPINCOUNT, is kept.
void prepare_runtime(int argc, char** argv);

}  // namespace duel::cli
