#include "eval/classification.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace zoo::eval {

ConfusionMatrix::ConfusionMatrix(int64_t num_classes)
    : num_classes_(num_classes), counts_(static_cast<size_t>(num_classes * num_classes), 0) {
  if (num_classes <= 0)
    throw std::invalid_argument(fmt::format("ConfusionMatrix: num_classes is {}; it needs at least one class", num_classes));
}

void ConfusionMatrix::add(int64_t truth, int64_t predicted) {
  ++counts_[index(truth, predicted, "add")];
  ++total_;
}

void ConfusionMatrix::add(const std::vector<int64_t>& truth, const std::vector<int64_t>& predicted) {
  if (truth.size() != predicted.size())
    throw std::invalid_argument(
        fmt::format("ConfusionMatrix::add: {} labels but {} predictions", truth.size(), predicted.size()));
  for (size_t i = 0; i < truth.size(); ++i)
    if (truth[i] != kIgnoreLabel) add(truth[i], predicted[i]);
}

int64_t ConfusionMatrix::count(int64_t truth, int64_t predicted) const {
  return counts_[index(truth, predicted, "count")];
}

size_t ConfusionMatrix::index(int64_t truth, int64_t predicted, const char* caller) const {
  if (truth < 0 || truth >= num_classes_ || predicted < 0 || predicted >= num_classes_)
    throw std::invalid_argument(fmt::format("ConfusionMatrix::{}: label pair (truth {}, predicted {}) is outside classes 0..{}",
                                            caller, truth, predicted, num_classes_ - 1));
  return static_cast<size_t>(truth * num_classes_ + predicted);
}

double ConfusionMatrix::accuracy() const {
  int64_t correct = 0;
  for (int64_t c = 0; c < num_classes_; ++c) correct += count(c, c);
  return total_ > 0 ? static_cast<double>(correct) / static_cast<double>(total_) : 0.0;
}

std::vector<double> ConfusionMatrix::f1_per_class() const {
  std::vector<double> f1(static_cast<size_t>(num_classes_), 0.0);
  for (int64_t c = 0; c < num_classes_; ++c) {
    int64_t predicted = 0, actual = 0;
    for (int64_t other = 0; other < num_classes_; ++other) {
      predicted += count(other, c);
      actual += count(c, other);
    }
    // F1 = 2 tp / (2 tp + fp + fn) = 2 tp / (predicted + actual).
    if (count(c, c) > 0) f1[static_cast<size_t>(c)] = 2.0 * static_cast<double>(count(c, c)) / static_cast<double>(predicted + actual);
  }
  return f1;
}

double ConfusionMatrix::macro_f1() const {
  const auto f1 = f1_per_class();
  double sum = 0;
  int64_t present = 0;
  for (int64_t c = 0; c < num_classes_; ++c) {
    int64_t seen = 0;
    for (int64_t other = 0; other < num_classes_; ++other) seen += count(c, other) + count(other, c);
    if (seen == 0) continue;
    sum += f1[static_cast<size_t>(c)];
    ++present;
  }
  return present > 0 ? sum / static_cast<double>(present) : 0.0;
}

std::string ConfusionMatrix::format(const std::vector<std::string>& labels) const {
  if (static_cast<int64_t>(labels.size()) != num_classes_)
    throw std::invalid_argument(fmt::format("ConfusionMatrix::format: {} labels for {} classes", labels.size(), num_classes_));
  size_t width = 5;  // "truth"
  for (const auto& label : labels) width = std::max(width, label.size());
  for (int64_t v : counts_) width = std::max(width, std::to_string(v).size());
  std::string out = fmt::format("{:>{}}", "truth", width);
  for (const auto& label : labels) out += fmt::format(" {:>{}}", label, width);
  out += "\n";
  for (int64_t t = 0; t < num_classes_; ++t) {
    out += fmt::format("{:>{}}", labels[static_cast<size_t>(t)], width);
    for (int64_t p = 0; p < num_classes_; ++p) out += fmt::format(" {:>{}}", count(t, p), width);
    out += "\n";
  }
  return out;
}

}  // namespace zoo::eval
