// Classification and tagging metrics from one confusion matrix: accuracy, per-class and macro F1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zoo::eval {

// Label positions whose truth is this are padding, not examples (tagging batches).
inline constexpr int64_t kIgnoreLabel = -100;

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t num_classes);

  // Throws std::invalid_argument for an id outside 0..num_classes-1.
  void add(int64_t truth, int64_t predicted);
  // Pairs whose truth is kIgnoreLabel are skipped.
  void add(const std::vector<int64_t>& truth, const std::vector<int64_t>& predicted);

  int64_t count(int64_t truth, int64_t predicted) const;
  int64_t total() const { return total_; }
  int64_t num_classes() const { return num_classes_; }

  double accuracy() const;
  // F1 of each class; 0 for a class with no true positive.
  std::vector<double> f1_per_class() const;
  // Mean F1 over the classes that occur in the truth or the predictions.
  double macro_f1() const;
  // Rows are the truth, columns the prediction, aligned under the labels.
  std::string format(const std::vector<std::string>& labels) const;

 private:
  size_t index(int64_t truth, int64_t predicted, const char* caller) const;  // checked

  int64_t num_classes_;
  int64_t total_ = 0;
  std::vector<int64_t> counts_;  // row-major (truth, predicted)
};

}  // namespace zoo::eval
