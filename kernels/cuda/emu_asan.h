// AddressSanitizer and the emulator's fibers (kernels/cuda/emulate.h). ASan tracks one stack
// per thread; a switch to a fiber's stack must be announced to it (the sanitizer fiber API), or it
// takes the fiber's frames for wild stack accesses, and overflows from one fiber's stack into the
// next would go unseen. Under ASan each fiber stack also gets a poisoned guard at its low end, so
// running off a stack is reported where it happens. Without ASan every function here is empty.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define DUEL_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DUEL_EMU_ASAN 1
#endif
#endif

#ifdef DUEL_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace duel::emu::asan {

#ifdef DUEL_EMU_ASAN
constexpr size_t kGuard = 4096;  // poisoned bytes at the low end of each fiber stack
#else
constexpr size_t kGuard = 0;
#endif

// About to switch to the stack [bottom, bottom + size); *fake_save keeps this side's fake stack
// (nullptr when this side will never be resumed: a finished fiber).
inline void leaving(void** fake_save, const void* bottom, size_t size) {
#ifdef DUEL_EMU_ASAN
  __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
  (void)fake_save, (void)bottom, (void)size;
#endif
}

// Just switched back in; `fake` is what leaving() saved; the stack switched away from is
// reported in *from_bottom / *from_size (may be null).
inline void arrived(void* fake, const void** from_bottom, size_t* from_size) {
#ifdef DUEL_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, from_bottom, from_size);
#else
  (void)fake, (void)from_bottom, (void)from_size;
#endif
}

inline void poison_guard(char* stack) {
#ifdef DUEL_EMU_ASAN
  ASAN_POISON_MEMORY_REGION(stack, kGuard);
#else
  (void)stack;
#endif
}

inline void unpoison(char* stacks, size_t bytes) {
#ifdef DUEL_EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(stacks, bytes);
#else
  (void)stacks, (void)bytes;
#endif
}

}  // namespace duel::emu::asan
