// The emulated stream and its graph capture and replay (kernels/cuda/emu_graph.h).
#include <cstring>
#include <stdexcept>
#include <utility>

#include "kernels/cuda/emu_graph.h"

namespace duel::emu {

namespace {

Graph* g_capture = nullptr;  // the graph being captured, or null
Graph g_capture_storage;
int64_t g_kernel_launches = 0;
std::map<const char*, int64_t> g_launches_by_name;  // keyed by the launcher's name literal
BlockOrder g_block_order = BlockOrder::forward;
bool g_dry_run = false;

}  // namespace

int64_t Graph::kernel_nodes() const {
  int64_t n = 0;
  for (const GraphNode& node : nodes) n += node.kernel;
  return n;
}

void begin_capture() {
  if (g_capture) throw std::logic_error("emulated CUDA stream: a graph capture is open already");
  g_capture_storage = Graph{};
  g_capture = &g_capture_storage;
}

Graph end_capture() {
  if (!g_capture) throw std::logic_error("emulated CUDA stream: no graph capture is open");
  g_capture = nullptr;
  return std::move(g_capture_storage);
}

bool capturing() { return g_capture != nullptr; }

void replay(const Graph& g) {
  if (g_capture) throw std::logic_error("emulated CUDA stream: a graph launched while a capture is open");
  for (const GraphNode& node : g.nodes)
    if (!(g_dry_run && node.kernel)) node.run();
}

void submit_kernel(const char* name, const unsigned grid[3], const unsigned block[3],
                   std::function<void()> op) {
  ++g_kernel_launches;
  ++g_launches_by_name[name];
  if (!g_capture) {
    if (!g_dry_run) op();
    return;
  }
  GraphNode node;
  node.name = name;
  node.kernel = true;
  for (int i = 0; i < 3; ++i) {
    node.grid[i] = grid[i];
    node.block[i] = block[i];
  }
  node.run = std::move(op);
  g_capture->nodes.push_back(std::move(node));
}

void submit_copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (!g_capture) {
    std::memmove(dst, src, bytes);
    return;
  }
  GraphNode node;
  node.name = "memcpy";
  node.run = [dst, src, bytes] { std::memmove(dst, src, bytes); };
  g_capture->nodes.push_back(std::move(node));
}

int64_t kernel_launches() { return g_kernel_launches; }

std::map<std::string, int64_t> kernel_launches_by_name() {
  std::map<std::string, int64_t> out;
  for (const auto& [name, n] : g_launches_by_name) out[name] += n;
  return out;
}

void set_dry_run(bool on) { g_dry_run = on; }
bool dry_run() { return g_dry_run; }

void set_block_order(BlockOrder order) { g_block_order = order; }
BlockOrder block_order() { return g_block_order; }

}  // namespace duel::emu
