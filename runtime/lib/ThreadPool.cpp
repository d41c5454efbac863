//===- ThreadPool.cpp - the persistent worker pool of libattnrt -----------===//
#include "runtime/lib/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <exception>

#if defined(__linux__)
#include <sched.h>
#endif

namespace attn::rt {

/// One running parallel loop. Lives on the stack of the thread that called
/// parallelFor, which does not return before every helper has left it.
struct ThreadPool::Loop {
  LoopBody body;
  void *context;
  int64_t numIterations;
  int64_t chunkSize;
  std::atomic<int64_t> next{0};
  std::atomic<bool> stop{false};
  int helpersWanted = 0; ///< guarded by ThreadPool::mutex
  int activeHelpers = 0; ///< guarded by ThreadPool::mutex
};

ThreadPool &ThreadPool::global() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  workAvailable.notify_all();
  for (std::thread &worker : workers)
    if (worker.joinable())
      worker.join();
}

int ThreadPool::numWorkers() {
  std::lock_guard<std::mutex> lock(mutex);
  return static_cast<int>(workers.size());
}

void ThreadPool::growLocked(int count) {
  count = std::min(count, kMaxThreads - 1);
  while (static_cast<int>(workers.size()) < count) {
    try {
      workers.emplace_back([this] { workerMain(); });
    } catch (const std::exception &) {
      return; // No more threads: the loops run on the ones we have.
    }
  }
}

void ThreadPool::runChunks(Loop &loop) {
  while (!loop.stop.load(std::memory_order_relaxed)) {
    int64_t begin = loop.next.fetch_add(loop.chunkSize, std::memory_order_relaxed);
    if (begin >= loop.numIterations)
      return;
    int64_t end = std::min(begin + loop.chunkSize, loop.numIterations);
    if (!loop.body(loop.context, begin, end)) {
      loop.stop.store(true, std::memory_order_relaxed);
      return;
    }
  }
}

void ThreadPool::workerMain() {
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    workAvailable.wait(lock, [this] { return stopping || !loops.empty(); });
    if (stopping)
      return;
    Loop *loop = loops.front();
    if (--loop->helpersWanted <= 0)
      loops.pop_front();
    ++loop->activeHelpers;
    lock.unlock();
    runChunks(*loop);
    lock.lock();
    if (--loop->activeHelpers == 0)
      helperLeft.notify_all();
  }
}

void ThreadPool::parallelFor(int64_t numIterations, int64_t chunkSize,
                             int numThreads, LoopBody body, void *context) {
  if (numIterations <= 0)
    return;
  Loop loop;
  loop.body = body;
  loop.context = context;
  loop.numIterations = numIterations;
  loop.chunkSize = std::max<int64_t>(chunkSize, 1);
  int64_t numChunks = (numIterations + loop.chunkSize - 1) / loop.chunkSize;
  int64_t helpers = std::min<int64_t>(std::clamp(numThreads, 1, kMaxThreads) - 1,
                                      numChunks - 1);
  if (helpers > 0) {
    std::lock_guard<std::mutex> lock(mutex);
    growLocked(static_cast<int>(helpers));
    if (workers.empty() || stopping) {
      helpers = 0;
    } else {
      loop.helpersWanted = static_cast<int>(helpers);
      loops.push_back(&loop);
    }
  }
  if (helpers > 0)
    workAvailable.notify_all();

  runChunks(loop);

  if (helpers > 0) {
    std::unique_lock<std::mutex> lock(mutex);
    // No helper may join once the loop has left the queue; then wait for the
    // ones that did to finish their last chunk.
    auto it = std::find(loops.begin(), loops.end(), &loop);
    if (it != loops.end())
      loops.erase(it);
    helperLeft.wait(lock, [&] { return loop.activeHelpers == 0; });
  }
}

int defaultNumThreads() {
  if (const char *env = std::getenv("ATTN_NUM_THREADS")) {
    char *end = nullptr;
    errno = 0;
    long value = std::strtol(env, &end, 10);
    if (errno == 0 && end != env && *end == '\0' && value > 0)
      return static_cast<int>(std::min<long>(value, ThreadPool::kMaxThreads));
  }
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0)
      return std::min(count, ThreadPool::kMaxThreads);
  }
#endif
  unsigned count = std::thread::hardware_concurrency();
  return count == 0 ? 1 : static_cast<int>(std::min<unsigned>(count, ThreadPool::kMaxThreads));
}

} // namespace attn::rt
