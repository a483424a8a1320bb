// CPU memory for tensors: 64-byte aligned blocks, with freed large blocks kept for reuse.
//
// A training step allocates the same sizes every time. Without a cache, glibc returns large
// blocks to the kernel (munmap) and every new tensor pays page faults to touch fresh pages —
// seconds of system time per epoch. Blocks of at least 64 KiB are rounded up to a size class
// (2^k times 1, 1.25, 1.5 or 1.75: at most 25% slack) and kept on a free list per class, up to
// a total of DUEL_CPU_CACHE_MB (default 2048) megabytes; smaller blocks go straight to malloc.
#pragma once

#include <cstddef>
#include <string>

namespace duel {

// Throws duel::Error when out of memory or when `bytes` exceeds the machine's physical memory.
void* cpu_allocate(size_t bytes);
void cpu_release(void* p, size_t bytes);        // `bytes` as given to cpu_allocate
size_t cpu_cached_bytes();                      // held in the cache now
void cpu_empty_cache();                         // returns every cached block to the system
size_t cpu_memory_bytes();                      // physical memory of this machine
std::string bytes_text(double bytes);           // "1.5 GiB"

}  // namespace duel
