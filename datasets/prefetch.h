// Training batches drawn one step ahead on a thread of their own, so that a step never waits for
// its data: while the step trains on batch k, the thread draws batch k + 1 and, for a CUDA run,
// copies it into pinned memory, which makes the step's non_blocking copy to the device an
// asynchronous one.
//
// The data position a checkpoint records is the one before the first batch not yet handed out,
// as if nothing had been drawn ahead: a resumed run draws the batches an uninterrupted one draws.
// Datasets draw with generators of their own, never torch's, so drawing on another thread moves
// no random stream the step uses. While a batch is being drawn the dataset is the thread's; the
// step may still read the dataset's validation and test splits, which drawing never touches.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "datasets/dataset.h"

namespace zoo::datasets {

// Each defined tensor into pinned (page-locked) host memory, for an asynchronous copy to a CUDA
// device.
template <class... Tensors>
void pin_memory(Tensors&... tensors) {
  ((tensors = tensors.defined() ? tensors.pin_memory() : tensors), ...);
}

template <class Batch>
class Prefetcher {
 public:
  using Draw = std::function<Batch(int64_t batch_size)>;
  using Prepare = std::function<void(Batch&)>;

  // draw(batch_size) takes the next training batch from dataset. For a run on a CUDA device,
  // pin(batch) runs on each drawn batch on the same thread (pinned memory pays only for copies to
  // a GPU). The thread starts with the first batch, so a run that only evaluates has none.
  Prefetcher(Dataset& dataset, Draw draw, const torch::Device& device, Prepare pin = {})
      : dataset_(dataset), draw_(std::move(draw)), prepare_(device.is_cuda() ? std::move(pin) : Prepare()) {}

  ~Prefetcher() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }

  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // The next training batch: the one drawn ahead if it is of this size (waiting for it if it is
  // still being drawn), else one drawn now. Then the thread starts on the one after. An error
  // drawing (a malformed file) is thrown here, on the step's thread.
  Batch next(int64_t batch_size) {
    if (!worker_.joinable()) worker_ = std::thread([this] { run(); });
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !drawing_; });
    std::optional<Batch> batch;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    if (ready_ && ready_size_ == batch_size) {
      batch = std::move(ready_);
    } else {
      if (ready_) dataset_.load_state(state_before_ready_);  // drawn for another size: draw it again
      batch = draw_(batch_size);
      if (prepare_) prepare_(*batch);
    }
    ready_.reset();
    ready_size_ = batch_size;
    drawing_ = true;
    lock.unlock();
    changed_.notify_all();
    return std::move(*batch);
  }

  // The dataset's position before the batch drawn ahead: what a checkpoint records. Waits for a
  // batch still being drawn (a checkpoint is rare; the step's thread never reads the position).
  std::string state() const {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !drawing_; });
    return ready_ || error_ ? state_before_ready_ : dataset_.state();
  }

  // Moves the dataset to `state` (a resumed run), dropping what was drawn ahead.
  void load_state(const std::string& state) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !drawing_; });
    ready_.reset();
    error_ = nullptr;
    dataset_.load_state(state);
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      changed_.wait(lock, [&] { return stopping_ || drawing_; });
      if (stopping_) return;
      const int64_t batch_size = ready_size_;
      state_before_ready_ = dataset_.state();  // here, not on the step's thread: it serialises a generator
      lock.unlock();
      std::optional<Batch> batch;
      std::exception_ptr error;
      try {
        batch = draw_(batch_size);
        if (prepare_) prepare_(*batch);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      ready_ = std::move(batch);
      error_ = error;
      drawing_ = false;
      changed_.notify_all();
    }
  }

  Dataset& dataset_;
  Draw draw_;
  Prepare prepare_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool drawing_ = false;   // the thread is drawing the batch after the last one handed out
  bool stopping_ = false;
  std::optional<Batch> ready_;
  std::exception_ptr error_;
  int64_t ready_size_ = 0;
  std::string state_before_ready_;
  std::thread worker_;
};

// A Prefetcher of data.next_train_batch(n), its batch type read from that function; pin(batch)
// pins a batch's tensors for a CUDA run.
template <class Data, class Pin>
auto prefetch_train_batches(Data& data, const torch::Device& device, Pin pin) {
  using Batch = decltype(data.next_train_batch(int64_t{1}));
  return std::make_unique<Prefetcher<Batch>>(
      data, [&data](int64_t batch_size) { return data.next_train_batch(batch_size); }, device, std::move(pin));
}

}  // namespace zoo::datasets
