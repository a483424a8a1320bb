// The emulated device's stream: where kernel launches and copies go, and its model of CUDA graph
// capture and replay. Plain C++ (no CUDA names, none of emulate.h's macros), so core/ can use it.
//
// A launch or copy on the emulated stream either runs at once (the emulator is synchronous) or,
// while a capture is open, is appended to the graph instead of running: a kernel node keeps the
// kernel, its grid and block and a copy of its arguments, taken when it was captured, as
// cudaStreamBeginCapture does with kernel parameters. Replaying a graph runs its nodes in order
// and nothing else: no host code of the step runs again. So a value that host code baked into a
// kernel's arguments (a step count, a random offset, a pointer to a tensor of the moment) stays
// what it was at capture, exactly as on a GPU, and a training run replayed from a graph differs
// from the eager run wherever a step did that (tests/test_cuda_graph.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace duel::emu {

// One operation of a captured graph.
struct GraphNode {
  std::string name;       // the launcher's kernel name, or "memcpy"
  bool kernel = false;    // a kernel launch (else a copy)
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  std::function<void()> run;  // the launch or copy with its captured arguments
};

struct Graph {
  std::vector<GraphNode> nodes;
  int64_t kernel_nodes() const;
};

// Opens a capture on the emulated stream; throws std::logic_error if one is open already.
void begin_capture();
// Closes it and returns what was recorded; throws std::logic_error if none is open.
Graph end_capture();
bool capturing();
// Runs every node of `g` in order (a cudaGraphLaunch); throws if a capture is open.
void replay(const Graph& g);

// A kernel launch on the emulated stream: runs `op` now, or records it while capturing.
void submit_kernel(const char* name, const unsigned grid[3], const unsigned block[3],
                   std::function<void()> op);
// A copy on the emulated stream (device to device, or host to device from pinned memory):
// `bytes` from src to dst now, or recorded while capturing (the source is read at replay).
void submit_copy(void* dst, const void* src, size_t bytes);

// Kernel launches made or recorded since the start of the process (replays not included), in
// all and by the launcher's name.
int64_t kernel_launches();
std::map<std::string, int64_t> kernel_launches_by_name();

// Dry runs (benchmarks of the host's side of a step): kernels are counted and recorded but not
// run, live or replayed; copies still happen. Results are garbage, so only code that never reads
// the device (a graph-ready training step) may run dry.
void set_dry_run(bool on);
bool dry_run();

// The order in which the blocks of a grid run: a GPU promises none, so a kernel must not
// depend on it; tests run kernels both ways to show that one does not.
enum class BlockOrder { forward, reverse };
void set_block_order(BlockOrder order);
BlockOrder block_order();

}  // namespace duel::emu
