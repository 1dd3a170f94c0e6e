// Element-wise CPU loops of our own (the fused LSTM's gate passes, hash dropout, FusedAdamW) are
// built for baseline x86-64, for AVX2 (x86-64-v3) and for AVX-512 (x86-64-v4), and the loader
// picks the widest the CPU has, so one binary runs anywhere and uses what it finds. The files
// that hold them are compiled with -fno-math-errno -fno-trapping-math (CMakeLists.txt: nothing in
// torchzoo reads errno after maths or enables floating-point traps), without which GCC keeps
// sqrt, floor and clamps scalar.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ZOO_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ZOO_VECTOR_CLONES
#endif
