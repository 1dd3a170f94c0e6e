#include "export/torchscript.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <cctype>
#include <filesystem>

#include "core/error.h"

namespace zoo::exporting {
namespace {

// "torch::nn::EmbeddingImpl" -> "Embedding": a TorchScript class name is a Python identifier.
std::string class_name_of(const torch::nn::Module& module) {
  std::string name = module.name();
  if (auto colon = name.rfind("::"); colon != std::string::npos) name = name.substr(colon + 2);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) name.resize(name.size() - 4);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

// Registers `from`'s own parameters and buffers on `to`, and a mirrored submodule per child.
void mirror(const torch::nn::Module& from, torch::jit::Module& to, const std::shared_ptr<torch::jit::CompilationUnit>& unit) {
  for (const auto& item : from.named_parameters(/*recurse=*/false)) to.register_parameter(item.key(), item.value(), false);
  for (const auto& item : from.named_buffers(/*recurse=*/false)) to.register_buffer(item.key(), item.value());
  for (const auto& child : from.named_children()) {
    torch::jit::Module sub(c10::QualifiedName("__torch__.zoo." + class_name_of(*child.value())), unit, /*shouldMangle=*/true);
    mirror(*child.value(), sub, unit);
    to.register_module(child.key(), sub);
  }
}

}  // namespace

torch::jit::Module trace_module(torch::nn::Module& module, const std::string& class_name,
                                const std::vector<TracedMethod>& methods, const std::string& source) {
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module traced(c10::QualifiedName("__torch__.zoo." + class_name), unit, /*shouldMangle=*/true);
  mirror(module, traced, unit);

  // The tracer records a parameter as an attribute read only when it needs no gradient here.
  torch::NoGradGuard no_grad;
  std::vector<bool> requires_grad;
  for (auto& p : module.parameters()) {
    requires_grad.push_back(p.requires_grad());
    p.set_requires_grad(false);
  }
  for (const auto& method : methods) {
    torch::jit::Stack inputs(method.example_inputs.begin(), method.example_inputs.end());
    auto fn = [&](torch::jit::Stack stack) -> torch::jit::Stack {
      std::vector<torch::Tensor> tensors;
      for (auto& value : stack) tensors.push_back(value.toTensor());
      if (!method.tuple_fn) return {method.fn(tensors)};
      auto outputs = method.tuple_fn(tensors);
      return {c10::ivalue::Tuple::create(std::vector<c10::IValue>(outputs.begin(), outputs.end()))};
    };
    auto state = torch::jit::tracer::trace(std::move(inputs), fn, [](const torch::autograd::Variable&) { return ""; },
                                           /*strict=*/false, /*force_outplace=*/false, &traced)
                     .first;
    auto function = unit->create_function(c10::QualifiedName(*traced.type()->name(), method.name), state->graph);
    traced.type()->addMethod(function);
  }
  size_t i = 0;
  for (auto& p : module.parameters()) p.set_requires_grad(requires_grad[i++]);
  if (!source.empty()) traced.define(source);
  return traced;
}

void save_archive(torch::jit::Module& module, const ExtraFiles& extra, const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  const std::string temporary = path + ".tmp";
  torch::jit::ExtraFilesMap files(extra.begin(), extra.end());
  module.save(temporary, files);
  fs::rename(temporary, path);
}

torch::jit::Module load_archive(const std::string& path, const std::vector<std::string>& wanted, ExtraFiles& extra,
                                const torch::Device& device) {
  torch::jit::ExtraFilesMap files;
  for (const auto& name : wanted) files[name] = "";
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, device, files);
  } catch (const c10::Error& e) {
    throw UserError(path + ": not a TorchScript archive torch::jit::load can read (" +
                    std::string(e.what_without_backtrace()).substr(0, 160) + ")");
  }
  extra.clear();
  for (const auto& [name, content] : files)
    if (!content.empty()) extra[name] = content;
  return module;
}

}  // namespace zoo::exporting
