// The emulator's context switch (kernels/cuda/emulate.h) on x86-64: saves the callee-saved
// registers, the SSE and x87 control words and the stack pointer of the running fiber, and
// resumes another. About a hundred times cheaper than swapcontext, which makes two system calls
// (the signal mask) per switch; kernels that synchronise often switch millions of times.
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
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
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
