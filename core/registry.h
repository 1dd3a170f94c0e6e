// Typed factories from a recipe's `type:` name to a built component. Filled only by the
// explicit register_all() (cli/register_all.cpp): static self-registration is dropped when
// linking static libraries.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/options.h"

namespace zoo {

template <class Product, class... Args>
class Factory {
 public:
  explicit Factory(std::string kind) : kind_(std::move(kind)) {}

  template <class Opts>
  void add(const std::string& name, const std::string& help,
           std::function<Product(const Opts&, Args...)> build) {
    Catalog::add(kind_, {name, help, [] { return std::shared_ptr<OptionsBase>(std::make_shared<Opts>()); }});
    builders_[name] = [build](const OptionsBase& options, Args... args) {
      return build(dynamic_cast<const Opts&>(options), std::forward<Args>(args)...);
    };
  }

  Product build(const Component& component, Args... args) const {
    auto it = builders_.find(component.type);
    if (it == builders_.end())
      throw std::logic_error("no " + kind_ + " registered as '" + component.type + "'");
    return it->second(*component.options, std::forward<Args>(args)...);
  }

  bool has(const std::string& name) const { return builders_.count(name) > 0; }
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  std::map<std::string, std::function<Product(const OptionsBase&, Args...)>> builders_;
};

}  // namespace zoo
