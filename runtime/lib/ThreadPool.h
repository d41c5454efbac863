//===- ThreadPool.h - the persistent worker pool of libattnrt ---*- C++ -*-===//
//
// One process-wide pool of worker threads, created on first use and grown on
// demand, that runs parallel loops with dynamic scheduling: the iteration
// space is cut into chunks handed out by an atomic counter, so uneven work
// (causal or windowed rows) balances itself. The calling thread takes part.
// Several threads may run loops at the same time; each loop has its own
// counter, and idle workers join whichever loop still wants helpers.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_RUNTIME_LIB_THREADPOOL_H
#define ATTNC_RUNTIME_LIB_THREADPOOL_H

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace attn::rt {

/// The body of a parallel loop: runs iterations [begin, end). Returns false
/// to ask the loop to stop handing out further chunks (e.g. on an error).
using LoopBody = bool (*)(void *context, int64_t begin, int64_t end);

class ThreadPool {
public:
  /// The process-wide pool (created on first use, never destroyed before
  /// exit: its workers are joined by the destructor at exit).
  static ThreadPool &global();

  /// Upper bound on the threads one loop may use (caller included).
  static constexpr int kMaxThreads = 256;

  ThreadPool() = default;
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;
  ~ThreadPool();

  /// Runs `body(context, begin, end)` over [0, numIterations) in chunks of
  /// `chunkSize` iterations on at most `numThreads` threads (the caller is one
  /// of them), and returns when every chunk has run or the loop was stopped.
  /// Never throws: if workers cannot be created the caller does the work.
  void parallelFor(int64_t numIterations, int64_t chunkSize, int numThreads,
                   LoopBody body, void *context);

  /// The number of worker threads created so far (for tests).
  int numWorkers();

private:
  struct Loop;

  /// Makes sure at least `count` workers exist (best effort). Needs `mutex`.
  void growLocked(int count);
  void workerMain();
  static void runChunks(Loop &loop);

  std::mutex mutex;
  std::condition_variable workAvailable; ///< a loop wants helpers, or stop
  std::condition_variable helperLeft;    ///< a helper finished its loop
  std::deque<Loop *> loops;              ///< loops that still want helpers
  std::vector<std::thread> workers;
  bool stopping = false;
};

/// The default thread count: ATTN_NUM_THREADS if it is set to a positive
/// integer, else the number of CPUs this process may run on.
int defaultNumThreads();

} // namespace attn::rt

#endif // ATTNC_RUNTIME_LIB_THREADPOOL_H
