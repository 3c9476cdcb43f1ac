/* The phases of the mixed benchmark (see mixed.S), run in U-mode. Freestanding: no libc. */
#include <stdint.h>

typedef uint32_t u32;

#define FIB_N 24
#ifndef FIB_REPS
#define FIB_REPS 40
#endif
#define SORT_N 4096
#ifndef SORT_REPS
#define SORT_REPS 160
#endif
#ifndef CRC_REPS
#define CRC_REPS 85
#endif
#ifndef PAGE_ROUNDS
#define PAGE_ROUNDS 6000000
#endif
/* The page window mapped in mixed.S: 1024 pages from 0x40000000. */
#define WINDOW ((volatile u32 *)0x40000000u)
#define WINDOW_WORDS (1024u * 1024u)
/* 517 pages and two words: odd, so the walk meets all 1024 pages before it repeats one. */
#define PAGE_STRIDE_WORDS (517u * 1024u + 2u)

static u32 state = 0x2545f491u;
static u32 xorshift(void) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

__attribute__((noinline)) static u32 fib(u32 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static u32 words[SORT_N];

__attribute__((noinline)) static void sort(u32 *a, int lo, int hi) {
  while (lo < hi) {
    u32 pivot = a[(lo + hi) >> 1];
    int i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        u32 t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    /* Recurse into the smaller side, loop on the larger: the stack stays shallow. */
    if (j - lo < hi - i) {
      sort(a, lo, j);
      lo = i;
    } else {
      sort(a, i, hi);
      hi = j;
    }
  }
}

__attribute__((noinline)) static u32 crc32(const uint8_t *p, u32 n, u32 c) {
  c = ~c;
  while (n--) {
    c ^= *p++;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

__attribute__((noinline)) static u32 pages(u32 rounds, u32 h) {
  u32 at = 0;
  for (u32 r = 0; r < rounds; r++) {
    at = (at + PAGE_STRIDE_WORDS) & (WINDOW_WORDS - 1u);
    u32 v = WINDOW[at] + r;
    WINDOW[at] = v;
    h = (h ^ v) * 33u + 1u;
  }
  return h;
}

u32 mixed_main(void) {
  u32 h = 0x811c9dc5u;
  for (int i = 0; i < FIB_REPS; i++) h = h * 31u + fib(FIB_N);
  for (int i = 0; i < SORT_REPS; i++) {
    for (int k = 0; k < SORT_N; k++) words[k] = xorshift();
    sort(words, 0, SORT_N - 1);
    for (int k = 0; k < SORT_N; k += 64) h = h * 31u + words[k];
  }
  for (int i = 0; i < CRC_REPS; i++) h = crc32((const uint8_t *)words, sizeof words, h);
  return pages(PAGE_ROUNDS, h);
}
