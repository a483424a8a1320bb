// The emulator's context switch (kernels/cuda/emulate.h) on x86-64: saves the callee-saved
// registers and the stack pointer of the running fiber, and resumes another. About a hundred
// times cheaper than swapcontext, which makes two system calls (the signal mask) per switch;
// kernels that synchronise often switch millions of times.
// The SSE and x87 control words (rounding mode, exception masks) are not switched: every fiber
// of a thread runs with the thread's own, which no kernel changes. Saving and restoring them
// (stmxcsr/ldmxcsr, fnstcw/fldcw) took nine tenths of the switch's time.
#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".globl duel_emu_switch\n"
    ".type duel_emu_switch,@function\n"
    "duel_emu_switch:\n"  // (void** save_sp, void* next_sp)
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size duel_emu_switch, .-duel_emu_switch\n"
    ".section .note.GNU-stack,\"\",@progbits\n"
    ".text\n");
#endif

