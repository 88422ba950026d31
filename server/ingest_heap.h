// RetainFreedHeapForIngest: keeps freed heap memory mapped in the process
// instead of handing it back to the kernel after every free.
//
// Why: gRPC receives each read into fresh 64 KiB slices from malloc and
// frees them once the TLS layer decrypted them. With glibc's default
// (dynamic) trim threshold an arena's top is returned to the kernel
// (madvise / brk) whenever enough of it is free, so the next reads fault
// in new, zeroed pages: with 100 MB uploads over mutual TLS that was 10-20%
// of the coordinator's CPU (bench/README.md, `ingest_bench`).
//
// Guarantees: freed memory up to kRetainedHeapBytes per malloc arena stays
// mapped and is reused. Setting a trim threshold turns off glibc's dynamic
// mmap threshold, so the mmap threshold is pinned at 32 MiB, the most the
// dynamic rule would have raised it to: blocks above it (model and upload
// buffers of 100 MB) are mapped and unmapped as before. Resident memory may
// stay up to kRetainedHeapBytes above current use per arena after a burst.
// Process-wide (glibc mallopt); a no-op on other C libraries. Call once,
// early in main().
#ifndef FEDLEARN_SERVER_INGEST_HEAP_H_
#define FEDLEARN_SERVER_INGEST_HEAP_H_

#include <cstddef>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fedlearn {

inline constexpr size_t kRetainedHeapBytes = size_t{128} << 20;
inline constexpr size_t kMmapThresholdBytes = size_t{32} << 20;

inline void RetainFreedHeapForIngest() {
#if defined(__GLIBC__)
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(kRetainedHeapBytes));
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes));
#endif
}

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_INGEST_HEAP_H_
